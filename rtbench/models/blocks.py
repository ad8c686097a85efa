"""Convolutional building blocks of RT-DETR's hybrid encoder (docs/design.md, "Building blocks").

Layer names (conv, norm, conv1, conv2, bottlenecks) follow the reference RT-DETR-R50 code so a
reader can hold the two side by side. A block that changes form for deployment says how in its
own `convert_to_deploy` (as the reference's RepVggBlock does); `models.deploy` only walks the tree.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rtbench.models.deploy import conv_with_bias, fold_norm


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
        groups: int = 1,  # c_in: depthwise (HGNetv2's light blocks, SCDown)
    ):
        super().__init__()
        padding = (kernel - 1) // 2
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
        self.norm = FrozenBatchNorm2d(c_out) if frozen_norm else nn.BatchNorm2d(c_out)
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))

    def convert_to_deploy(self) -> None:
        """Fold the norm into the conv: one conv with bias."""
        if isinstance(self.norm, nn.Identity):
            return
        self.conv = conv_with_bias(self.conv, *fold_norm(self.conv, self.norm))
        self.norm = nn.Identity()


class RepVGGBlock(nn.Module):
    """3x3 ConvNorm + 1x1 ConvNorm on the same input, summed, then the activation.

    `convert_to_deploy` merges the two branches into one 3x3 conv with bias (`fused`).
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

    def convert_to_deploy(self) -> None:
        """Fold each branch's norm, pad the 1x1 kernel to 3x3 (its tap at the centre reads the
        same pixel) and add: W = W3' + pad(W1'), b = b3' + b1'."""
        if self.fused is not None:
            return
        c3, c1 = self.conv1.conv, self.conv2.conv
        if c3.kernel_size != (3, 3) or c1.kernel_size != (1, 1) or c3.stride != c1.stride:
            raise ValueError("RepVGG fusion expects a 3x3 and a 1x1 branch with the same stride")
        w3, b3 = fold_norm(c3, self.conv1.norm)
        w1, b1 = fold_norm(c1, self.conv2.norm)
        self.fused = conv_with_bias(c3, w3 + F.pad(w1, [1, 1, 1, 1]), b3 + b1)
        del self.conv1, self.conv2  # so parameter counts reflect the deploy form


class CSPRepBlock(nn.Module):
    """CCFF fusion block: two 1x1 paths from 2C to hidden = C x expansion, one through N RepVGG
    blocks, added; a third 1x1 ConvNorm takes hidden back to C where they differ (expansion 0.5
    in R18, R34, R50-m; at 1.0, RT-DETR-R50's, it is an identity)."""

    def __init__(
        self, c_in: int, c_out: int, depth: int = 3, act: str = "silu", expansion: float = 1.0
    ):
        super().__init__()
        hidden = int(c_out * expansion)  # int() truncates, as the reference does
        self.conv1 = ConvNorm(c_in, hidden, 1, act=act)
        self.conv2 = ConvNorm(c_in, hidden, 1, act=act)
        self.bottlenecks = nn.Sequential(*(RepVGGBlock(hidden, act) for _ in range(depth)))
        self.conv3 = ConvNorm(hidden, c_out, 1, act=act) if hidden != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(self.bottlenecks(self.conv1(x)) + self.conv2(x))  # [B, c_out, H, W]


class RepNCSPELAN4(nn.Module):
    """D-FINE's fusion block (CSP-ELAN; its `hybrid_encoder.py`): a 1x1 to `c_split` channels split
    in halves; the second half runs through two stages in a chain, each a CSPRep block and a 3x3
    ConvNorm at `c_branch` channels; the halves and both stages' outputs are concatenated and a
    1x1 takes them to `c_out`."""

    def __init__(
        self, c_in: int, c_out: int, c_split: int, c_branch: int, depth: int, act: str = "silu"
    ):
        super().__init__()
        self.half = c_split // 2
        self.cv1 = ConvNorm(c_in, c_split, 1, act=act)
        self.cv2 = nn.Sequential(
            CSPRepBlock(self.half, c_branch, depth, act), ConvNorm(c_branch, c_branch, 3, act=act)
        )
        self.cv3 = nn.Sequential(
            CSPRepBlock(c_branch, c_branch, depth, act), ConvNorm(c_branch, c_branch, 3, act=act)
        )
        self.cv4 = ConvNorm(c_split + 2 * c_branch, c_out, 1, act=act)

    def forward(self, x: Tensor) -> Tensor:
        kept, chained = self.cv1(x).split(self.half, dim=1)  # [B, c_split / 2, H, W] each
        second = self.cv2(chained)  # [B, c_branch, H, W]
        third = self.cv3(second)
        return self.cv4(torch.cat([kept, chained, second, third], dim=1))  # [B, c_out, H, W]


class SCDown(nn.Module):
    """D-FINE's downsampling: a 1x1 ConvNorm, then a depthwise kxk strided ConvNorm (no
    activations): a fraction of a full 3x3 stride-2 conv's MACs."""

    def __init__(self, channels: int, kernel: int = 3, stride: int = 2):
        super().__init__()
        self.cv1 = ConvNorm(channels, channels, 1)
        self.cv2 = ConvNorm(channels, channels, kernel, stride, groups=channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.cv2(self.cv1(x))


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
