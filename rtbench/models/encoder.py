"""The encoder every variant shares in shape: input projection -> intra-scale -> cross-scale.

Input: S3, S4, S5 backbone maps (512, 1024, 2048 channels at strides 8, 16, 32).
Output: three `dim`-channel maps at the same strides. The three parts are named submodules
(`input_proj`, `intra`, `fusion`) so params and FLOPs can be reported per part.
"""

from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm


class HybridEncoder(nn.Module):
    def __init__(
        self,
        in_channels: tuple[int, ...],
        dim: int,
        intra: nn.Module | None,
        fusion: nn.Module | None,
    ):
        super().__init__()
        self.input_proj = nn.ModuleList(ConvNorm(c, dim, 1) for c in in_channels)  # no activation
        self.intra = intra
        self.fusion = fusion

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        maps = [proj(f) for proj, f in zip(self.input_proj, feats, strict=True)]  # [B, C, Hl, Wl]
        if self.intra is not None:
            maps = self.intra(maps)
        if self.fusion is not None:
            maps = self.fusion(maps)
        return maps
