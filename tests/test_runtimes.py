"""The runtime registry: its entries, the checks made before any work, what a session of each
PyTorch runtime times and records, and the deployment runtimes through the CLI."""

import json
import math
import statistics
import time
from pathlib import Path

import pytest
import torch
from conftest import VARIANTS

from rtbench.config import RunConfig
from rtbench.models.build import build_model, make_inputs
from rtbench.runtimes import RUNTIMES, BuiltModel, RuntimeUnavailable, check_runtime, runtime_label
from rtbench.runtimes.base import Runtime, Session

CPU = torch.device("cpu")


def test_every_entry_is_complete():
    for name, runtime in RUNTIMES.items():
        assert runtime.name == name and runtime.label
        assert set(runtime.devices) <= {"cpu", "cuda"} and runtime.devices
        assert (runtime.extra is None) == (not runtime.modules)  # a module to install has an extra


def test_labels_and_unknown_names():
    assert runtime_label("eager") == "PyTorch eager"
    assert runtime_label("from-the-future") == "from-the-future"  # a newer file still renders
    with pytest.raises(RuntimeUnavailable, match="unknown runtime 'nope'; choose from eager"):
        check_runtime("nope", CPU, RunConfig())


def test_a_runtime_on_a_device_it_does_not_support():
    with pytest.raises(RuntimeUnavailable, match="runtime cuda-graphs runs on cuda, not cpu"):
        check_runtime("cuda-graphs", CPU, RunConfig())


class NeedsAPackage(Runtime):
    name, label = "fancy", "Fancy Runtime"
    modules, extra = ("surely_not_an_installed_module",), "fancy"

    def prepare(self, built: BuiltModel) -> Session:
        raise AssertionError("never reached")


def test_a_missing_package_names_the_pip_extra():
    reason = NeedsAPackage().unavailable(CPU, RunConfig())
    assert reason == (
        "runtime fancy needs the surely_not_an_installed_module package, which is not installed: "
        "pip install 'rtbench[fancy]'"
    )


def built(channels_last: bool = False, dtype: str = "fp32") -> BuiltModel:
    spec = VARIANTS["A"]
    cfg = RunConfig(scope="encoder", size=64, channels_last=channels_last, dtype=dtype)
    model = build_model(spec, "encoder")
    return BuiltModel(spec, model, make_inputs(spec, "encoder", 64, 1), cfg, CPU, Path("unused"))


@pytest.mark.parametrize(("channels_last", "dtype"), [(False, "fp32"), (True, "bf16")])
def test_eager_session_runs_the_model_as_configured(channels_last, dtype):
    target = built(channels_last, dtype)
    expected = [t.float() for t in target.model(target.inputs)]
    session = RUNTIMES["eager"].prepare(target)
    out = session.step()
    assert [t.dtype for t in out] == [torch.float32 if dtype == "fp32" else torch.bfloat16] * 3
    assert torch.is_inference(out[0])  # inference_mode, not just no_grad
    tolerance = 1e-5 if dtype == "fp32" else 0.1
    for a, b in zip(out, expected, strict=True):
        torch.testing.assert_close(a.float(), b, rtol=tolerance, atol=tolerance)
    assert session.settings == {"version": torch.__version__,
                                "autocast": None if dtype == "fp32" else dtype,
                                "channels_last": channels_last}  # fmt: skip
    # The clock reads the call's wall time: at least a known sleep, at most the time measured
    # around it from outside.
    for call, at_least_ms in ((lambda: time.sleep(0.03), 30.0), (session.step, 0.0)):
        started = time.perf_counter()
        ms = session.clock(call)
        assert at_least_ms <= ms <= (time.perf_counter() - started) * 1e3


# ------------------------------------------------------------------ deployment runtimes, end to end

FAST = ["--scope", "encoder", "--size", "64", "--iters", "3", "--warmup", "1", "--min-time",
        "0.05", "--device", "cpu"]  # fmt: skip


def invoke(*args):
    from typer.testing import CliRunner

    from rtbench.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_runtimes_side_by_side(tmp_path):
    result = invoke("compare", "A", "E", *FAST, "--runtime", "eager,onnxruntime,openvino",
                    "--results-dir", tmp_path, "--run-id", "three")  # fmt: skip
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "three"
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["config"]["runtimes"] == ["eager", "onnxruntime", "openvino"]
    rows = {(r["variant"], r["runtime"]): r for r in doc["rows"]}
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows.values())
    for runtime in ("onnxruntime", "openvino"):  # sizes come from the PyTorch model, once
        assert rows["E", runtime]["params"] == rows["E", "eager"]["params"]
        assert rows["E", runtime]["gmacs"] == rows["E", "eager"]["gmacs"]
        assert rows["E", runtime]["runtime_settings"]["agreement"]["ok"]
    ort_settings = rows["A", "onnxruntime"]["runtime_settings"]
    assert ort_settings["intra_op_threads"] == doc["environment"]["threads"]
    assert ort_settings["provider"] == "CPUExecutionProvider"
    ov_settings = rows["A", "openvino"]["runtime_settings"]
    assert ov_settings["precision_requested"] == "f32" == ov_settings["precision_used"]
    # Peak memory only where the runtime's own figure can be read: the process's for eager and
    # ONNX Runtime on the CPU; OpenVINO keeps an inference's memory from compile time: unknown.
    assert rows["A", "eager"]["peak_memory_bytes"] > 0
    assert rows["A", "onnxruntime"]["peak_memory_bytes"] is not None
    assert rows["A", "openvino"]["peak_memory_bytes"] is None
    # The second runtime reused the first one's export of the same variant.
    assert not rows["A", "onnxruntime"]["runtime_settings"]["export_cached"]
    assert rows["A", "openvino"]["runtime_settings"]["export_cached"]
    assert {"runtimes.csv", "runtimes.tex", "runtimes.png"} <= {p.name for p in run_dir.iterdir()}
    assert "Runtimes side by side" in result.output
    assert (tmp_path / ".cache" / "onnx").is_dir()  # exports stay inside the results folder


