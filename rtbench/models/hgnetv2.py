"""HGNetv2 backbones of RT-DETR-L and RT-DETR-X (PP-HGNetV2, PaddleDetection; the stage tables and
layer layout of the reference `rtdetrv2_pytorch/src/nn/backbone/hgnetv2.py`, archs L and X).

A stem (3x3 stride 2; a 2x2 conv pair beside a 2x2 max-pool, concatenated; 3x3 stride 2; 1x1) to
stride 4, then four stages. A stage starts with a depthwise 3x3 stride-2 ConvNorm (no activation;
not in stage 1) and stacks HG blocks: six convs in a chain, every intermediate map concatenated
with the block's input, squeezed by a 1x1 to half the output width and excited by a 1x1 to the
output width; blocks after the first add their input. "Light" blocks (stages 3, 4) replace each
chain conv by a 1x1 (no activation) and a depthwise kxk. All activations are ReLU; L and X use no
learnable affine blocks. As the RT-DETR configs do (`freeze_norm: True`), norms are frozen: their
affine terms are buffers, not parameters.
"""

import torch
from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm

# arch -> ((stem mid, stem out), stages); a stage is (in, mid, out, blocks, downsample, light,
# kernel), the reference's stage_config less layer_num, which is six everywhere (CHAIN).
ARCHS: dict[str, tuple[tuple[int, int], tuple[tuple, ...]]] = {
    "L": (
        (32, 48),
        (
            (48, 48, 128, 1, False, False, 3),
            (128, 96, 512, 1, True, False, 3),
            (512, 192, 1024, 3, True, True, 5),
            (1024, 384, 2048, 1, True, True, 5),
        ),
    ),
    "X": (
        (32, 64),
        (
            (64, 64, 128, 1, False, False, 3),
            (128, 128, 512, 2, True, False, 3),
            (512, 256, 1024, 5, True, True, 5),
            (1024, 512, 2048, 2, True, True, 5),
        ),
    ),
}
CHAIN = 6  # convs per HG block (the reference's layer_num)


def pad_right_bottom(conv: nn.Module) -> nn.Sequential:
    """A 2x2 conv or pool that keeps the map's size: one zero row and column after it, as the
    reference's 'same' padding."""
    return nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), conv)


class Stem(nn.Module):
    def __init__(self, mid: int, out: int, frozen: bool):
        super().__init__()
        self.stem1 = ConvNorm(3, mid, 3, 2, act="relu", frozen_norm=frozen)
        self.stem2a = pad_right_bottom(ConvNorm(mid, mid // 2, 2, act="relu", frozen_norm=frozen))
        self.stem2b = pad_right_bottom(ConvNorm(mid // 2, mid, 2, act="relu", frozen_norm=frozen))
        self.stem3 = ConvNorm(2 * mid, mid, 3, 2, act="relu", frozen_norm=frozen)
        self.stem4 = ConvNorm(mid, out, 1, act="relu", frozen_norm=frozen)
        self.pool = pad_right_bottom(nn.MaxPool2d(2, 1, ceil_mode=True))

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem1(x)  # [B, mid, H/2, W/2]
        x = torch.cat([self.pool(x), self.stem2b(self.stem2a(x))], dim=1)  # [B, 2 mid, H/2, W/2]
        return self.stem4(self.stem3(x))  # [B, out, H/4, W/4]


def chain_conv(c_in: int, c_out: int, kernel: int, light: bool, frozen: bool) -> nn.Module:
    if not light:
        return ConvNorm(c_in, c_out, kernel, act="relu", frozen_norm=frozen)
    return nn.Sequential(
        ConvNorm(c_in, c_out, 1, frozen_norm=frozen),
        ConvNorm(c_out, c_out, kernel, act="relu", frozen_norm=frozen, groups=c_out),
    )


class HGBlock(nn.Module):
    def __init__(
        self, c_in: int, mid: int, out: int, kernel: int, light: bool, residual: bool, frozen: bool
    ):  # fmt: skip
        super().__init__()
        self.residual = residual
        self.layers = nn.ModuleList(
            chain_conv(c_in if i == 0 else mid, mid, kernel, light, frozen) for i in range(CHAIN)
        )
        total = c_in + CHAIN * mid
        self.squeeze = ConvNorm(total, out // 2, 1, act="relu", frozen_norm=frozen)
        self.excite = ConvNorm(out // 2, out, 1, act="relu", frozen_norm=frozen)

    def forward(self, x: Tensor) -> Tensor:
        maps = [x]
        for layer in self.layers:
            maps.append(layer(maps[-1]))
        out = self.excite(self.squeeze(torch.cat(maps, dim=1)))  # [B, out, h, w]
        return out + x if self.residual else out


class HGStage(nn.Sequential):
    def __init__(self, cfg: tuple, frozen: bool):
        c_in, mid, out, blocks, downsample, light, kernel = cfg
        layers: list[nn.Module] = []
        if downsample:
            layers.append(ConvNorm(c_in, c_in, 3, 2, frozen_norm=frozen, groups=c_in))
        for i in range(blocks):
            layers.append(HGBlock(c_in if i == 0 else out, mid, out, kernel, light, i > 0, frozen))
        super().__init__(*layers)


class HGNetv2(nn.Module):
    """Returns the outputs of stages 2, 3, 4 (strides 8, 16, 32): 512, 1024, 2048 channels."""

    options = ("arch", "freeze_norm")  # the spec's backbone fields it takes

    def __init__(self, arch: str = "L", freeze_norm: bool = True):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"HGNetv2 arch {arch!r}; choose from {sorted(ARCHS)}")
        (stem_mid, stem_out), stages = ARCHS[arch]
        self.stem = Stem(stem_mid, stem_out, freeze_norm)
        self.stages = nn.ModuleList(HGStage(cfg, freeze_norm) for cfg in stages)
        self.out_channels = tuple(cfg[2] for cfg in stages[1:])

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)  # [B, C, H/4, W/4]
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 1:
                outs.append(x)
        return outs  # [B, 512, H/8, W/8], [B, 1024, H/16, W/16], [B, 2048, H/32, W/32]
