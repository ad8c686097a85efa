"""The NVML sampler's loop, driven by a fake pynvml: what it reads, and how it stops when NVML is
missing, too old or failing (one warning, never a dead thread)."""

import sys
import threading
import types
import warnings
from types import SimpleNamespace

import pytest
import torch

from rtbench.measure import machine

CUDA = torch.device("cuda", 0)  # a name only: nothing here touches a GPU
UUID = "5c7e1f2a-0000-4000-8000-000000000001"
# What the fake GPU reports, sample by sample; the last values repeat from then on.
SM_MHZ = [1980, 1410, 1500]
MEM_MHZ = [2619, 2619, 1593]
POWER_MW = [300_000, 690_500, 120_250]
TEMP_C = [60, 87, 70]
MASKS = [0x0, 0x4 | 0x40, 0x1]  # none; power cap and hardware thermal (throttled); idle


class FakeNVMLError(Exception):
    pass


class FakeNotSupported(FakeNVMLError):
    pass


def fake_pynvml(served: threading.Event, fail_after: int | None = None) -> types.ModuleType:
    """A pynvml whose GPU reports the values above; `served` is set once all have been read.
    With `fail_after`, every query after that many samples raises, as a lost GPU does."""
    nvml = types.ModuleType("pynvml")
    nvml.NVML_CLOCK_SM, nvml.NVML_CLOCK_MEM, nvml.NVML_TEMPERATURE_GPU = 1, 2, 0
    nvml.NVMLError_NotSupported = FakeNotSupported
    handle = object()
    count = {"samples": 0}

    def reading(values):
        def read(h, *args):
            assert h is handle  # the handle found by the GPU's UUID
            if fail_after is not None and count["samples"] >= fail_after:
                raise FakeNVMLError("GPU is lost")
            return values[min(count["samples"], len(values) - 1)]

        return read

    def clock(h, kind):
        return reading({1: SM_MHZ, 2: MEM_MHZ}[kind])(h)

    def reasons(h):
        mask = reading(MASKS)(h)  # read last in a sample: the sample is complete
        count["samples"] += 1
        if count["samples"] >= len(MASKS):
            served.set()
        return mask

    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetHandleByUUID = lambda uuid: handle if uuid == f"GPU-{UUID}" else None
    nvml.nvmlDeviceGetHandleByIndex = lambda index: None
    nvml.nvmlDeviceGetClockInfo = clock
    nvml.nvmlDeviceGetPowerUsage = reading(POWER_MW)
    nvml.nvmlDeviceGetTemperature = lambda h, sensor: reading(TEMP_C)(h)
    nvml.nvmlDeviceGetCurrentClocksEventReasons = reasons
    return nvml


@pytest.fixture(autouse=True)
def fake_cuda(monkeypatch):
    """The CUDA device's properties as torch gives them, and a fast sampling loop."""
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(uuid=UUID))
    monkeypatch.setattr(machine, "SAMPLE_S", 0.001)


@pytest.fixture
def thread_errors(monkeypatch):
    """The exceptions that ended a thread while the test ran."""
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    return errors


def sample(served: threading.Event | None = None) -> tuple[machine.GpuSampler, list]:
    """Start a sampler on CUDA, let it read until `served`, stop it; and the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = machine.GpuSampler(CUDA).start()
        if served is not None:
            assert served.wait(10)
        sampler.stop()
    return sampler, caught


def test_the_sampler_records_what_nvml_reports(monkeypatch, thread_errors):
    served = threading.Event()
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(served))
    sampler, caught = sample(served)
    assert sampler.active and caught == [] and thread_errors == []
    n = len(sampler.samples)
    assert n >= 3  # the loop may take more samples before it sees stop()
    readings = [s[1:] for s in sampler.samples]
    assert readings[:3] == [(1980, 2619, 300.0, 60, 0x0), (1410, 2619, 690.5, 87, 0x44),
                            (1500, 1593, 120.25, 70, 0x1)]  # fmt: skip
    assert readings[3:] == [(1500, 1593, 120.25, 70, 0x1)] * (n - 3)
    times = [s[0] for s in sampler.samples]
    assert times == sorted(times)
    assert machine.summarize_samples(sampler.samples) == {
        "samples": n,
        "sm_clock_mhz": {"min": 1410, "max": 1980},
        "mem_clock_mhz": {"min": 1593, "max": 2619},
        "power_w": {"min": 120.25, "max": 690.5},
        "temperature_c": {"min": 60, "max": 87},
        "throttled_samples": 1,
        "reasons": {"sw_power_cap": 1, "hw_thermal": 1, "gpu_idle": n - 2},
    }


def test_a_query_the_gpu_does_not_answer_reads_none(monkeypatch, thread_errors):
    served = threading.Event()
    nvml = fake_pynvml(served)

    def no_power(h):
        raise FakeNotSupported("Not Supported")

    nvml.nvmlDeviceGetPowerUsage = no_power
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    sampler, caught = sample(served)
    assert caught == [] and thread_errors == []
    assert [s[3] for s in sampler.samples] == [None] * len(sampler.samples)
    assert [s[1] for s in sampler.samples[:3]] == SM_MHZ  # the other readings go on
    assert machine.summarize_samples(sampler.samples)["power_w"] is None


def test_without_pynvml_one_warning_and_no_sampling(monkeypatch, thread_errors):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    sampler, caught = sample()
    assert [w.category for w in caught] == [machine.NvmlWarning]
    message = str(caught[0].message)
    assert message.startswith("NVML sampling off (") and "rtbench[gpu] (nvidia-ml-py)" in message
    assert not sampler.active and sampler.samples == [] and thread_errors == []
    assert machine.gpu_state(CUDA) is None


def test_an_old_pynvml_one_warning_and_no_sampling(monkeypatch, thread_errors):
    nvml = fake_pynvml(threading.Event())
    del nvml.nvmlDeviceGetCurrentClocksEventReasons  # before nvidia-ml-py 12.535.77
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    sampler, caught = sample()
    assert [w.category for w in caught] == [machine.NvmlWarning]
    assert "nvmlDeviceGetCurrentClocksEventReasons" in str(caught[0].message)
    assert not sampler.active and sampler.samples == [] and thread_errors == []


def test_a_failing_nvml_one_warning_and_the_samples_before_it_kept(monkeypatch, thread_errors):
    served = threading.Event()  # never set: the fake fails before its last values
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(served, fail_after=2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = machine.GpuSampler(CUDA).start()
        sampler._thread.join(10)  # the loop ends by itself on the error
        assert not sampler._thread.is_alive()
        sampler.stop()
    assert [w.category for w in caught] == [machine.NvmlWarning]
    assert str(caught[0].message) == (
        "NVML sampling stopped after 2 samples (FakeNVMLError: GPU is lost)"
    )
    assert [s[1:] for s in sampler.samples] == [(1980, 2619, 300.0, 60, 0x0),
                                                (1410, 2619, 690.5, 87, 0x44)]  # fmt: skip
    assert thread_errors == []
