"""The real-time DETR family (variants/family/): #Params against the published figures and against
counts restated from the reference configs' layer tables; backbones' MACs by closed form; the
decoder's inference depth (eval_idx); Table 3's designs on another base (E on a base is the base).

GFLOPs at 640x640 take tens of seconds per model on a 2-core CPU: benchmarks/family_figures.py
counts them (docs/design.md, "The real-time DETR family"); here MACs are checked at small sizes.
"""

import math

import pytest
import torch
from conftest import FAMILY, VARIANTS, conv_norm, linear, mlp, transformer_layer

from rtbench.measure.flops import count_flops
from rtbench.measure.params import count_params, param_parts
from rtbench.models.build import build_model, make_inputs
from rtbench.models.hgnetv2 import HGNetv2
from rtbench.models.presnet import PResNet
from rtbench.spec import on_base

# lyuwenyu/RT-DETR's README: #Params (M), GFLOPs at 640.
PUBLISHED_PARAMS_M = {"rtdetr-r18": 20, "rtdetr-r34": 31, "rtdetr-r50m": 36, "rtdetr-r50": 42,
                      "rtdetr-r101": 76, "rtdetr-l": 32, "rtdetr-x": 67}  # fmt: skip
PUBLISHED_GFLOPS = {"rtdetr-r18": 60, "rtdetr-r34": 92, "rtdetr-r50m": 100, "rtdetr-r50": 136,
                    "rtdetr-r101": 259, "rtdetr-l": 110, "rtdetr-x": 234}  # fmt: skip

# The reference configs, restated (rtdetr_pytorch/configs/rtdetr/*.yml; rtdetr_paddle for L, X):
# backbone, trainable BN?, encoder in_channels, hidden, ffn, CSPRep expansion, decoder layers.
CONFIGS = {
    "rtdetr-r18": (("presnet", 18), True, (128, 256, 512), 256, 1024, 0.5, 3),
    "rtdetr-r34": (("presnet", 34), True, (128, 256, 512), 256, 1024, 0.5, 4),
    "rtdetr-r50m": (("presnet", 50), False, (512, 1024, 2048), 256, 1024, 0.5, 6),
    "rtdetr-r50": (("presnet", 50), False, (512, 1024, 2048), 256, 1024, 1.0, 6),
    "rtdetr-r101": (("presnet", 101), False, (512, 1024, 2048), 384, 2048, 1.0, 6),
    "rtdetr-l": (("hgnetv2", "L"), False, (512, 1024, 2048), 256, 1024, 1.0, 6),
    "rtdetr-x": (("hgnetv2", "X"), False, (512, 1024, 2048), 384, 2048, 1.0, 6),
}


def conv(c_in: int, c_out: int, k: int, bn: bool, groups: int = 1) -> int:
    """Conv2d without bias + BatchNorm2d whose affine terms are parameters only when `bn`."""
    return k * k * c_in * c_out // groups + (2 * c_out if bn else 0)


def presnet_count(depth: int, bn: bool) -> int:
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    total = conv(3, 32, 3, bn) + conv(32, 32, 3, bn) + conv(32, 64, 3, bn)
    c_in = 64
    for n, w in zip(blocks, (64, 128, 256, 512), strict=True):
        out = w if depth < 50 else 4 * w
        for i in range(n):
            if depth < 50:  # basic: 3x3, 3x3
                total += conv(c_in, w, 3, bn) + conv(w, w, 3, bn)
            else:  # bottleneck: 1x1, 3x3, 1x1 x4
                total += conv(c_in, w, 1, bn) + conv(w, w, 3, bn) + conv(w, out, 1, bn)
            if i == 0:  # every stage's first block projects its shortcut (1x1)
                total += conv(c_in, out, 1, bn)
            c_in = out
    return total


# PP-HGNetV2 (the reference's arch_configs): stem (mid, out); stages (in, mid, out, blocks,
# downsample, light, kernel); six convs per block.
HGNET = {
    "L": ((32, 48), [(48, 48, 128, 1, 0, 0, 3), (128, 96, 512, 1, 1, 0, 3),
                     (512, 192, 1024, 3, 1, 1, 5), (1024, 384, 2048, 1, 1, 1, 5)]),
    "X": ((32, 64), [(64, 64, 128, 1, 0, 0, 3), (128, 128, 512, 2, 1, 0, 3),
                     (512, 256, 1024, 5, 1, 1, 5), (1024, 512, 2048, 2, 1, 1, 5)]),
}  # fmt: skip


