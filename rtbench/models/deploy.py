"""Deploy-time re-parameterisation: fold BatchNorm into convs, merge RepVGG branches.

RT-DETR's latency (paper section 5, TensorRT FP16) is measured on the deployed graph, where these
folds are done by the exporter. Reference: RepVGG (Ding et al., CVPR 2021, section 3.3) and
`RepVggBlock.convert_to_deploy` in the reference `rtdetr_pytorch/src/zoo/rtdetr/hybrid_encoder.py`.

Each re-parameterisable block knows its own conversion (`convert_to_deploy`); this module holds
the arithmetic they share and the walk over a model. In eval mode BN is affine per channel o:
    BN(z)_o = gamma_o * (z_o - mu_o) / sqrt(var_o + eps) + beta_o
so for z = W * x + b, with s_o = gamma_o / sqrt(var_o + eps):
    BN(W * x + b) = W' * x + b',   W'_o = s_o W_o,   b'_o = beta_o + s_o (b_o - mu_o).
Exact up to float rounding.
"""

import torch
from torch import Tensor, nn


def fuse_for_deploy(model: nn.Module) -> nn.Module:
    """In place: every block with a `convert_to_deploy` method converts itself; a converted block's
    children are its own business and are not visited. The model must be in eval mode (BN must
    use its running statistics). Returns the model."""
    if any(m.training for m in model.modules()):
        raise ValueError("fuse_for_deploy needs a model in eval mode; call model.eval() first")
    with torch.no_grad():
        _convert(model)
    return model


def _convert(module: nn.Module) -> None:
    convert = getattr(module, "convert_to_deploy", None)
    if callable(convert):
        convert()
        return
    for child in module.children():
        _convert(child)


def fold_norm(conv: nn.Conv2d, norm: nn.Module) -> tuple[Tensor, Tensor]:
    """(W', b') of conv followed by an eval-mode BatchNorm (frozen or not)."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # s_o
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    return conv.weight * scale.view(-1, 1, 1, 1), norm.bias + scale * (bias - norm.running_mean)


def conv_with_bias(conv: nn.Conv2d, weight: Tensor, bias: Tensor) -> nn.Conv2d:
    """A conv with `conv`'s geometry and the given weight and bias."""
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
    with torch.no_grad():
        out.weight.copy_(weight)
        out.bias.copy_(bias)
    return out
