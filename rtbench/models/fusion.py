"""Cross-scale fusion: PANet-style conv fusion (variants D, Ds5), CCFF (variant E) and D-FINE's
RepNCSPELAN4 fusion with SCDown (`elan`).

Both walk top-down (coarse to fine) then bottom-up, with the module names of the reference
RT-DETR-R50 `HybridEncoder` (lateral_convs, fpn_blocks, downsample_convs, pan_blocks), so that
variant E is the reference layer for layer. They differ only in how two maps merge.

Every fusion block takes (dim, num_levels) and the keyword options it lists in `options`;
`FUSION_BLOCKS` maps a spec's `fusion.type` to its class.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm, CSPRepBlock, RepNCSPELAN4, SCDown


class TopDownBottomUp(nn.Module):
    """The FPN + PAN walk; subclasses define `merge_down` and `merge_up`."""

    def __init__(self, dim: int, num_levels: int, act: str, lateral_act: str | None = "same"):
        super().__init__()
        steps = num_levels - 1
        lateral_act = act if lateral_act == "same" else lateral_act
        self.lateral_convs = nn.ModuleList(
            ConvNorm(dim, dim, 1, act=lateral_act) for _ in range(steps)
        )
        self.downsample_convs = nn.ModuleList(self.downsample(dim, act) for _ in range(steps))

    def downsample(self, dim: int, act: str) -> nn.Module:
        """The bottom-up path's stride-2 step: a 3x3 ConvNorm, as RT-DETR's."""
        return ConvNorm(dim, dim, 3, 2, act=act)

    def merge_down(self, step: int, upsampled: Tensor, finer: Tensor) -> Tensor:
        raise NotImplementedError

    def merge_up(self, step: int, downsampled: Tensor, lateral: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        steps = len(feats) - 1
        inner = [feats[-1]]  # grows coarse to fine; reversed below
        for step in range(steps):
            lateral = self.lateral_convs[step](inner[-1])
            inner[-1] = lateral  # bottom-up meets the lateral map, as in the reference
            upsampled = F.interpolate(lateral, scale_factor=2.0, mode="nearest")
            inner.append(self.merge_down(step, upsampled, feats[steps - 1 - step]))
        inner.reverse()  # fine to coarse: [S3, S4, S5]
        outs = [inner[0]]
        for step in range(steps):
            downsampled = self.downsample_convs[step](outs[-1])
            outs.append(self.merge_up(step, downsampled, inner[step + 1]))
        return outs  # three [B, C, Hl, Wl]


class CCFF(TopDownBottomUp):
    """Concatenate the two maps (2C channels) and fuse with a CSPRep block back to C."""

    options = ("depth", "expansion")  # the spec's fusion fields this block takes

    def __init__(
        self, dim: int, num_levels: int = 3, *, depth: int = 3, expansion: float = 1.0,
        act: str = "silu",
    ):  # fmt: skip
        super().__init__(dim, num_levels, act)
        steps = num_levels - 1
        self.fpn_blocks = nn.ModuleList(
            CSPRepBlock(2 * dim, dim, depth, act, expansion) for _ in range(steps)
        )
        self.pan_blocks = nn.ModuleList(
            CSPRepBlock(2 * dim, dim, depth, act, expansion) for _ in range(steps)
        )

    def merge_down(self, step: int, upsampled: Tensor, finer: Tensor) -> Tensor:
        return self.fpn_blocks[step](torch.cat([upsampled, finer], dim=1))

    def merge_up(self, step: int, downsampled: Tensor, lateral: Tensor) -> Tensor:
        return self.pan_blocks[step](torch.cat([downsampled, lateral], dim=1))


class PANetFusion(TopDownBottomUp):
    """Our reading of the paper's PANet-style fusion (docs/design.md, "The variants"): element-wise
    sums, a 3x3 ConvNorm after each bottom-up sum, no RepVGG and no CSP."""

    options = ()

    def __init__(self, dim: int, num_levels: int = 3, *, act: str = "silu"):
        super().__init__(dim, num_levels, act)
        steps = num_levels - 1
        self.pan_blocks = nn.ModuleList(ConvNorm(dim, dim, 3, act=act) for _ in range(steps))

    def merge_down(self, step: int, upsampled: Tensor, finer: Tensor) -> Tensor:
        return upsampled + finer

    def merge_up(self, step: int, downsampled: Tensor, lateral: Tensor) -> Tensor:
        return self.pan_blocks[step](downsampled + lateral)


class ELANFusion(TopDownBottomUp):
    """D-FINE's fusion: the CCFF walk with RepNCSPELAN4 blocks (split 2C, branches of
    round(expansion x C / 2) channels), SCDown for the bottom-up steps, and 1x1 laterals without
    activation (D-FINE's `HybridEncoder`)."""

    options = ("depth", "expansion")

    def __init__(
        self, dim: int, num_levels: int = 3, *, depth: int = 3, expansion: float = 1.0,
        act: str = "silu",
    ):  # fmt: skip
        super().__init__(dim, num_levels, act, lateral_act=None)
        steps, branch = num_levels - 1, round(expansion * dim // 2)
        self.fpn_blocks = nn.ModuleList(
            RepNCSPELAN4(2 * dim, dim, 2 * dim, branch, depth, act) for _ in range(steps)
        )
        self.pan_blocks = nn.ModuleList(
            RepNCSPELAN4(2 * dim, dim, 2 * dim, branch, depth, act) for _ in range(steps)
        )

    def downsample(self, dim: int, act: str) -> nn.Module:
        return SCDown(dim)

    def merge_down(self, step: int, upsampled: Tensor, finer: Tensor) -> Tensor:
        return self.fpn_blocks[step](torch.cat([upsampled, finer], dim=1))

    def merge_up(self, step: int, downsampled: Tensor, lateral: Tensor) -> Tensor:
        return self.pan_blocks[step](torch.cat([downsampled, lateral], dim=1))


FUSION_BLOCKS: dict[str, type[TopDownBottomUp]] = {
    "panet": PANetFusion,
    "ccff": CCFF,
    "elan": ELANFusion,
}  # a spec's fusion.type "none" means no block
