# Two commands do all set-up on a fresh machine: `make bench` (main job) and `make test`.
# Everything installs into a virtual environment of its own, made here when missing (no system
# site packages, so a package installed by hand elsewhere cannot hide a missing declaration);
# `make PYTHON=python3 test` uses a Python of your choice instead.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: setup chromium bench test acceptance lint schema gpu-wheels gpu-check slurm-check

# torch first, pinned to the CPU build that installs from local disk; a machine that already
# has torch (a CUDA build, say) keeps it, since the project only asks for torch>=2.3. The CPU
# runtimes' extras (ONNX Runtime, OpenVINO) come along so that their tests run everywhere, and
# NVML's bindings (`gpu`: pure Python, idle without a GPU) so that a CUDA machine samples clocks.
setup:
	@command -v $(PYTHON) >/dev/null 2>&1 || python3 -m venv $(VENV)
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) torch==2.13.0
	$(PIP) -e ".[dev,onnx,openvino,gpu]"

bench: setup
	$(PYTHON) -m rtbench compare all

# The HTML test drives Debian's chromium through playwright (no browser download): installed here
# when missing and we are root with apt-get (CI is); elsewhere that test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null) || echo "chromium not installed (needs root and apt-get): the browser test skips"; }

# A worker per core (pytest-xdist); a file's tests share a worker, so a module's fixture (a
# baseline measured in processes) is built once. 2 cores: 107-139 s by the host's hour (about
# 230 s of CPU), against 174-203 s in one process.
test: setup chromium
	$(PYTHON) -m pytest -q -n auto --dist loadfile

# Verdicts on real timings (the gate catching injected slowdowns), kept out of `make test`; CI runs
# it. A test that a slowdown is caught never skips; only "unchanged code passes" may, on a busy
# machine, saying why (-rs prints it).
acceptance: setup
	$(PYTHON) -m pytest -q -rs acceptance

# ruff, and the import contract in pyproject.toml: imports only go down, no cycle inside a part.
lint: setup
	$(PYTHON) -m ruff check rtbench tests benchmarks acceptance
	$(PYTHON) -m ruff format --check rtbench tests benchmarks acceptance
	PATH="$(dir $(abspath $(PYTHON))):$$PATH" lint-imports

# docs/results.schema.json, written from the results models (a test checks it is up to date).
schema: setup
	$(PYTHON) -c "import json; from rtbench.results import json_schema; \
	print(json.dumps(json_schema(), indent=2, sort_keys=True))" > docs/results.schema.json

# The packages a GPU machine without a package registry lacks (pure Python, a few hundred KB),
# as wheels in .whl/ (ignored by git) for benchmarks/gpu_check.sh to install privately.
# duckdb (the history that baseline and check record into) is a binary wheel (25 MB): the one of
# the GPU machine's Python, 3.12 on x86_64.
GPU_WHEELS = fvcore==0.1.5.post20221221 iopath==0.1.10 yacs==0.1.8 termcolor==3.3.0 submitit==1.5.4 \
  nvidia-ml-py==13.615.71
GPU_BINARY_WHEELS = duckdb==2.0.1
gpu-wheels:
	$(PYTHON) -m pip wheel --quiet --no-deps -w .whl $(GPU_WHEELS)
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  -d .whl $(GPU_BINARY_WHEELS)

# Every CUDA path in one go (tests marked cuda, each dtype and runtime, the gate on CUDA); results
# in $$OUT (a temporary folder when unset). On a CPU: bash benchmarks/gpu_check.sh --device cpu.
gpu-check:
	PYTHON=$(PYTHON) bash benchmarks/gpu_check.sh

# `rtbench sweep --executor slurm` on a real SLURM (Debian's 22.05): installs what is missing
# (apt, as root), starts a one-node cluster on this machine from a temporary folder, sweeps through
# it (a job array, a cancelled point and --resume, a refused --resume), stops it. CI runs it; it
# needs rtbench's dependencies (make setup).
slurm-check:
	PYTHON=$(PYTHON) bash benchmarks/slurm_check.sh
