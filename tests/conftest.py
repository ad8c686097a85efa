"""Shared test helpers: parameter counts restated from layer shapes (independent of rtbench's
counting), norm randomization, and the variants."""

import os
import signal

import pytest
import torch
from torch import nn

from rtbench.models.blocks import FrozenBatchNorm2d
from rtbench.spec import load_variants

SPECS = load_variants()
VARIANTS = {name: spec for name, spec in SPECS.items() if not spec.group}  # Table 3's rows
FAMILY = {name: spec for name, spec in SPECS.items() if spec.group == "family"}


@pytest.fixture(scope="session", autouse=True)
def _history_elsewhere(tmp_path_factory):
    """Commands that record runs (baseline, check) write into a temporary history, never into
    the repository's results/history.duckdb."""
    os.environ["RTBENCH_HISTORY"] = str(tmp_path_factory.mktemp("history") / "history.duckdb")


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_is_a_keyboard_interrupt():
    """A shell starts a background job with SIGINT ignored, and Python then leaves it ignored:
    the tests of Ctrl-C (one would wait for ever) need Python's handler, as at a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# `make test` runs the suite in a worker per core (pytest-xdist): each takes its share of the
# cores, since threads beyond them wait on each other (OpenMP spins) and slow every worker down
THREADS = max(
    1, min(2, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 1)))
)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(THREADS)  # 2 alone (the CI machine's cores): predictable timings


def conv_norm(c_in: int, c_out: int, k: int) -> int:
    """Conv2d without bias + BatchNorm2d (weight and bias)."""
    return k * k * c_in * c_out + 2 * c_out


def linear(c_in: int, c_out: int) -> int:
    return c_in * c_out + c_out


def mlp(*dims: int) -> int:
    return sum(linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))


def transformer_layer(d: int = 256, ffn: int = 1024) -> int:
    attention = 3 * d * d + 3 * d + linear(d, d)  # in_proj (q, k, v) + out_proj
    return attention + linear(d, ffn) + linear(ffn, d) + 2 * 2 * d  # two LayerNorms


def repvgg(c: int) -> int:
    return conv_norm(c, c, 3) + conv_norm(c, c, 1)


def csprep(c_in: int, c: int, depth: int = 3) -> int:
    return 2 * conv_norm(c_in, c, 1) + depth * repvgg(c)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_norms(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics and affine terms (frozen or not), so that folding them and
    comparing against a reference actually test something."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d | FrozenBatchNorm2d):
                c = m.running_mean.numel()
                m.running_mean.copy_(0.2 * torch.randn(c, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(c, generator=generator))
                m.weight.copy_(0.5 + torch.rand(c, generator=generator))
                m.bias.copy_(0.2 * torch.randn(c, generator=generator))
