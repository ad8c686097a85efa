import pytest
import torch

from rtbench.spec import load_variants

VARIANTS = load_variants()


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)  # the CI machine; keeps timings of the suite predictable


def conv_norm(c_in: int, c_out: int, k: int) -> int:
    """Conv2d without bias + BatchNorm2d (weight and bias)."""
    return k * k * c_in * c_out + 2 * c_out


def linear(c_in: int, c_out: int) -> int:
    return c_in * c_out + c_out


def transformer_layer(d: int = 256, ffn: int = 1024) -> int:
    attention = 3 * d * d + 3 * d + linear(d, d)  # in_proj (q, k, v) + out_proj
    return attention + linear(d, ffn) + linear(ffn, d) + 2 * 2 * d  # two LayerNorms


def repvgg(c: int) -> int:
    return conv_norm(c, c, 3) + conv_norm(c, c, 1)


def csprep(c_in: int, c: int, depth: int = 3) -> int:
    return 2 * conv_norm(c_in, c, 1) + depth * repvgg(c)
