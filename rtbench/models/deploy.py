"""Deploy-time re-parameterisation: fold BatchNorm into convs, merge RepVGG branches.

RT-DETR's latency (paper section 5, TensorRT FP16) is measured on the deployed graph, where these
folds are done by the exporter. Reference: RepVGG (Ding et al., CVPR 2021, section 3.3) and
`RepVggBlock.convert_to_deploy` in the reference `rtdetr_pytorch/src/zoo/rtdetr/hybrid_encoder.py`.

Math. In eval mode BN is affine per output channel o:
    BN(z)_o = gamma_o * (z_o - mu_o) / sqrt(var_o + eps) + beta_o
so for z = W * x + b, with s_o = gamma_o / sqrt(var_o + eps):
    BN(W * x + b) = W' * x + b',   W'_o = s_o W_o,   b'_o = beta_o + s_o (b_o - mu_o).
A RepVGG block computes act(BN1(W3 * x) + BN2(W1 * x)). Fold each BN, then zero-pad the 1x1
kernel to 3x3 (its tap at the centre; with padding 1 vs 0 both read the same pixel), and add:
    W = W3' + pad(W1'),   b = b3' + b1'.
Both are exact up to float rounding.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm, FrozenBatchNorm2d, RepVGGBlock


def fuse_for_deploy(model: nn.Module) -> nn.Module:
    """In place: RepVGGBlock -> `fused` 3x3 conv with bias; every other ConvNorm -> conv with bias.

    The model must be in eval mode (BN must use its running statistics). Returns the model.
    """
    if any(m.training for m in model.modules()):
        raise ValueError("fuse_for_deploy needs a model in eval mode; call model.eval() first")
    with torch.no_grad():
        for m in list(model.modules()):
            if isinstance(m, RepVGGBlock) and m.fused is None:
                _fuse_repvgg(m)
        for m in list(model.modules()):  # after the above, so merged branches are not visited
            if isinstance(m, ConvNorm) and isinstance(m.norm, (nn.BatchNorm2d, FrozenBatchNorm2d)):
                weight, bias = _folded(m.conv, m.norm)
                m.conv = _conv_like(m.conv, weight, bias)
                m.norm = nn.Identity()
    return model


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d | FrozenBatchNorm2d) -> tuple[Tensor, Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # s_o
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return conv.weight * scale.view(-1, 1, 1, 1), bn.bias + scale * (bias - bn.running_mean)


def _conv_like(conv: nn.Conv2d, weight: Tensor, bias: Tensor) -> nn.Conv2d:
    out = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        weight.shape[-2:],
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
        device=weight.device,
        dtype=weight.dtype,
    )
    out.weight.copy_(weight)
    out.bias.copy_(bias)
    return out


def _fuse_repvgg(block: RepVGGBlock) -> None:
    c3, c1 = block.conv1.conv, block.conv2.conv
    if c3.kernel_size != (3, 3) or c1.kernel_size != (1, 1) or c3.stride != c1.stride:
        raise ValueError("RepVGG fusion expects a 3x3 and a 1x1 branch with the same stride")
    w3, b3 = _folded(c3, block.conv1.norm)
    w1, b1 = _folded(c1, block.conv2.norm)
    block.fused = _conv_like(c3, w3 + F.pad(w1, [1, 1, 1, 1]), b3 + b1)
    del block.conv1, block.conv2  # so parameter counts reflect the deploy form