def test_openvino_records_the_precision_it_used(tmp_path):
    result = invoke("run", "-v", "A", *FAST, "--runtime", "openvino", "--dtype", "bf16",
                    "--results-dir", tmp_path, "--run-id", "bf16")  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "bf16" / "results.json").read_text())["rows"][0]
    assert row["runtime_settings"]["precision_requested"] == "bf16"
    used = row["runtime_settings"]["precision_used"]
    assert used in ("bf16", "f32")  # f32: a CPU without bf16 units
    warned = "bf16 was asked for but the runtime computed in f32" in result.output
    assert warned == (used == "f32")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "onnxruntime", "--dtype", "fp16"], "onnxruntime runs fp32 on the CPU"),
        (["--runtime", "tensorrt"], "runtime tensorrt"),
    ],
)
def test_runtime_refusals_come_before_any_work(tmp_path, args, message):
    result = invoke("run", "-v", "A", *FAST[:-2], *args, "--results-dir", tmp_path)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())


def test_openvino_runs_on_the_cpu_only():
    reason = RUNTIMES["openvino"].unavailable(torch.device("cuda"), RunConfig(device="cuda"))
    assert reason == "runtime openvino runs on cpu, not cuda"


def test_runtimes_command_lists_every_runtime():
    result = invoke("runtimes")
    assert result.exit_code == 0, result.output
    for name in RUNTIMES:
        assert name in result.output
    assert "cpu: ready" in result.output


def test_export_command(tmp_path):
    out = tmp_path / "models" / "A.onnx"
    result = invoke("export", "-v", "A", "--scope", "encoder", "--size", "64", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and "outputs agree with PyTorch's within rtol 0.001" in result.output
    assert invoke("export", "-v", "A", "--out", tmp_path).exit_code == 1  # a folder
    bad = invoke("export", "-v", "A", "--size", "100", "--out", out)
    assert bad.exit_code == 1 and "multiple of 32" in bad.output


def test_a_baseline_per_runtime_gates(tmp_path):
    base = tmp_path / "ort.json"
    made = invoke("baseline", "A", *FAST, "--runtime", "onnxruntime", "--runs", 3, "--out", base,
                  "--history", tmp_path / "h.duckdb")  # fmt: skip
    if made.exit_code == 1:  # a tiny model's runs may spread too much to judge: kept aside
        assert "refused" in made.output
        base = tmp_path / "ort.refused.json"
    assert made.exit_code in (0, 1) and base.exists(), made.output
    doc = json.loads(base.read_text())
    assert [[(r["variant"], r["runtime"]) for r in run["rows"]] for run in doc["runs"]] == [
        [("A", "onnxruntime")]] * 3  # fmt: skip
    # Deterministic samples in place of the few measured, each run offset a little, then the
    # same runs with the row 1.5x slower: the gate matches it by runtime and fails it by 50%.
    samples = [1.0 + 0.01 * i for i in range(10)]
    for run, offset in zip(doc["runs"], (1.0, 1.02, 0.98), strict=True):
        run["rows"][0]["latency_normalized_samples"] = [offset * s for s in samples]
        run.pop("load", None)  # the runs' real load (a busy test machine) is no part of this
    base.write_text(json.dumps(doc))
    for run in doc["runs"]:
        run["rows"][0]["latency_normalized_samples"] = [
            1.5 * s for s in run["rows"][0]["latency_normalized_samples"]]  # fmt: skip
    current = tmp_path / "slower.json"
    current.write_text(json.dumps(doc))
    result = invoke("check", current, "--baseline", base, "--format", "json")
    assert result.exit_code == 1, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert (row["variant"], row["runtime"], row["verdict"]) == ("A", "onnxruntime", "slower")
    offsets = [math.log(o) for o in (1.0, 1.02, 0.98)]  # the change at the look that decided
    n = row["decided_at"]
    expected = 1.5 * math.exp(statistics.fmean(offsets[:n]) - statistics.fmean(offsets)) - 1
    assert row["vs_calibration"]["change"] == pytest.approx(expected)
