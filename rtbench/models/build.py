"""The one place that reads a spec and turns it into modules (STYLE.md: models as data)."""

import torch
from torch import nn

from rtbench.models.attention import JointAttention, PerLevelAttention
from rtbench.models.encoder import HybridEncoder
from rtbench.models.fusion import CCFF, PANetFusion
from rtbench.spec import LEVELS, SpecError, VariantSpec

SCOPES = ("encoder", "detector")
STRIDES = (8, 16, 32)  # of S3, S4, S5


def build_encoder(spec: VariantSpec) -> HybridEncoder:
    dim, intra = spec.hidden_dim, spec.intra
    levels = spec.level_indices()
    intra_module: nn.Module | None = {
        "none": lambda: None,
        "per_level": lambda: PerLevelAttention(
            levels, dim, intra.heads, intra.ffn_dim, intra.layers, intra.shared
        ),
        "joint": lambda: JointAttention(
            levels, dim, intra.heads, intra.ffn_dim, intra.layers, intra.level_embedding
        ),
    }[intra.mode]()
    fusion_module: nn.Module | None = {
        "none": lambda: None,
        "panet": lambda: PANetFusion(dim, len(LEVELS)),
        "ccff": lambda: CCFF(dim, len(LEVELS), spec.fusion.depth),
    }[spec.fusion.type]()
    return HybridEncoder(spec.in_channels, dim, intra_module, fusion_module)


def build_model(spec: VariantSpec, scope: str, seed: int = 0) -> nn.Module:
    """Seeded random weights in eval mode: the same seed gives the same weights."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; choose from {', '.join(SCOPES)}")
    torch.manual_seed(seed)
    encoder = build_encoder(spec)
    if scope == "encoder":
        return encoder.eval()
    from rtbench.models.backbone import ResNet50vd
    from rtbench.models.decoder import RTDETRDecoder
    from rtbench.models.detector import Detector

    backbone = ResNet50vd()
    if tuple(backbone.out_channels) != spec.in_channels:
        raise SpecError(
            f"{spec.source or spec.name}: in_channels: {list(spec.in_channels)} do not match "
            f"ResNet-50-vd's {list(backbone.out_channels)}; use encoder scope for this variant"
        )
    decoder = RTDETRDecoder(
        in_channels=(spec.hidden_dim,) * len(LEVELS), hidden_dim=spec.hidden_dim
    )
    return Detector(backbone, encoder, decoder).eval()


def make_inputs(spec: VariantSpec, scope: str, size: int, batch: int, seed: int = 0):
    """Seeded inputs: backbone-shaped maps at encoder scope, an image at detector scope."""
    generator = torch.Generator().manual_seed(seed)
    if scope == "detector":
        return torch.randn(batch, 3, size, size, generator=generator)
    return [
        torch.randn(batch, c, size // s, size // s, generator=generator)
        for c, s in zip(spec.in_channels, STRIDES, strict=True)
    ]
