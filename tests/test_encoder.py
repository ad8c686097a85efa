"""Every variant builds and runs; params per part match counts derived from layer shapes; E is the
reference RT-DETR-R50 hybrid encoder, checked against an independent functional re-statement."""

import pytest
import torch
import torch.nn.functional as F
from conftest import VARIANTS, conv_norm, csprep, randomize_norms, transformer_layer

from rtbench.measure.params import param_parts
from rtbench.models.build import build_encoder, build_model, make_inputs
from rtbench.models.position import sincos_2d

SIZE = 64  # S3 8x8, S4 4x4, S5 2x2
D = 256
INPUT_PROJ = conv_norm(512, D, 1) + conv_norm(1024, D, 1) + conv_norm(2048, D, 1)
PANET = 2 * conv_norm(D, D, 1) + 2 * conv_norm(D, D, 3) + 2 * conv_norm(D, D, 3)
CCFF = 2 * conv_norm(D, D, 1) + 2 * csprep(2 * D, D) + 2 * conv_norm(D, D, 3) + 2 * csprep(2 * D, D)
EXPECTED_PARTS = {
    "A": (INPUT_PROJ, 0, 0),
    "B": (INPUT_PROJ, transformer_layer(), 0),  # one layer shared by three levels
    "C": (INPUT_PROJ, transformer_layer(), 0),
    "D": (INPUT_PROJ, transformer_layer(), PANET),
    "Ds5": (INPUT_PROJ, transformer_layer(), PANET),
    "E": (INPUT_PROJ, transformer_layer(), CCFF),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_forward_shapes_and_finite(name):
    spec = VARIANTS[name]
    model = build_encoder(spec).eval()
    with torch.inference_mode():
        outs = model(make_inputs(spec, "encoder", SIZE, batch=2))
    assert [tuple(o.shape) for o in outs] == [(2, D, 8, 8), (2, D, 4, 4), (2, D, 2, 2)]
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_param_parts_match_layer_arithmetic(name):
    parts = param_parts(build_encoder(VARIANTS[name]))
    assert (parts["input_proj"], parts["intra"], parts["fusion"]) == EXPECTED_PARTS[name]


def test_e_encoder_total_is_reference_count():
    # RT-DETR-R50 hybrid encoder: 11.95M of the detector's 42.89M
    assert sum(EXPECTED_PARTS["E"]) == 11_950_848


def test_unshared_layers_and_level_embedding_add_params(tmp_path):
    from rtbench.spec import load_spec

    path = tmp_path / "X.yaml"
    path.write_text(
        "description: x\nintra: {mode: joint, levels: [S4, S5], level_embedding: true, layers: 2}\n"
    )
    joint = param_parts(build_encoder(load_spec(path)))
    assert joint["intra"] == 2 * transformer_layer() + 2 * D
    path.write_text("description: x\nintra: {mode: per_level, levels: [S4, S5], shared: false}\n")
    separate = param_parts(build_encoder(load_spec(path)))
    assert separate["intra"] == 2 * transformer_layer()


def test_seed_gives_identical_weights_and_inputs():
    spec = VARIANTS["E"]
    a, b = build_model(spec, "encoder", seed=3), build_model(spec, "encoder", seed=3)
    c = build_model(spec, "encoder", seed=4)
    wa, wb, wc = (m.state_dict()["fusion.pan_blocks.1.conv2.conv.weight"] for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    xa, xb = make_inputs(spec, "encoder", SIZE, 1, seed=3), make_inputs(spec, "encoder", SIZE, 1, 3)
    assert all(torch.equal(p, q) for p, q in zip(xa, xb, strict=True))


def test_sincos_quarters_follow_row_major_tokens():
    # dim 8: quarters of 2 channels, omega = (1, 1/100); channel 0 is sin of an integer coordinate.
    # Token t of a height x width map sits at row t // width, column t % width. The reference's
    # first quarters follow t // height, its last quarters t % height: the row and the column on a
    # square map, and on a non-square one the reference's own (w-major) grid order.
    def sin(values):
        return torch.sin(torch.tensor(values, dtype=torch.float32))

    square = sincos_2d(3, 3, 8)[0]  # tokens (row, col): (0,0) (0,1) (0,2) (1,0) ...
    assert square.shape == (9, 8)
    assert torch.allclose(square[:, 0], sin([0, 0, 0, 1, 1, 1, 2, 2, 2]))  # sin(row)
    assert torch.allclose(square[:, 4], sin([0, 1, 2, 0, 1, 2, 0, 1, 2]))  # sin(col)
    assert torch.allclose(square[:, 2], torch.cos(torch.tensor([0.0, 0, 0, 1, 1, 1, 2, 2, 2])))
    assert torch.allclose(square[:, 1], sin([0, 0, 0, 0.01, 0.01, 0.01, 0.02, 0.02, 0.02]))

    wide = sincos_2d(2, 3, 8)[0]  # rows (0,0,0,1,1,1), cols (0,1,2,0,1,2)
    assert wide.shape == (6, 8)
    assert torch.allclose(wide[:, 0], sin([0, 0, 1, 1, 2, 2]))  # t // 2
    assert torch.allclose(wide[:, 4], sin([0, 1, 0, 1, 0, 1]))  # t % 2
    tall = sincos_2d(3, 2, 8)[0]  # rows (0,0,1,1,2,2), cols (0,1,0,1,0,1)
    assert torch.allclose(tall[:, 0], sin([0, 0, 0, 1, 1, 1]))  # t // 3
    assert torch.allclose(tall[:, 4], sin([0, 1, 2, 0, 1, 2]))  # t % 3


def reference_sincos(w: int, h: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """The reference's build_2d_sincos_position_embedding(w, h, dim, temperature), re-stated."""
    grid_w, grid_h = torch.meshgrid(
        torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32), indexing="ij"
    )
    pos_dim = dim // 4
    omega = 1.0 / temperature ** (torch.arange(pos_dim, dtype=torch.float32) / pos_dim)
    out_w = grid_w.flatten()[:, None] @ omega[None]
    out_h = grid_h.flatten()[:, None] @ omega[None]
    return torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None]


SINCOS_SHAPES = [(1, 1), (2, 2), (2, 3), (3, 2), (1, 5), (20, 20), (8, 12)]  # (height, width)


@pytest.mark.parametrize("dim", [8, 256])
@pytest.mark.parametrize("height,width", SINCOS_SHAPES)
def test_sincos_equals_the_reference_exactly(height, width, dim):
    # forward calls it with (w, h) for a [B, C, h, w] map
    assert torch.equal(sincos_2d(height, width, dim), reference_sincos(width, height, dim))


# --- E against the reference RT-DETR-R50 HybridEncoder, re-stated as plain functions -----------

REFERENCE_TO_OURS = [  # reference state_dict prefix -> ours
    ("input_proj.{i}.0.", "input_proj.{i}.conv."),
    ("input_proj.{i}.1.", "input_proj.{i}.norm."),
    ("encoder.0.", "intra.encoder.0."),
    ("lateral_convs.", "fusion.lateral_convs."),
    ("fpn_blocks.", "fusion.fpn_blocks."),
    ("downsample_convs.", "fusion.downsample_convs."),
    ("pan_blocks.", "fusion.pan_blocks."),
]


def reference_shapes() -> dict[str, tuple]:
    """The reference HybridEncoder's parameter shapes, from its constructor's arithmetic."""
    shapes = {}

    def bn(prefix, c):
        shapes.update({f"{prefix}weight": (c,), f"{prefix}bias": (c,)})

    def cn(prefix, c_in, c_out, k):  # ConvNormLayer
        shapes[f"{prefix}conv.weight"] = (c_out, c_in, k, k)
        bn(f"{prefix}norm.", c_out)

    for i, c in enumerate((512, 1024, 2048)):
        shapes[f"input_proj.{i}.0.weight"] = (D, c, 1, 1)
        bn(f"input_proj.{i}.1.", D)
    layer = "encoder.0.layers.0."
    shapes.update({
        f"{layer}self_attn.in_proj_weight": (3 * D, D), f"{layer}self_attn.in_proj_bias": (3 * D,),
        f"{layer}self_attn.out_proj.weight": (D, D), f"{layer}self_attn.out_proj.bias": (D,),
        f"{layer}linear1.weight": (1024, D), f"{layer}linear1.bias": (1024,),
        f"{layer}linear2.weight": (D, 1024), f"{layer}linear2.bias": (D,),
    })  # fmt: skip
    bn(f"{layer}norm1.", D)
    bn(f"{layer}norm2.", D)
    for i in range(2):
        cn(f"lateral_convs.{i}.", D, D, 1)
        cn(f"downsample_convs.{i}.", D, D, 3)
        for block in ("fpn_blocks", "pan_blocks"):
            cn(f"{block}.{i}.conv1.", 2 * D, D, 1)
            cn(f"{block}.{i}.conv2.", 2 * D, D, 1)
            for j in range(3):
                cn(f"{block}.{i}.bottlenecks.{j}.conv1.", D, D, 3)
                cn(f"{block}.{i}.bottlenecks.{j}.conv2.", D, D, 1)
    return shapes


def to_ours(name: str) -> str:
    for ref, ours in REFERENCE_TO_OURS:
        for i in range(3):
            if name.startswith(ref.format(i=i)):
                return ours.format(i=i) + name[len(ref.format(i=i)) :]
    raise AssertionError(name)


def test_e_has_the_reference_parameters_layer_for_layer():
    ours = {k: tuple(v.shape) for k, v in build_encoder(VARIANTS["E"]).named_parameters()}
    expected = {to_ours(k): v for k, v in reference_shapes().items()}
    assert ours == expected


def reference_forward(p: dict, feats: list[torch.Tensor]) -> list[torch.Tensor]:
    """The reference HybridEncoder.forward, written with functional ops over a state_dict."""

    def cn(prefix, x, act=True, stride=1):
        w = p[f"{prefix}conv.weight"]
        x = F.conv2d(x, w, stride=stride, padding=(w.shape[-1] - 1) // 2)
        x = F.batch_norm(x, p[f"{prefix}norm.running_mean"], p[f"{prefix}norm.running_var"],
                         p[f"{prefix}norm.weight"], p[f"{prefix}norm.bias"])  # fmt: skip
        return F.silu(x) if act else x

    def csp(prefix, x):
        y = cn(f"{prefix}conv1.", x)
        for j in range(3):
            b = f"{prefix}bottlenecks.{j}."
            y = F.silu(cn(f"{b}conv1.", y, act=False) + cn(f"{b}conv2.", y, act=False))
        return y + cn(f"{prefix}conv2.", x)

    proj = [cn(f"input_proj.{i}.", f, act=False) for i, f in enumerate(feats)]
    b, c, h, w = proj[2].shape
    src = proj[2].flatten(2).permute(0, 2, 1)
    pos = reference_sincos(w, h, c)  # as the reference's forward calls it
    layer = "intra.encoder.0.layers.0."
    q = src + pos
    wq, wk, wv = p[f"{layer}self_attn.in_proj_weight"].chunk(3)
    bq, bk, bv = p[f"{layer}self_attn.in_proj_bias"].chunk(3)

    def heads(x):
        return x.reshape(b, -1, 8, c // 8).transpose(1, 2)

    att = torch.softmax(heads(F.linear(q, wq, bq)) @ heads(F.linear(q, wk, bk)).transpose(-1, -2)
                        / (c // 8) ** 0.5, dim=-1) @ heads(F.linear(src, wv, bv))  # fmt: skip
    att = F.linear(att.transpose(1, 2).reshape(b, -1, c), p[f"{layer}self_attn.out_proj.weight"],
                   p[f"{layer}self_attn.out_proj.bias"])  # fmt: skip
    src = F.layer_norm(src + att, (c,), p[f"{layer}norm1.weight"], p[f"{layer}norm1.bias"])
    ffn = F.linear(F.gelu(F.linear(src, p[f"{layer}linear1.weight"], p[f"{layer}linear1.bias"])),
                   p[f"{layer}linear2.weight"], p[f"{layer}linear2.bias"])  # fmt: skip
    src = F.layer_norm(src + ffn, (c,), p[f"{layer}norm2.weight"], p[f"{layer}norm2.bias"])
    proj[2] = src.permute(0, 2, 1).reshape(b, c, h, w)

    inner = [proj[2]]
    for idx in (2, 1):  # top-down, as the reference indexes it
        high = cn(f"fusion.lateral_convs.{2 - idx}.", inner[0])
        inner[0] = high
        up = F.interpolate(high, scale_factor=2.0, mode="nearest")
        inner.insert(0, csp(f"fusion.fpn_blocks.{2 - idx}.", torch.cat([up, proj[idx - 1]], 1)))
    outs = [inner[0]]
    for idx in range(2):
        down = cn(f"fusion.downsample_convs.{idx}.", outs[-1], stride=2)
        outs.append(csp(f"fusion.pan_blocks.{idx}.", torch.cat([down, inner[idx + 1]], 1)))
    return outs


def non_square_inputs(batch: int) -> list[torch.Tensor]:
    """Backbone maps of a 64 x 96 image: S3 8x12, S4 4x6, S5 2x3 (make_inputs builds squares)."""
    generator = torch.Generator().manual_seed(1)
    return [
        torch.randn(batch, c, h, w, generator=generator)
        for c, h, w in ((512, 8, 12), (1024, 4, 6), (2048, 2, 3))
    ]


@pytest.mark.parametrize("shape", ["square", "non_square"])
def test_e_computes_what_the_reference_computes(shape):
    spec = VARIANTS["E"]
    model = build_encoder(spec).eval()
    randomize_norms(model)
    if shape == "square":
        feats = make_inputs(spec, "encoder", SIZE, batch=2)  # S5 2x2
    else:
        feats = non_square_inputs(batch=2)  # S5 2x3
    with torch.inference_mode():
        ours = model(feats)
        expected = reference_forward(model.state_dict(), feats)
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
