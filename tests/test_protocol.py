"""The latency protocol: the end-to-end path (pre- and post-processing restated independently),
paced calls, the machine's state (ISA, NVML's readings as parsed), honest precision, agreement
enforced, and the protocol card. What only a GPU can show (NVML live) is benchmarks/gpu_check.sh's.
"""

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.config import RunConfig, TimingPlan
from rtbench.export import ExportError
from rtbench.measure import machine
from rtbench.measure.pipeline import FRAME, end_to_end_step, make_frame, postprocess, preprocess
from rtbench.measure.protocol import protocol_record
from rtbench.measure.timing import Workload, measure_interleaved, wall_clock
from rtbench.models.build import build_model, make_inputs
from rtbench.runtimes import RUNTIMES, BuiltModel
from rtbench.runtimes.onnx_runtime import OnnxRuntime
from rtbench.runtimes.pytorch import emulated
from rtbench.spec import load_variants

VARIANTS = load_variants()
CPU = torch.device("cpu")


# ------------------------------------------------------------------ the end-to-end path


def test_preprocess_is_rt_detrs_val_transform():
    frame = make_frame(3, (48, 64))
    image = preprocess(frame, 32, batch=2)
    assert image.shape == (2, 3, 32, 32) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    # bilinear resize, restated: a constant frame stays constant, scaled to [0, 1]
    flat = np.full((48, 64, 3), 51, dtype=np.uint8)
    assert torch.allclose(preprocess(flat, 32, 1), torch.full((1, 3, 32, 32), 0.2))


