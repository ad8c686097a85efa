"""Fixed 2D sin-cos position embedding of RT-DETR's AIFI (paper section 4.2).

It equals, value for value, `HybridEncoder.build_2d_sincos_position_embedding(w, h, ...)` of the
reference RT-DETR (lyuwenyu/RT-DETR, rtdetr_pytorch/src/zoo/rtdetr/hybrid_encoder.py), which
`HybridEncoder.forward` adds to the tokens of a [B, C, h, w] map flattened row-major
(`x.flatten(2)`, token t at row t // w, column t % w).

The channels split in four quarters of dim / 4, with frequencies omega_i = 1 / temperature^(i / (dim
/ 4)): sin(a * omega), cos(a * omega), sin(b * omega), cos(b * omega), where for token t
a = t // height and b = t % height. On a square map a is the token's row and b its column; on a
non-square map the reference's pairing of grid and tokens mixes the two, and so does this module.
"""

import torch
from torch import Tensor


def sincos_2d(height: int, width: int, dim: int, temperature: float = 10000.0) -> Tensor:
    """[1, height * width, dim] embedding for a height x width map with row-major tokens."""
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    # The reference names its first quarters "w", but its grid runs over width then height, so
    # against row-major tokens they follow t // height: the row (not the column) on a square map.
    token = torch.arange(height * width)
    a = (token // height).to(torch.float32)[:, None] * omega[None]  # [HW, dim/4]
    b = (token % height).to(torch.float32)[:, None] * omega[None]
    embedding = torch.cat([a.sin(), a.cos(), b.sin(), b.cos()], dim=1)
    return embedding[None]  # [1, HW, dim]


class SinCosCache:
    """Embeddings per (height, width, device, dtype): a deployed model holds them as constants."""

    def __init__(self, dim: int, temperature: float = 10000.0):
        self.dim, self.temperature = dim, temperature
        self._cache: dict[tuple, Tensor] = {}

    def __call__(self, height: int, width: int, like: Tensor) -> Tensor:
        key = (height, width, like.device, like.dtype)
        if key not in self._cache:
            embedding = sincos_2d(height, width, self.dim, self.temperature)
            self._cache[key] = embedding.to(device=like.device, dtype=like.dtype)
        return self._cache[key]