def hgnetv2_count(arch: str, bn: bool) -> int:
    (mid, out), stages = HGNET[arch]
    total = conv(3, mid, 3, bn) + conv(mid, mid // 2, 2, bn) + conv(mid // 2, mid, 2, bn)
    total += conv(2 * mid, mid, 3, bn) + conv(mid, out, 1, bn)
    for c_in, m, c_out, n, down, light, k in stages:
        if down:
            total += conv(c_in, c_in, 3, bn, groups=c_in)
        for i in range(n):
            first = c_in if i == 0 else c_out
            for j in range(6):
                a = first if j == 0 else m
                if light:  # 1x1, then depthwise kxk
                    total += conv(a, m, 1, bn) + conv(m, m, k, bn, groups=m)
                else:
                    total += conv(a, m, k, bn)
            total += conv(first + 6 * m, c_out // 2, 1, bn) + conv(c_out // 2, c_out, 1, bn)
    return total


def csprep(c_in: int, c: int, expansion: float, depth: int = 3) -> int:
    hidden = int(c * expansion)
    repvgg = conv_norm(hidden, hidden, 3) + conv_norm(hidden, hidden, 1)
    third = conv_norm(hidden, c, 1) if hidden != c else 0
    return 2 * conv_norm(c_in, hidden, 1) + depth * repvgg + third


def decoder_count(feat: int, layers: int, d: int = 256, k: int = 80) -> int:
    n = 8 * 3 * 4  # heads x levels x points
    cross_attn = linear(d, 2 * n) + linear(d, n) + 2 * linear(d, d)
    layer = 4 * linear(d, d) + cross_attn + linear(d, 1024) + linear(1024, d) + 3 * 2 * d
    head = linear(d, k) + mlp(d, d, d, 4)
    query_select = linear(d, d) + 2 * d + head
    input_proj = 3 * conv_norm(feat, d, 1)
    return input_proj + (k + 1) * d + mlp(4, 2 * d, d) + query_select + layers * (layer + head)


def expected_parts(name: str) -> dict[str, int]:
    (kind, size), bn, in_channels, h, ffn, expansion, layers = CONFIGS[name]
    backbone = presnet_count(size, bn) if kind == "presnet" else hgnetv2_count(size, bn)
    fusion = 2 * conv_norm(h, h, 1) + 2 * conv_norm(h, h, 3) + 4 * csprep(2 * h, h, expansion)
    return {"backbone": backbone, "input_proj": sum(conv_norm(c, h, 1) for c in in_channels),
            "intra": transformer_layer(h, ffn), "fusion": fusion,
            "decoder": decoder_count(h, layers)}  # fmt: skip


def test_the_family_is_shipped():
    assert sorted(FAMILY) == sorted(PUBLISHED_PARAMS_M)
    assert {n: s.paper.params_m for n, s in FAMILY.items()} == PUBLISHED_PARAMS_M
    assert {n: s.paper.gflops for n, s in FAMILY.items()} == PUBLISHED_GFLOPS


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS_M))
def test_family_params_per_part_and_published(name):
    model = build_model(FAMILY[name], "detector")
    parts = param_parts(model)
    assert parts == expected_parts(name)
    assert math.floor(sum(parts.values()) / 1e6) == PUBLISHED_PARAMS_M[name]


def test_r50_of_the_family_is_table_3_row_e():
    expected = expected_parts("rtdetr-r50")
    assert sum(expected.values()) == 42_891_372  # the reference RT-DETR-R50, Table 3's E
    assert count_params(build_model(VARIANTS["E"], "detector")) == sum(expected.values())


@pytest.mark.parametrize(
    "depth,torchvision",
    # torchvision's ResNets (BN trainable, fc head, 7x7 stem): an anchor outside this project
    [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032), (101, 44_549_160)],
)
def test_presnet_counts_against_torchvision(depth, torchvision):
    # Drop the fc (512 or 2048 -> 1000) and the 7x7 stem, add the vd stem; R18/R34's first block
    # has a 1x1 projection shortcut (64 -> 64) that torchvision's lacks.
    c_last = 512 if depth < 50 else 2048
    vd_stem = conv_norm(3, 32, 3) + conv_norm(32, 32, 3) + conv_norm(32, 64, 3)
    extra = conv_norm(64, 64, 1) if depth < 50 else 0
    expected = torchvision - linear(c_last, 1000) - conv_norm(3, 64, 7) + vd_stem + extra
    assert count_params(PResNet(depth, freeze_norm=False)) == expected


@pytest.mark.parametrize("arch", ["L", "X"])
def test_hgnetv2_params_and_shapes(arch):
    frozen, trained = HGNetv2(arch).eval(), HGNetv2(arch, freeze_norm=False)
    assert count_params(frozen) == hgnetv2_count(arch, bn=False)
    assert count_params(trained) == hgnetv2_count(arch, bn=True)
    with torch.inference_mode():
        outs = frozen(torch.randn(1, 3, 96, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 512, 12, 8), (1, 1024, 6, 4), (1, 2048, 3, 2)]


def conv_macs(c_in: int, c_out: int, k: int, out_side: int, groups: int = 1) -> int:
    return k * k * c_in * c_out // groups * out_side**2


