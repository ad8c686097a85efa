"""The one place that reads a spec and turns it into modules, and the one door into `models` for
the rest of rtbench: scopes, inputs, and the smallest input a scope accepts.

Backbones and blocks are found by name in their registries (`BACKBONES`, `INTRA_BLOCKS`,
`FUSION_BLOCKS`), or in another package through the entry point group `rtbench.blocks`
(rtbench.plugins); each takes the common arguments plus the spec fields it lists in its
`options`, so a new block is a class and a registry line, and the spec's allowed names are tested
against the registries' keys.
"""

import torch
from torch import nn

from rtbench.config import SCOPES, BenchError
from rtbench.models.attention import INTRA_BLOCKS
from rtbench.models.encoder import HybridEncoder
from rtbench.models.fusion import FUSION_BLOCKS
from rtbench.models.hgnetv2 import HGNetv2
from rtbench.models.presnet import PResNet
from rtbench.plugins import plugin_blocks
from rtbench.spec import LEVELS, SpecError, VariantSpec

STRIDES = (8, 16, 32)  # of S3, S4, S5
# A spec's backbone.type -> its class; each takes the backbone fields it lists in `options`.
BACKBONES: dict[str, type[nn.Module]] = {"presnet": PResNet, "hgnetv2": HGNetv2}


def block_class(kind: str, name: str, spec: VariantSpec) -> type[nn.Module]:
    """A registry's class by the name a spec gave, or a package's (the entry point group
    rtbench.blocks, imported only now; rtbench.plugins)."""
    registry = {"backbone": BACKBONES, "intra": INTRA_BLOCKS, "fusion": FUSION_BLOCKS}[kind]
    if name in registry:
        return registry[name]
    point = plugin_blocks(kind)[name]  # the spec's validation found it
    try:
        return point.load()
    except Exception as err:  # a package's import error is its own; ours is one line
        raise SpecError(
            f"{spec.source or spec.name}: {kind} {name!r}: cannot load {point.value} "
            f"({type(err).__name__}: {err})"
        ) from None


def build_encoder(spec: VariantSpec) -> HybridEncoder:
    dim, intra, fusion = spec.hidden_dim, spec.intra, spec.fusion
    intra_block = None
    if intra.mode != "none":
        cls = block_class("intra", intra.mode, spec)
        options = {name: getattr(intra, name) for name in cls.options}
        intra_block = cls(
            dim, spec.level_indices(), intra.heads, intra.ffn_dim, intra.layers, **options
        )
    fusion_block = None
    if fusion.type != "none":
        cls = block_class("fusion", fusion.type, spec)
        fusion_block = cls(
            dim, len(LEVELS), **{name: getattr(fusion, name) for name in cls.options}
        )
    return HybridEncoder(spec.in_channels, dim, intra_block, fusion_block)


def build_model(spec: VariantSpec, scope: str, seed: int = 0) -> nn.Module:
    """Seeded random weights in eval mode: the same seed gives the same weights."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; choose from {', '.join(SCOPES)}")
    torch.manual_seed(seed)
    encoder = build_encoder(spec)
    if scope == "encoder":
        return encoder.eval()
    from rtbench.models.decoder import RTDETRDecoder
    from rtbench.models.detector import Detector

    backbone = build_backbone(spec)
    if tuple(backbone.out_channels) != spec.in_channels:
        raise SpecError(
            f"{spec.source or spec.name}: in_channels: {list(spec.in_channels)} do not match "
            f"the backbone's {list(backbone.out_channels)} ({backbone_name(spec)}); set "
            f"in_channels to those, or use encoder scope for this variant"
        )
    dec = spec.decoder
    decoder = RTDETRDecoder(
        in_channels=(spec.hidden_dim,) * len(LEVELS),  # the reference's feat_channels
        hidden_dim=dec.hidden_dim,
        num_queries=dec.queries,
        num_layers=dec.layers,
        num_heads=dec.heads,
        num_points=dec.num_points,
        ffn_dim=dec.ffn_dim,
        eval_idx=dec.eval_idx,
    )
    return Detector(backbone, encoder, decoder).eval()


def build_backbone(spec: VariantSpec) -> nn.Module:
    cls = block_class("backbone", spec.backbone.type, spec)
    return cls(**{name: getattr(spec.backbone, name) for name in cls.options})


def backbone_name(spec: VariantSpec) -> str:
    """PResNet-50-vd, HGNetv2-L: as the papers name them."""
    backbone = spec.backbone
    if backbone.type == "hgnetv2":
        return f"HGNetv2-{backbone.arch}"
    return f"PResNet-{backbone.depth}-vd"


def min_input_size(scope: str) -> int:
    """Smallest square input side a scope accepts: the stride of S5 at encoder scope; at detector
    scope the decoder's own rule (enough valid cells for its 300 queries)."""
    if scope == "detector":
        from rtbench.models.decoder import min_square_input

        return min_square_input()
    return STRIDES[-1]


def check_input_size(scope: str, size: int) -> None:
    """BenchError in one line when `scope` cannot take a `size` x `size` input."""
    smallest = min_input_size(scope)
    if size < smallest:
        raise BenchError(
            f"--size {size} is too small at {scope} scope: the decoder keeps the top 300 "
            f"encoder cells; use --size {smallest} or more"
        )


def make_inputs(spec: VariantSpec, scope: str, size: int, batch: int, seed: int = 0):
    """Seeded inputs: backbone-shaped maps at encoder scope, an image at detector scope."""
    generator = torch.Generator().manual_seed(seed)
    if scope == "detector":
        return torch.randn(batch, 3, size, size, generator=generator)
    return [
        torch.randn(batch, c, size // s, size // s, generator=generator)
        for c, s in zip(spec.in_channels, STRIDES, strict=True)
    ]
