"""ResNet-50-vd backbone ("PResNet-50-vd") of RT-DETR-R50 (docs/design.md, "Detector scope").

The "vd" tweaks (He et al., "Bag of Tricks", 2019): a deep stem of three 3x3 convs instead of one
7x7, stride on the 3x3 conv of the bottleneck, and downsampling shortcuts that average-pool before
their 1x1 conv so they see every input pixel. Layer names (branch2a/b/c, short) follow the reference
RT-DETR code (`rtdetr_pytorch/src/nn/backbone/presnet.py`).

Parameter count: as in the reference, every norm is frozen (FrozenBatchNorm2d keeps gamma and beta
as buffers), so the 53,248 BN affine terms are not parameters: 23,474,016 (23.47M), and the whole
RT-DETR-R50 42.89M, the reference's figure.
"""

from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand x4, plus shortcut, then ReLU."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        c_out = width * self.expansion
        self.branch2a = ConvNorm(c_in, width, 1, act="relu", frozen_norm=True)
        self.branch2b = ConvNorm(width, width, 3, stride, act="relu", frozen_norm=True)
        self.branch2c = ConvNorm(width, c_out, 1, frozen_norm=True)
        if c_in == c_out and stride == 1:
            self.short: nn.Module = nn.Identity()
        elif stride > 1:
            # vd: pool first so the strided shortcut does not drop 3 of every 4 pixels.
            self.short = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True),
                ConvNorm(c_in, c_out, 1, frozen_norm=True),
            )
        else:
            self.short = ConvNorm(c_in, c_out, 1, frozen_norm=True)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch2c(self.branch2b(self.branch2a(x)))
        return self.act(out + self.short(x))


class ResNet50vd(nn.Module):
    """Returns the outputs of stages 2, 3, 4 (strides 8, 16, 32), the encoder's S3, S4, S5."""

    out_channels = (512, 1024, 2048)

    def __init__(
        self,
        depths: tuple[int, ...] = (3, 4, 6, 3),
        widths: tuple[int, ...] = (64, 128, 256, 512),
    ):
        super().__init__()
        self.stem = nn.Sequential(
            ConvNorm(3, 32, 3, 2, act="relu", frozen_norm=True),
            ConvNorm(32, 32, 3, act="relu", frozen_norm=True),
            ConvNorm(32, 64, 3, act="relu", frozen_norm=True),
        )
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.stages = nn.ModuleList()
        c_in = 64
        for i, (depth, width) in enumerate(zip(depths, widths, strict=True)):
            stride = 1 if i == 0 else 2  # stage 1 follows the max-pool, already at stride 4
            c_out = width * Bottleneck.expansion
            blocks = [Bottleneck(c_in, width, stride)]
            blocks += [Bottleneck(c_out, width) for _ in range(depth - 1)]
            self.stages.append(nn.Sequential(*blocks))
            c_in = c_out

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.pool(self.stem(x))  # [B, 64, H/4, W/4]
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)  # [B, 256 * 2**i, H / 2**(i+2), W / 2**(i+2)]
            if i >= 1:
                outs.append(x)
        return outs  # [B, 512, H/8, W/8], [B, 1024, H/16, W/16], [B, 2048, H/32, W/32]