def test_presnet18_macs_by_closed_form():
    side = 64  # strides 2, 4 (pool), 4, 8, 16, 32: sides 32, 16, 16, 8, 4, 2
    s = [side // 2**i for i in range(6)]
    expected = conv_macs(3, 32, 3, s[1]) + conv_macs(32, 32, 3, s[1]) + conv_macs(32, 64, 3, s[1])
    c_in = 64
    for stage, w in enumerate((64, 128, 256, 512)):
        o = s[2 + stage]
        expected += conv_macs(c_in, w, 3, o) + conv_macs(w, w, 3, o) + conv_macs(c_in, w, 1, o)
        expected += 2 * conv_macs(w, w, 3, o)  # the second block
        c_in = w
    counted = count_flops(PResNet(18, freeze_norm=False).eval(), torch.randn(1, 3, side, side))
    assert counted["gmacs"] * 1e9 == expected


def test_r50m_infers_with_three_of_six_decoder_layers():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    spec = FAMILY["rtdetr-r50m"]
    model = build_model(spec, "detector")
    with torch.inference_mode(), Ops() as ops:
        logits, boxes = model.decoder([torch.randn(1, 256, s, s) for s in (16, 8, 4)])
    assert ops.names.count("grid_sampler") == 3 * 3  # eval_idx 2: layers 0-2, three levels each
    assert ops.names.count("scaled_dot_product_attention") == 3  # one self-attention a layer
    assert len(model.decoder.layers) == 6  # all six are trained and counted
    assert logits.shape == (1, 300, 80) and boxes.shape == (1, 300, 4)


# ------------------------------------------------------------------ Table 3 on another base


def test_e_on_a_base_is_the_base():
    base = FAMILY["rtdetr-r18"]
    on_r18 = on_base(VARIANTS["E"], base)
    assert (on_r18.name, on_r18.base, on_r18.paper) == ("E", "rtdetr-r18", None)
    a, b = build_model(on_r18, "detector"), build_model(base, "detector")
    assert param_parts(a) == param_parts(b)
    images = make_inputs(base, "detector", 128, 1)
    assert count_flops(a, images)["gmacs"] == count_flops(b, images)["gmacs"]


def test_designs_on_a_base_keep_its_widths():
    base = FAMILY["rtdetr-r18"]
    h = 256
    intra = transformer_layer(h, 1024)
    panet = 2 * conv_norm(h, h, 1) + 4 * conv_norm(h, h, 3)
    ccff = expected_parts("rtdetr-r18")["fusion"]
    expected = {"A": (0, 0), "B": (intra, 0), "C": (intra, 0), "D": (intra, panet),
                "Ds5": (intra, panet), "E": (intra, ccff)}  # fmt: skip
    for name, (intra_params, fusion_params) in expected.items():
        spec = on_base(VARIANTS[name], base)
        assert spec.in_channels == (128, 256, 512) and spec.backbone == base.backbone
        assert spec.decoder == base.decoder and spec.fusion.expansion == 0.5
        parts = param_parts(build_model(spec, "encoder"))
        assert (parts["intra"], parts["fusion"]) == (intra_params, fusion_params), name


# ------------------------------------------------------------------ D-FINE's fusion


def elan_fusion_count(h: int, expansion: float, depth: int = 3) -> int:
    """D-FINE's HybridEncoder fusion, restated: laterals, SCDown, RepNCSPELAN4(2h, h, 2h, b, n)."""
    b = round(expansion * h // 2)
    scdown = conv_norm(h, h, 1) + 9 * h + 2 * h  # 1x1, then a depthwise 3x3 (9 weights a channel)
    elan = (conv_norm(2 * h, 2 * h, 1)
            + csprep(h, b, 1.0, depth) + conv_norm(b, b, 3)
            + csprep(b, b, 1.0, depth) + conv_norm(b, b, 3)
            + conv_norm(2 * h + 2 * b, h, 1))  # fmt: skip
    return 2 * conv_norm(h, h, 1) + 2 * scdown + 4 * elan


@pytest.mark.parametrize("base", [None, "rtdetr-r18"])
def test_dfine_fusion_params_and_deploy_form(base):
    from conftest import SPECS, randomize_norms

    from rtbench.models.deploy import fuse_for_deploy

    spec = SPECS["E-elan"] if base is None else on_base(SPECS["E-elan"], FAMILY[base])
    model = build_model(spec, "encoder")
    assert param_parts(model)["fusion"] == elan_fusion_count(256, 1.0 if base is None else 0.5)
    randomize_norms(model)
    feats = make_inputs(spec, "encoder", 64, batch=1)
    with torch.inference_mode():
        before = model(feats)
        after = fuse_for_deploy(model)(feats)
    assert [tuple(o.shape) for o in before] == [(1, 256, 8, 8), (1, 256, 4, 4), (1, 256, 2, 2)]
    for a, b in zip(after, before, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
