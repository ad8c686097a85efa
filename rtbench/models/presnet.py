"""PResNet-vd backbones of RT-DETR-R18/R34/R50/R101 (docs/design.md, "Detector scope").

The "vd" tweaks (He et al., "Bag of Tricks", 2019): a deep stem of three 3x3 convs instead of one
7x7, stride on the 3x3 conv of the bottleneck, and downsampling shortcuts that average-pool before
their 1x1 conv so they see every input pixel. Depths 18 and 34 use basic blocks (two 3x3 convs),
50 and 101 bottlenecks. Layer names (branch2a/b/c, short) and the stage tables follow the reference
RT-DETR code (`rtdetr_pytorch/src/nn/backbone/presnet.py`); as there, the first block of every
stage has a projection shortcut, even where its channels and stride would allow an identity (the
first basic block of R18/R34: a 1x1 ConvNorm 64 -> 64).

Parameter count: R50 and R101 freeze their norms as the reference configs do (FrozenBatchNorm2d
keeps gamma and beta as buffers), so ResNet-50-vd has 23,474,016 parameters (23.47M) and the whole
RT-DETR-R50 42.89M, the reference's figure. R18 and R34 train their norms (`freeze_norm: False`
in their configs): their BN affine terms are parameters.
"""

from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm

# Blocks per stage (stages 1-4 at strides 4, 8, 16, 32), as in the reference's ResNet_cfg.
STAGE_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
STAGE_WIDTHS = (64, 128, 256, 512)


def projection(c_in: int, c_out: int, stride: int, frozen: bool) -> nn.Module:
    """The shortcut of a stage's first block; vd: pool first so a strided shortcut does not drop
    3 of every 4 pixels."""
    conv = ConvNorm(c_in, c_out, 1, frozen_norm=frozen)
    if stride == 1:
        return conv
    return nn.Sequential(nn.AvgPool2d(stride, stride, ceil_mode=True), conv)


class BasicBlock(nn.Module):
    """3x3 (carries the stride) -> 3x3, plus shortcut, then ReLU (R18, R34)."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int, first: bool, frozen: bool):
        super().__init__()
        self.branch2a = ConvNorm(c_in, width, 3, stride, act="relu", frozen_norm=frozen)
        self.branch2b = ConvNorm(width, width, 3, frozen_norm=frozen)
        self.short = projection(c_in, width, stride, frozen) if first else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.branch2b(self.branch2a(x)) + self.short(x))


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand x4, plus shortcut, then ReLU."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int, first: bool, frozen: bool):
        super().__init__()
        c_out = width * self.expansion
        self.branch2a = ConvNorm(c_in, width, 1, act="relu", frozen_norm=frozen)
        self.branch2b = ConvNorm(width, width, 3, stride, act="relu", frozen_norm=frozen)
        self.branch2c = ConvNorm(width, c_out, 1, frozen_norm=frozen)
        self.short = projection(c_in, c_out, stride, frozen) if first else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch2c(self.branch2b(self.branch2a(x)))
        return self.act(out + self.short(x))


class PResNet(nn.Module):
    """Returns the outputs of stages 2, 3, 4 (strides 8, 16, 32), the encoder's S3, S4, S5."""

    options = ("depth", "freeze_norm")  # the spec's backbone fields it takes

    def __init__(self, depth: int = 50, freeze_norm: bool = True):
        super().__init__()
        if depth not in STAGE_DEPTHS:
            raise ValueError(f"PResNet depth {depth}; choose from {sorted(STAGE_DEPTHS)}")
        block = BasicBlock if depth < 50 else Bottleneck
        frozen = freeze_norm  # short: it goes to every ConvNorm below
        self.stem = nn.Sequential(
            ConvNorm(3, 32, 3, 2, act="relu", frozen_norm=frozen),
            ConvNorm(32, 32, 3, act="relu", frozen_norm=frozen),
            ConvNorm(32, 64, 3, act="relu", frozen_norm=frozen),
        )
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.stages = nn.ModuleList()
        c_in = 64
        for i, (count, width) in enumerate(zip(STAGE_DEPTHS[depth], STAGE_WIDTHS, strict=True)):
            stride = 1 if i == 0 else 2  # stage 1 follows the max-pool, already at stride 4
            blocks = [block(c_in, width, stride, True, frozen)]
            c_in = width * block.expansion
            blocks += [block(c_in, width, 1, False, frozen) for _ in range(count - 1)]
            self.stages.append(nn.Sequential(*blocks))
        self.out_channels = tuple(w * block.expansion for w in STAGE_WIDTHS[1:])

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.pool(self.stem(x))  # [B, 64, H/4, W/4]
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)  # [B, C_i, H / 2**(i+2), W / 2**(i+2)]
            if i >= 1:
                outs.append(x)
        return outs  # R50: [B, 512, H/8, W/8], [B, 1024, H/16, W/16], [B, 2048, H/32, W/32]
