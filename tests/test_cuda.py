"""The CUDA paths, on a GPU only (`pytest -m cuda`; skipped elsewhere): CUDA events on the right
stream, autocast, channels-last, CUDA graph capture of the whole detector, GPU peak memory, the
environment capture, a run of every PyTorch runtime, and the gate on CUDA results.
benchmarks/gpu_check.sh runs these with the rest of the GPU acceptance."""

import copy

import pytest
import torch
from conftest import VARIANTS

from rtbench.config import RunConfig, TimingPlan
from rtbench.gate import compare
from rtbench.measure.env import capture_environment
from rtbench.measure.memory import torch_cuda_peak
from rtbench.measure.timing import cuda_event_clock
from rtbench.models.build import build_model, make_inputs
from rtbench.runner import run_benchmark
from rtbench.runtimes import RUNTIMES, BuiltModel

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
CUDA = torch.device("cuda")


def test_events_time_the_stream_they_are_recorded_on():
    side = torch.cuda.Stream()
    cycles = 50_000_000  # about 25-50 ms of GPU time

    def on_side():
        with torch.cuda.stream(side):
            torch.cuda._sleep(cycles)

    on_side_ms = cuda_event_clock(CUDA, side)(on_side)
    on_current_ms = cuda_event_clock(CUDA)(on_side)  # the work is elsewhere: nothing to see
    assert on_side_ms > 5.0 and on_current_ms < on_side_ms / 5


def test_peak_memory_sees_a_large_allocation():
    assert torch_cuda_peak(lambda: torch.empty(256 * 2**20, dtype=torch.uint8, device=CUDA),
                           CUDA) >= 256 * 2**20  # fmt: skip


def test_environment_names_the_gpu():
    env = capture_environment(CUDA)
    assert env["device_name"] == torch.cuda.get_device_name()
    assert env["gpu_memory_bytes"] > 0 and "gpu_driver" in env


def built(scope: str, size: int, **config) -> BuiltModel:
    spec = VARIANTS["E"]
    cfg = RunConfig(scope=scope, size=size, device="cuda", **config)
    model = build_model(spec, scope).to(CUDA)
    inputs = make_inputs(spec, scope, size, 1)
    inputs = [x.to(CUDA) for x in inputs] if isinstance(inputs, list) else inputs.to(CUDA)
    with torch.inference_mode():
        model(inputs)
    return BuiltModel(spec, model, inputs, cfg, CUDA, cache_dir=None)


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_autocast_and_channels_last_on_the_gpu(dtype):
    session = RUNTIMES["eager"].prepare(built("encoder", 128, dtype=dtype, channels_last=True))
    out = session.step()
    assert out[0].dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    assert session.peak_memory() > 0


def test_cuda_graph_of_the_whole_detector_replays_eager():
    # Top-k selection and the cached anchors must survive capture. Near-tied scores may order
    # the queries differently, so compare what does not depend on order: the best score of each
    # query, sorted, over the 250 best (the last few may swap with cells just outside the 300).
    target = built("detector", 640)
    with torch.inference_mode():
        expected, _ = target.model(target.inputs)
    session = RUNTIMES["cuda-graphs"].prepare(target)
    replayed, boxes = session.step()  # the graph's output buffers
    torch.cuda.synchronize()
    assert replayed.shape == (1, 300, 80) and torch.isfinite(boxes).all()

    def best(logits):
        return logits.max(-1).values.flatten().sort(descending=True).values[:250]

    torch.testing.assert_close(best(replayed), best(expected), rtol=1e-3, atol=1e-3)


def test_every_pytorch_runtime_runs_and_the_gate_reads_it():
    cfg = RunConfig(scope="encoder", size=128, device="cuda",
                      runtimes=("eager", "compile", "cuda-graphs"),
                      timing=TimingPlan(iters=10, min_time_s=0.2))  # fmt: skip
    specs = [VARIANTS["A"], VARIANTS["E"]]
    document = run_benchmark(specs, cfg)
    assert all(row["status"] == "ok" for row in document["rows"]), document["rows"]
    assert all(row["peak_memory_bytes"] is not None for row in document["rows"])
    # The gate reads every runtime's rows: three runs a side made of this one, each scaled by its
    # own offset (the same on both sides), and A's cuda-graphs row twice as slow in the current
    # runs: that row alone is slower, by exactly 2x; every other row did not move.
    slowed, offsets = ("A", "cuda-graphs"), (1.0, 1.01, 0.99)

    def runs(factor: float) -> list[dict]:
        out = []
        for offset in offsets:
            run = copy.deepcopy(document)
            for row in run["rows"]:
                scale = offset * (factor if (row["variant"], row["runtime"]) == slowed else 1.0)
                row["latency_normalized_samples"] = [
                    scale * x for x in row["latency_normalized_samples"]]  # fmt: skip
            out.append(run)
        return out

    report = compare(runs(1.0), runs(2.0))
    keys = [(v, r) for v in ("A", "E") for r in ("eager", "compile", "cuda-graphs")]
    assert {(r.variant, r.runtime): r.verdict for r in report.rows} == {
        key: "slower" if key == slowed else "same" for key in keys
    }
    factor = 2.0
    assert {(r.variant, r.runtime): r.change for r in report.rows} == {
        key: pytest.approx(factor - 1) if key == slowed else 0.0 for key in keys
    }
