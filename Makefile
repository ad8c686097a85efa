# Two commands do all set-up on a fresh machine: `make bench` (main job) and `make test`.
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: setup bench test acceptance lint

# torch first, pinned to the CPU build that installs from local disk; a machine that already
# has torch (a CUDA build, say) keeps it, since the project only asks for torch>=2.3. The CPU
# runtimes' extras (ONNX Runtime, OpenVINO) come along so that their tests run everywhere.
setup:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) torch==2.13.0
	$(PIP) -e ".[dev,onnx,openvino]"

bench: setup
	$(PYTHON) -m rtbench compare all

test: setup
	$(PYTHON) -m pytest -q

# Verdicts on real timings (the gate catching injected slowdowns): meaningful on an idle machine
# only, so kept out of `make test`; CI runs it.
acceptance: setup
	$(PYTHON) -m pytest -q acceptance

lint: setup
	$(PYTHON) -m ruff check rtbench tests benchmarks acceptance
	$(PYTHON) -m ruff format --check rtbench tests benchmarks acceptance
