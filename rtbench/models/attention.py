"""Intra-scale interaction: the transformer encoder layer and the ways variants apply it.

Every intra-scale block takes (dim, levels, heads, ffn_dim, layers) and the keyword options it
lists in `options`; `INTRA_BLOCKS` maps a spec's `intra.mode` to its class.

Layer layout follows the reference RT-DETR `TransformerEncoderLayer` (post-norm,
nn.MultiheadAttention with batch_first, FFN with GELU, dropout 0): the same modules and parameter
shapes. Attention runs through the fused path (`need_weights=False` reaches SDPA).
"""

import torch
from torch import Tensor, nn

from rtbench.models.position import SinCosCache


class TransformerEncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.activation = nn.GELU()

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:
        q = k = src + pos  # positions go to queries and keys, not values
        attended = self.self_attn(q, k, value=src, need_weights=False)[0]
        src = self.norm1(src + attended)  # [B, L, C]
        return self.norm2(src + self.linear2(self.activation(self.linear1(src))))


class TransformerEncoder(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(dim, heads, ffn_dim) for _ in range(layers)
        )

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:
        for layer in self.layers:
            src = layer(src, pos)
        return src


class PerLevelAttention(nn.Module):
    """Each chosen level attends within itself (variants B, D, Ds5 and E's AIFI).

    With `shared`, one encoder's weights serve every level (B, D); otherwise one encoder per level.
    """

    options = ("shared",)  # the spec's intra fields this block takes besides the common ones

    def __init__(
        self, dim: int, levels: tuple[int, ...], heads: int, ffn_dim: int, layers: int, *,
        shared: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.levels = levels
        self.shared = shared
        copies = 1 if shared else len(levels)
        self.encoder = nn.ModuleList(
            TransformerEncoder(dim, heads, ffn_dim, layers) for _ in range(copies)
        )
        self.pos = SinCosCache(dim)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        feats = list(feats)
        for i, level in enumerate(self.levels):
            encoder = self.encoder[0 if self.shared else i]
            b, c, h, w = feats[level].shape
            tokens = feats[level].flatten(2).permute(0, 2, 1)  # [B, HW, C]
            tokens = encoder(tokens, self.pos(h, w, tokens))
            feats[level] = tokens.permute(0, 2, 1).reshape(b, c, h, w).contiguous()
        return feats


class JointAttention(nn.Module):
    """One encoder over the chosen levels' tokens concatenated (variant C, 8400 tokens at 640).

    Each level keeps its own 2D sin-cos embedding; an optional learned level embedding tells the
    levels apart, as the spec file states.
    """

    options = ("level_embedding",)

    def __init__(
        self, dim: int, levels: tuple[int, ...], heads: int, ffn_dim: int, layers: int, *,
        level_embedding: bool = False,
    ):  # fmt: skip
        super().__init__()
        self.levels = levels
        self.encoder = TransformerEncoder(dim, heads, ffn_dim, layers)
        self.level_embed = nn.Embedding(len(levels), dim) if level_embedding else None
        self.pos = SinCosCache(dim)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        feats = list(feats)
        shapes = [feats[level].shape for level in self.levels]
        tokens, positions = [], []
        for i, level in enumerate(self.levels):
            _, _, h, w = feats[level].shape
            tokens.append(feats[level].flatten(2).permute(0, 2, 1))  # [B, HlWl, C]
            pos = self.pos(h, w, tokens[-1])
            if self.level_embed is not None:
                pos = pos + self.level_embed.weight[i]
            positions.append(pos)
        joint = self.encoder(torch.cat(tokens, dim=1), torch.cat(positions, dim=1))  # [B, ΣHW, C]
        pieces = joint.split([h * w for _, _, h, w in shapes], dim=1)
        for level, piece, (b, c, h, w) in zip(self.levels, pieces, shapes, strict=True):
            feats[level] = piece.permute(0, 2, 1).reshape(b, c, h, w).contiguous()
        return feats


INTRA_BLOCKS: dict[str, type[nn.Module]] = {
    "per_level": PerLevelAttention,
    "joint": JointAttention,
}  # a spec's intra.mode "none" means no block
