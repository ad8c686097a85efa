"""FLOP counting: the SDPA handle against the closed form, E's encoder against layer arithmetic,
the fvcore / FlopCounterMode cross-check, and ops that must never be dropped silently."""

import pytest
import torch
import torch.nn.functional as F
from conftest import VARIANTS
from torch import nn

from rtbench.measure.flops import count_flops, sdpa_macs
from rtbench.models.build import build_encoder, make_inputs

D = 256


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("k", torch.randn(2, 8, 12, 32))
        self.register_buffer("v", torch.randn(2, 8, 12, 16))

    def forward(self, q):
        return F.scaled_dot_product_attention(q, self.k, self.v)


def test_sdpa_handle_is_the_closed_form():
    q = torch.randn(2, 8, 10, 32)
    result = count_flops(Attention().eval(), q)
    closed_form = 2 * 8 * 10 * 12 * 32 + 2 * 8 * 10 * 12 * 16  # QK^T + AV, B*H*Lq*Lk*D each
    assert sdpa_macs((2, 8, 10, 32), (2, 8, 12, 32), (2, 8, 12, 16)) == closed_form
    assert result["gmacs"] * 1e9 == pytest.approx(closed_form)
    assert result["gmacs_flop_counter"] * 1e9 == pytest.approx(closed_form)
    assert result["gflops"] == pytest.approx(2 * result["gmacs"])


def conv(c_in, c_out, k, pixels):
    return k * k * c_in * c_out * pixels


def csprep_macs(pixels):
    return 2 * conv(2 * D, D, 1, pixels) + 3 * (conv(D, D, 3, pixels) + conv(D, D, 1, pixels))


def test_e_encoder_macs_match_layer_arithmetic():
    s3, s4, s5 = 8 * 8, 4 * 4, 2 * 2  # pixels per level at 64x64
    input_proj = conv(512, D, 1, s3) + conv(1024, D, 1, s4) + conv(2048, D, 1, s5)
    tokens = s5
    aifi = 4 * tokens * D * D + tokens * tokens * 2 * D + 2 * tokens * D * 1024
    fusion = (
        conv(D, D, 1, s5) + csprep_macs(s4)  # lateral on S5, CSPRep at S4
        + conv(D, D, 1, s4) + csprep_macs(s3)  # lateral on S4, CSPRep at S3
        + conv(D, D, 3, s4) + csprep_macs(s4)  # downsample S3 -> S4, CSPRep
        + conv(D, D, 3, s5) + csprep_macs(s5)  # downsample S4 -> S5, CSPRep
    )  # fmt: skip
    spec = VARIANTS["E"]
    model = build_encoder(spec).eval()
    result = count_flops(model, make_inputs(spec, "encoder", 64, 1))
    assert result["gmacs_parts"]["input_proj"] * 1e9 == pytest.approx(input_proj)
    assert result["gmacs_parts"]["intra"] * 1e9 == pytest.approx(aifi)
    assert result["gmacs_parts"]["fusion"] * 1e9 == pytest.approx(fusion)
    assert result["gmacs"] * 1e9 == pytest.approx(input_proj + aifi + fusion)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_counters_agree_within_one_percent(name):
    spec = VARIANTS[name]
    model = build_encoder(spec).eval()
    inputs = make_inputs(spec, "encoder", 128, 1)
    with torch.inference_mode():
        model(inputs)  # shape caches filled, as the runner does before counting
    result = count_flops(model, inputs)
    assert abs(result["flops_crosscheck_diff_pct"]) < 1.0
    assert result["flops_uncounted_ops"] == {}
    if spec.intra.mode != "none":
        assert "scaled_dot_product_attention" in result["gmacs_by_op"]


class HiddenMatmul(nn.Module):
    def forward(self, x):
        return torch.baddbmm(x, x, x)  # multiply-adds fvcore has no handle for


def test_op_without_handle_is_reported_not_dropped():
    result = count_flops(HiddenMatmul().eval(), torch.randn(2, 4, 4))
    assert result["flops_uncounted_ops"] == {"aten::baddbmm": 1}
    assert result["gmacs"] == 0
