"""The encoder every variant shares in shape: input projection -> intra-scale -> cross-scale.

Input: S3, S4, S5 backbone maps (512, 1024, 2048 channels at strides 8, 16, 32).
Output: three `dim`-channel maps at the same strides. `parts()` names the three parts
(`input_proj`, `intra`, `fusion`) so params, FLOPs and latency can be reported per part.
"""

from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm


class InputProjection(nn.ModuleList):
    """Per level a 1x1 ConvNorm without activation, C_in -> dim."""

    def __init__(self, in_channels: tuple[int, ...], dim: int):
        super().__init__(ConvNorm(c, dim, 1) for c in in_channels)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        return [proj(f) for proj, f in zip(self, feats, strict=True)]  # [B, dim, Hl, Wl] each


class HybridEncoder(nn.Module):
    def __init__(
        self,
        in_channels: tuple[int, ...],
        dim: int,
        intra: nn.Module | None,
        fusion: nn.Module | None,
    ):
        super().__init__()
        self.input_proj = InputProjection(in_channels, dim)
        self.intra = intra
        self.fusion = fusion

    def parts(self) -> dict[str, nn.Module | None]:
        """The parts in the order data flows through them; None where a variant has none."""
        return {"input_proj": self.input_proj, "intra": self.intra, "fusion": self.fusion}

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        maps = self.input_proj(feats)  # [B, C, Hl, Wl] each
        if self.intra is not None:
            maps = self.intra(maps)
        if self.fusion is not None:
            maps = self.fusion(maps)
        return maps
