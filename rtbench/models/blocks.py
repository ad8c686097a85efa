"""Convolutional building blocks of RT-DETR's hybrid encoder (DESIGN.md section 3).

Layer names (conv, norm, conv1, conv2, bottlenecks) follow the reference RT-DETR-R50 code so a
reader can hold the two side by side.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose affine terms and statistics are buffers, not parameters.

    The reference backbone freezes its norms this way, so they are not trainable and do not count
    in #Params: ResNet-50-vd has 23.47M parameters, RT-DETR-R50 42.89M.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class ConvNorm(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> activation; 'same' padding for odd kernels."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int = 1,
        act: str | None = None,
        frozen_norm: bool = False,  # the backbone's norms are frozen, as in the reference
    ):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=(kernel - 1) // 2, bias=False)
        self.norm = FrozenBatchNorm2d(c_out) if frozen_norm else nn.BatchNorm2d(c_out)
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class RepVGGBlock(nn.Module):
    """3x3 ConvNorm + 1x1 ConvNorm on the same input, summed, then the activation.

    `rtbench.models.deploy` folds the two branches into one 3x3 conv with bias (`fused`).
    """

    def __init__(self, channels: int, act: str = "silu"):
        super().__init__()
        self.conv1 = ConvNorm(channels, channels, 3)
        self.conv2 = ConvNorm(channels, channels, 1)
        self.act = make_activation(act)
        self.fused: nn.Conv2d | None = None  # set by deploy-time fusion

    def forward(self, x: Tensor) -> Tensor:
        if self.fused is not None:
            return self.act(self.fused(x))
        return self.act(self.conv1(x) + self.conv2(x))


class CSPRepBlock(nn.Module):
    """CCFF fusion block: two 1x1 paths from 2C to C, one through N RepVGG blocks, added.

    Expansion is 1.0 (hidden = out channels), so the reference's third conv is an identity.
    """

    def __init__(self, c_in: int, c_out: int, depth: int = 3, act: str = "silu"):
        super().__init__()
        self.conv1 = ConvNorm(c_in, c_out, 1, act=act)
        self.conv2 = ConvNorm(c_in, c_out, 1, act=act)
        self.bottlenecks = nn.Sequential(*(RepVGGBlock(c_out, act) for _ in range(depth)))

    def forward(self, x: Tensor) -> Tensor:
        return self.bottlenecks(self.conv1(x)) + self.conv2(x)


ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU}


def make_activation(name: str | None) -> nn.Module:
    if name is None:
        return nn.Identity()
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}"
        ) from None
