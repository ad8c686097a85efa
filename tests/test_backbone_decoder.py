"""Backbone, decoder, deploy fusion: shapes, params from layer arithmetic, equivalence."""

import pytest
import torch
from conftest import conv_norm, linear, mlp, n_params, randomize_norms
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from rtbench.models.blocks import CSPRepBlock, RepVGGBlock
from rtbench.models.decoder import RTDETRDecoder, make_anchors
from rtbench.models.deploy import fuse_for_deploy
from rtbench.models.presnet import PResNet


def backbone_counts() -> tuple[int, int]:
    """(params, BN channels) of ResNet-50-vd, from its layer shapes."""
    stem = [(3, 32, 3), (32, 32, 3), (32, 64, 3)]
    convs = list(stem)
    c_in = 64
    for depth, width in zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True):
        for i in range(depth):
            convs += [(c_in, width, 1), (width, width, 3), (width, 4 * width, 1)]
            if i == 0:  # shortcut projection (after the 2x2 avg pool in stages 2-4)
                convs.append((c_in, 4 * width, 1))
            c_in = 4 * width
    return sum(conv_norm(*c) for c in convs), sum(c[1] for c in convs)


def decoder_count(
    d: int = 256, k: int = 80, heads: int = 8, levels: int = 3, points: int = 4
) -> int:
    input_proj = levels * conv_norm(d, d, 1)
    self_attn = 4 * linear(d, d)  # q, k, v in-projections + out-projection
    n = heads * levels * points
    cross_attn = linear(d, 2 * n) + linear(d, n) + 2 * linear(d, d)  # offsets, weights, value, out
    layer = self_attn + cross_attn + linear(d, 1024) + linear(1024, d) + 3 * 2 * d  # + 3 LayerNorms
    heads_ = linear(d, k) + mlp(d, d, d, 4)  # class head + box MLP
    query_select = linear(d, d) + 2 * d + heads_  # enc_output (Linear + LayerNorm) + enc heads
    return input_proj + (k + 1) * d + mlp(4, 2 * d, d) + query_select + 6 * (layer + heads_)


def assert_same(after: torch.Tensor, before: torch.Tensor) -> None:
    # Folding reorders float32 arithmetic only: agree to 1e-4 of the output's scale.
    torch.testing.assert_close(after, before, rtol=0, atol=1e-4 * before.abs().max().item())


