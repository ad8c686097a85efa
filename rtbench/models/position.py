"""Fixed 2D sin-cos position embedding of RT-DETR's AIFI (paper section 4.2).

The channels split in four quarters: sin and cos of the x position, sin and cos of the y position,
with frequencies 1 / temperature^(i / quarter). Tokens are ordered row-major like `x.flatten(2)`.
"""

import torch
from torch import Tensor


def sincos_2d(height: int, width: int, dim: int, temperature: float = 10000.0) -> Tensor:
    """[1, height * width, dim] embedding for a height x width map."""
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32),
        torch.arange(width, dtype=torch.float32),
        indexing="ij",
    )
    x_angles = xs.flatten()[:, None] * omega[None]  # [HW, dim/4]
    y_angles = ys.flatten()[:, None] * omega[None]
    embedding = torch.cat([x_angles.sin(), x_angles.cos(), y_angles.sin(), y_angles.cos()], dim=1)
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