def test_postprocess_matches_the_reference_postprocessor_restated():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 10, 4)).astype(np.float32)  # [B, Q, K]
    boxes = rng.uniform(0.2, 0.8, size=(2, 10, 4)).astype(np.float32)  # cxcywh, normalized
    labels, xyxy, scores = postprocess(torch.from_numpy(logits), torch.from_numpy(boxes),
                                       (100, 200), top=5)  # fmt: skip
    for b in range(2):
        # RT-DETR's post-processor in numpy: sigmoid, the top over queries x classes, label =
        # index mod K, query = index // K, cxcywh -> xyxy times (w, h, w, h)
        flat = 1 / (1 + np.exp(-logits[b].reshape(-1)))
        top = np.argsort(-flat, kind="stable")[:5]
        assert labels[b].tolist() == (top % 4).tolist()
        np.testing.assert_allclose(scores[b].numpy(), flat[top], rtol=1e-6)
        cx, cy, w, h = boxes[b][top // 4].T
        expected = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * [
            200,
            100,
            200,
            100,
        ]
        np.testing.assert_allclose(xyxy[b].numpy(), expected, rtol=1e-5)


def test_an_end_to_end_call_returns_detections_in_host_memory():
    spec = VARIANTS["A"]
    model = build_model(spec, "detector").eval()
    step = end_to_end_step(make_frame(0), 128, 1, CPU, lambda x: model(x))
    labels, boxes, scores = step()
    assert labels.shape == (1, 300) and boxes.shape == (1, 300, 4) and scores.shape == (1, 300)
    assert labels.device.type == "cpu" and int(labels.max()) < 80
    assert FRAME == (720, 1280) and float(boxes[..., 2].max()) > 128  # in the frame's pixels


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime", "openvino"])
def test_each_runtime_infers_a_new_input_as_its_timed_step_does(tmp_path, runtime):
    spec = VARIANTS["A"]
    cfg = RunConfig(scope="detector", size=128, device="cpu", runtimes=(runtime,))
    model = build_model(spec, "detector")
    inputs = make_inputs(spec, "detector", 128, 1)
    with torch.inference_mode():
        expected = model(inputs)
    session = RUNTIMES[runtime].prepare(BuiltModel(spec, model, inputs, cfg, CPU, tmp_path))
    logits, boxes = (torch.as_tensor(x) for x in session.infer(inputs.clone())[:2])
    # another executor (ONNX Runtime, OpenVINO) on the same image: PyTorch's outputs
    torch.testing.assert_close(boxes, expected[1], rtol=2e-3, atol=2e-3)
    assert logits.shape == expected[0].shape


# ------------------------------------------------------------------ pacing


def test_a_gap_sleeps_between_calls_untimed():
    plan = TimingPlan(warmup=1, iters=4, settle_window=1, settle_tolerance=10.0)
    started = time.monotonic()
    timed = measure_interleaved({"x": Workload(lambda: None, wall_clock())}, plan, gap_s=0.05)
    elapsed = time.monotonic() - started
    assert len(timed["x"].samples_ms) == 4 and max(timed["x"].samples_ms) < 20  # not in them
    assert elapsed >= (2 + 4) * 0.05  # at least two warm-up calls and four timed, each paced
    assert len(timed["x"].spans) == 4 and all(b >= a for a, b in timed["x"].spans)


def test_gap_is_a_sweep_dimension_and_names_its_points(tmp_path):
    from rtbench.sweep.grid import make_grid

    grid = make_grid({"variants": ("A",), "sizes": (64,), "gaps_ms": (0.0, 200.0),
                      "scope": "encoder", "device": "cpu"}, {}, "test")  # fmt: skip
    assert [p.id for p in grid.points] == ["s64-b1-fp32", "s64-b1-fp32-gap_ms200"]
    assert grid.config(grid.points[1]).gap_ms == 200.0 and grid.swept() == ("gap_ms",)


# ------------------------------------------------------------------ the machine's state

CPUINFO = "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse4_2 avx avx2 fma f16c\n"


def test_cpu_flags_and_native_precision_are_read_off_cpuinfo():
    flags = machine.cpu_flags(CPUINFO)
    assert {"avx2", "fma"} <= flags and "avx512_bf16" not in flags
    assert not machine.native("bf16", flags) and machine.native("fp32", flags)
    assert machine.native("bf16", flags | {"amx_bf16"}) and machine.native("fp16", {"avx512_fp16"})
    state = machine.cpu_state(flags)
    assert state["isa"] == ["avx", "avx2", "f16c", "fma", "sse4_2"]  # sorted
    assert state["native"] == {"bf16": False, "fp16": False}


def test_an_emulated_dtype_is_refused_in_one_line_saying_why():
    reason = emulated("bf16", machine.cpu_flags(CPUINFO))
    assert reason.startswith("--dtype bf16: this CPU has no bf16 units (AVX512_BF16 or AMX_BF16")
    assert "170x slower" in reason and "--allow-emulated" in reason
    assert emulated("bf16", {"avx2", "avx512_bf16"}) is None
    assert emulated("fp32", set()) is None


def test_the_cli_refuses_an_emulated_dtype_before_any_work(tmp_path):
    flags = machine.cpu_flags(Path("/proc/cpuinfo").read_text())
    if machine.native("fp16", flags):
        pytest.skip("this CPU computes fp16 natively: nothing to refuse")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["run", "-v", "A", "--dtype", "fp16", "--device", "cpu",
                                      "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1 and "this CPU has no fp16 units" in result.output
    assert time.monotonic() - started < 30 and not any(tmp_path.iterdir())


def test_nvml_readings_are_parsed_and_throttling_counted_per_row():
    assert machine.reasons(0x1 | 0x4 | 0x40) == ["gpu_idle", "sw_power_cap", "hw_thermal"]
    assert machine.throttled(0x4) and machine.throttled(0x20) and not machine.throttled(0x1)
    samples = [
        (1.0, 1980, 2619, 300.0, 60, 0x0),
        (2.0, 1500, 2619, 690.0, 83, 0x4),
        (3.0, 1410, 2619, 700.0, 87, 0x40 | 0x4),
        (4.0, 1980, 2619, 120.0, 70, 0x1),
    ]
    summary = machine.summarize_samples(samples)
    assert summary["throttled_samples"] == 2 and summary["samples"] == 4
    assert summary["sm_clock_mhz"] == {"min": 1410, "max": 1980}
    assert summary["reasons"] == {"sw_power_cap": 2, "hw_thermal": 1, "gpu_idle": 1}
    assert machine.throttled_during(samples, [(1.5, 2.5)]) == 1  # the row's calls: one sample
    assert machine.summarize_samples([]) is None


def test_no_gpu_no_nvml_record():
    assert machine.gpu_state(CPU) is None
    sampler = machine.GpuSampler(CPU).start()
    sampler.stop()
    assert not sampler.active and sampler.samples == []


def test_the_fingerprint_tells_machines_apart_and_the_gate_says_how():
    a = {"cpu_model": "AMD EPYC", "cpu": {"isa": ["avx2", "avx512_bf16"]}, "gpu": None}
    b = {"cpu_model": "AMD EPYC", "cpu": {"isa": ["avx2"]}, "gpu": None}
    versions = {"torch": "2.13.0"}
    assert machine.fingerprint(a, versions) != machine.fingerprint(b, versions)
    assert machine.fingerprint(a, versions) == machine.fingerprint(dict(a), dict(versions))

    def document(machine_state, torch_version, ort):
        return {
            "environment": {
                "cpu_model": "AMD EPYC",
                "torch": torch_version,
                "machine": machine_state,
            },
            "rows": [{"runtime": "onnxruntime", "runtime_settings": {"version": ort}}],
        }

    found = machine.machine_differences(
        document(a, "2.13.0", "1.32"), document(b, "2.12.0", "1.32")
    )
    assert dict((k, (x, y)) for k, x, y in found) == {
        "isa": (["avx2", "avx512_bf16"], ["avx2"]),
        "torch": ("2.13.0", "2.12.0"),
    }


# ------------------------------------------------------------------ agreement enforced


class Disagreeing(OnnxRuntime):
    """ONNX Runtime whose outputs, as the agreement check sees them, are off by half."""

    name = "disagreeing"

    def session(self, onnx_path, built):
        session, outputs = super().session(onnx_path, built)
        return session, lambda: [o * 1.5 for o in outputs()]


def test_a_graph_that_disagrees_with_pytorch_is_an_error_unless_allowed(tmp_path):
    spec = VARIANTS["A"]
    model = build_model(spec, "encoder")
    inputs = make_inputs(spec, "encoder", 64, 1)
    cfg = RunConfig(scope="encoder", size=64, device="cpu")
    with pytest.raises(ExportError, match=r"outputs differ from PyTorch's: max \|diff\|"):
        Disagreeing().prepare(BuiltModel(spec, model, inputs, cfg, CPU, tmp_path))
    allowed = cfg.with_(allow_mismatch=True)
    session = Disagreeing().prepare(BuiltModel(spec, model, inputs, allowed, CPU, tmp_path))
    assert session.settings["agreement"]["ok"] is False


# ------------------------------------------------------------------ the protocol card


def test_the_card_says_what_was_timed_from_where_to_where():
    environment = {
        "cpu_model": "Test CPU",
        "threads": 2,
        "torch": "2.13.0",
        "machine": {
            "cpu_model": "Test CPU",
            "cpu": {"isa": ["avx2"], "torch_capability": "AVX2", "governor": "performance"},
        },
    }
    rows = [{"runtime": "eager", "runtime_settings": {"version": "2.13.0"}}]
    detector = protocol_record(RunConfig(device="cpu", gap_ms=200.0), environment, rows, None)
    card = detector["card"]
    assert card.startswith("Forward latency: the detector alone, inputs already on cpu")
    assert "End-to-end latency: a 1280x720 uint8 frame in host memory" in card
    assert "200 ms of sleep between calls" in card and "runtimes: eager 2.13.0" in card
    assert "Test CPU (avx2; torch capability AVX2; governor performance)" in card
    encoder = protocol_record(RunConfig(scope="encoder", device="cpu"), environment, rows, None)
    assert encoder["end_to_end"] is None and "End-to-end" not in encoder["card"]
    assert "calls back to back" in encoder["card"]