@pytest.mark.parametrize("batch,h,w", [(1, 160, 160), (2, 96, 128)])
def test_backbone_shapes(batch: int, h: int, w: int):
    torch.manual_seed(0)
    model = PResNet(50).eval()
    with torch.inference_mode():
        outs = model(torch.randn(batch, 3, h, w))
    expected = [
        (batch, c, h // s, w // s) for c, s in zip(model.out_channels, (8, 16, 32), strict=True)
    ]
    assert [tuple(o.shape) for o in outs] == expected
    assert all(o.isfinite().all() for o in outs)


def test_backbone_params():
    with_bn, bn_channels = backbone_counts()
    # Frozen norms, as in the reference: BN gamma and beta are buffers, not parameters.
    assert n_params(PResNet(50)) == with_bn - 2 * bn_channels
    assert round(n_params(PResNet(50)) / 1e6, 2) == 23.47
    # Independent anchor: torchvision's ResNet-50 has 25,557,032 params; drop its fc (2048 -> 1000)
    # and its 7x7 stem (conv 7*7*3*64 + BN), add the vd stem. The avg pools add nothing.
    vd_stem = conv_norm(3, 32, 3) + conv_norm(32, 32, 3) + conv_norm(32, 64, 3)
    assert with_bn == 25_557_032 - linear(2048, 1000) - conv_norm(3, 64, 7) + vd_stem


def test_decoder_shapes_and_params():
    torch.manual_seed(0)
    model = RTDETRDecoder().eval()
    assert n_params(model) == decoder_count()
    assert round(decoder_count() / 1e6, 2) == 7.47
    feats = [torch.randn(2, 256, s, s) for s in (20, 10, 5)]  # a 160x160 image
    with torch.inference_mode():
        logits, boxes = model(feats)
    assert logits.shape == (2, 300, 80) and boxes.shape == (2, 300, 4)
    assert logits.isfinite().all() and ((boxes >= 0) & (boxes <= 1)).all()


def test_anchor_mask_at_640():
    # Stride-8 level: centres 0.5/80 = 0.00625 < eps = 0.01, so its outer ring is masked.
    anchors, valid = make_anchors([(80, 80), (40, 40), (20, 20)])
    assert int(valid.sum()) == 78 * 78 + 40 * 40 + 20 * 20
    assert anchors[~valid.expand_as(anchors)].eq(torch.inf).all()


def test_decoder_too_small_input():
    # 96x96 image: 12*12 + 6*6 + 3*3 = 189 cells < 300; 128x128: 16*16 + 8*8 + 4*4 = 336.
    model = RTDETRDecoder().eval()
    feats = [torch.randn(1, 256, s, s) for s in (12, 6, 3)]
    with pytest.raises(ValueError, match=r"189 valid.*at least 128x128"), torch.inference_mode():
        model(feats)


class OpLog(TorchDispatchMode):
    """Records the aten ops a forward dispatches: observes, changes nothing."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_decoder_self_attention_is_fused():
    # nn.MultiheadAttention reaches scaled_dot_product_attention only with need_weights=False.
    model = RTDETRDecoder(num_layers=2, num_queries=10).eval()
    with torch.inference_mode(), OpLog() as log:
        model([torch.randn(1, 256, s, s) for s in (4, 2, 1)])
    assert log.ops.count("scaled_dot_product_attention") == 2  # one self-attention per layer


@pytest.mark.parametrize(
    "make,shape,drop",
    [
        # 3x3 ConvNorm (9c^2 + 2c) + 1x1 ConvNorm (c^2 + 2c) -> one biased 3x3 conv (9c^2 + c)
        (lambda: RepVGGBlock(16), (2, 16, 12, 12), 16 * 16 + 3 * 16),
        # two 1x1 ConvNorm lose c each (BN 2c -> bias c); three RepVGG blocks as above
        (lambda: CSPRepBlock(32, 16), (2, 32, 12, 12), 2 * 16 + 3 * (16 * 16 + 3 * 16)),
    ],
)
def test_fuse_blocks(make, shape, drop):
    torch.manual_seed(0)
    model = make().eval()
    randomize_norms(model)
    x = torch.randn(shape)
    before, params = model(x).detach(), n_params(model)
    fuse_for_deploy(model)
    assert_same(model(x).detach(), before)
    assert params - n_params(model) == drop
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_fuse_backbone():
    torch.manual_seed(0)
    model = PResNet(50).eval()
    randomize_norms(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        before = model(x)
    fuse_for_deploy(model)
    with torch.inference_mode():
        after = model(x)
    for a, b in zip(after, before, strict=True):
        assert_same(a, b)
    _, bn_channels = backbone_counts()
    assert n_params(model) == backbone_counts()[0] - bn_channels  # each BN 2c -> conv bias c


def test_fuse_decoder():
    # float64: the top-300 query selection meets exact float32 score ties in practice, so a
    # rounding-level change could reorder queries; in float64 the fold must be exact to ~1e-12.
    # Small (2 layers, 50 queries, 8/4/2 maps) because float64 is slow; every part still runs.
    torch.manual_seed(0)
    model = RTDETRDecoder(num_queries=50, num_layers=2).double().eval()
    randomize_norms(model)
    feats = [torch.randn(1, 256, s, s, dtype=torch.float64) for s in (8, 4, 2)]
    params = n_params(model)
    with torch.inference_mode():
        before = model(feats)
        fuse_for_deploy(model)
        after = model(feats)
    for a, b in zip(after, before, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10 * b.abs().max().item())
    assert params - n_params(model) == 3 * 256  # three input-projection BNs: 2c -> c each


def test_fuse_needs_eval():
    with pytest.raises(ValueError, match="eval"):
        fuse_for_deploy(RepVGGBlock(8))
