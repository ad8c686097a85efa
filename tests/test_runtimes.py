"""The runtime registry: its entries, the checks made before any work, and what a session of each
PyTorch runtime times and records."""

import pytest
import torch
from conftest import VARIANTS

from rtbench.config import BenchConfig
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
        check_runtime("nope", CPU, BenchConfig())


def test_a_runtime_on_a_device_it_does_not_support():
    with pytest.raises(RuntimeUnavailable, match="runtime cuda-graphs runs on cuda, not cpu"):
        check_runtime("cuda-graphs", CPU, BenchConfig())


class NeedsAPackage(Runtime):
    name, label = "fancy", "Fancy Runtime"
    modules, extra = ("surely_not_an_installed_module",), "fancy"

    def prepare(self, built: BuiltModel) -> Session:
        raise AssertionError("never reached")


def test_a_missing_package_names_the_pip_extra():
    reason = NeedsAPackage().unavailable(CPU, BenchConfig())
    assert reason == (
        "runtime fancy needs the surely_not_an_installed_module package, which is not installed: "
        "pip install 'rtbench[fancy]'"
    )


def built(channels_last: bool = False, dtype: str = "fp32") -> BuiltModel:
    spec = VARIANTS["A"]
    cfg = BenchConfig(scope="encoder", size=64, channels_last=channels_last, dtype=dtype)
    model = build_model(spec, "encoder")
    return BuiltModel(spec, model, make_inputs(spec, "encoder", 64, 1), cfg, CPU)


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
    assert session.clock(session.step) > 0
