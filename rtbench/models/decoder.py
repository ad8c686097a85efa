"""RT-DETR decoder, inference path only (docs/design.md, "Detector scope"; paper section 4.3).

Uncertainty-minimal query selection picks the top-scoring encoder cells as initial queries and
boxes; six layers of self-attention, multi-scale deformable cross-attention (Zhu et al.,
Deformable DETR, 2021, eq. 3, with the box-scaled offsets of the reference) and FFN then refine
the boxes layer by layer. Follows the reference `rtdetr_pytorch/src/zoo/rtdetr/rtdetr_decoder.py`
(RTDETRTransformer, TransformerDecoder, MSDeformableAttention): same modules, same shapes, same
parameter count (7,466,508), same initialisation. Denoising training and auxiliary outputs are
left out; the denoising class embedding is kept because it counts in #Params.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rtbench.models.blocks import ConvNorm

Shapes = list[tuple[int, int]]


class MLP(nn.Module):
    """Linear layers with ReLU between them (none after the last)."""

    def __init__(self, c_in: int, hidden: int, c_out: int, num_layers: int):
        super().__init__()
        dims = [c_in] + [hidden] * (num_layers - 1) + [c_out]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    # Clamped so boxes that reach 0 or 1 (e.g. from masked +inf anchors) stay finite.
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class MSDeformableAttention(nn.Module):
    """Each query samples num_points points per level around its reference box, per head."""

    def __init__(
        self, dim: int = 256, num_heads: int = 8, num_levels: int = 3, num_points: int = 4
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.num_levels, self.num_points = num_heads, num_levels, num_points
        n = num_heads * num_levels * num_points
        self.sampling_offsets = nn.Linear(dim, n * 2)
        self.attention_weights = nn.Linear(dim, n)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # As the reference: offsets start query-independent, head h looking along angle 2*pi*h/H,
        # point p at distance p+1; uniform attention weights. This sets where a fresh model samples.
        nn.init.zeros_(self.sampling_offsets.weight)
        theta = torch.arange(self.num_heads) * (2 * math.pi / self.num_heads)
        direction = torch.stack([theta.cos(), theta.sin()], -1)
        direction = direction / direction.abs().max(-1, keepdim=True).values
        scale = torch.arange(1, self.num_points + 1).view(1, 1, -1, 1)
        grid = direction.view(-1, 1, 1, 2) * scale  # [H, 1, P, 2]
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.expand(-1, self.num_levels, -1, -1).flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(self, query: Tensor, ref_boxes: Tensor, value: Tensor, shapes: Shapes) -> Tensor:
        B, Q, C = query.shape
        H, L, P = self.num_heads, self.num_levels, self.num_points
        value = self.value_proj(value).view(B, -1, H, C // H)  # [B, HW, H, Dh]
        offsets = self.sampling_offsets(query).view(B, Q, H, L, P, 2)
        weights = self.attention_weights(query).view(B, Q, H, L * P).softmax(-1)
        # Offsets are in units of the box half-size, spread over the points (reference, 4-d refs).
        ref = ref_boxes[:, :, None, None, None, :]  # [B, Q, 1, 1, 1, 4] as (cx, cy, w, h)
        loc = ref[..., :2] + offsets / P * ref[..., 2:] * 0.5  # [B, Q, H, L, P, 2] in [0, 1]
        grids = (2 * loc - 1).transpose(1, 2).flatten(0, 1)  # [B*H, Q, L, P, 2] in [-1, 1]

        sampled = []
        levels = value.split([h * w for h, w in shapes], 1)
        for lvl, (v, (h, w)) in enumerate(zip(levels, shapes, strict=True)):
            v = v.permute(0, 2, 3, 1).reshape(B * H, C // H, h, w)  # [B*H, Dh, h, w]
            sampled.append(
                F.grid_sample(
                    v, grids[:, :, lvl], mode="bilinear", padding_mode="zeros", align_corners=False
                )
            )  # [B*H, Dh, Q, P]
        sampled = torch.cat(sampled, -1).permute(0, 2, 1, 3)  # [B*H, Q, Dh, L*P]
        weights = weights.transpose(1, 2).reshape(B * H, Q, L * P, 1)
        # A matmul rather than mul + sum, so FLOP counters see the weighted sum as multiply-adds.
        out = (sampled @ weights).view(B, H, Q, C // H)  # [B, H, Q, Dh]
        return self.output_proj(out.transpose(1, 2).reshape(B, Q, C))  # [B, Q, C]


class DecoderLayer(nn.Module):
    """Post-norm: self-attention, deformable cross-attention, FFN, each + residual + LayerNorm."""

    def __init__(
        self,
        dim: int = 256,
        num_heads: int = 8,
        num_levels: int = 3,
        num_points: int = 4,
        ffn_dim: int = 1024,
    ):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn = MSDeformableAttention(dim, num_heads, num_levels, num_points)
        self.norm2 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(
        self, x: Tensor, pos: Tensor, ref_boxes: Tensor, memory: Tensor, shapes: Shapes
    ) -> Tensor:
        q = x + pos  # [B, Q, C]; position goes to queries and keys, not values
        # need_weights=False keeps the fused scaled_dot_product_attention path.
        x = self.norm1(x + self.self_attn(q, q, x, need_weights=False)[0])
        x = self.norm2(x + self.cross_attn(x + pos, ref_boxes, memory, shapes))
        return self.norm3(x + self.linear2(F.relu(self.linear1(x))))  # [B, Q, C]


def make_anchors(shapes: Shapes, eps: float = 1e-2) -> tuple[Tensor, Tensor]:
    """Anchor boxes (cx, cy, w, h) per cell as logits, +inf where masked; and the valid mask.

    A cell is valid when all four anchor coordinates lie in (eps, 1 - eps); at 640x640 this masks
    the outer ring of the stride-8 level (centres 0.5/80 < 0.01).
    """
    anchors = []
    for lvl, (h, w) in enumerate(shapes):
        y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        centre = (torch.stack([x, y], -1).float() + 0.5) / torch.tensor([w, h])  # [h, w, 2]
        size = torch.full_like(centre, 0.05 * 2**lvl)  # coarser level, bigger initial box
        anchors.append(torch.cat([centre, size], -1).view(h * w, 4))
    anchors = torch.cat(anchors)[None]  # [1, HW, 4]
    valid = ((anchors > eps) & (anchors < 1 - eps)).all(-1, keepdim=True)  # [1, HW, 1]
    logits = torch.log(anchors / (1 - anchors))
    return torch.where(valid, logits, torch.inf), valid


def min_square_input(num_queries: int = 300, num_levels: int = 3, eps: float = 1e-2) -> int:
    """Smallest multiple-of-32 square image whose levels (strides 8, 16, ...) hold enough cells."""
    side = 32
    while True:
        shapes = [(math.ceil(side / (8 * 2**lvl)),) * 2 for lvl in range(num_levels)]
        if int(make_anchors(shapes, eps)[1].sum()) >= num_queries:
            return side
        side += 32


class RTDETRDecoder(nn.Module):
    """Three maps (the encoder's width; R101 and X: 384) -> (logits [B, Q, K], boxes [B, Q, 4] as
    cx, cy, w, h in [0, 1]); its own input projection takes them to `hidden_dim`."""

    def __init__(
        self,
        in_channels: tuple[int, ...] = (256, 256, 256),
        hidden_dim: int = 256,
        num_queries: int = 300,
        num_layers: int = 6,
        num_heads: int = 8,
        num_points: int = 4,
        ffn_dim: int = 1024,
        num_classes: int = 80,
        eps: float = 1e-2,  # anchors closer than this to the image border are masked
        eval_idx: int = -1,  # the layer inference stops at (R50-m: 2 of 6); negative from the end
    ):
        super().__init__()
        if not -num_layers <= eval_idx < num_layers:
            raise ValueError(f"eval_idx {eval_idx} is not a layer of {num_layers}")
        self.num_queries, self.eps = num_queries, eps
        self.eval_idx = eval_idx % num_layers
        num_levels = len(in_channels)
        self.input_proj = nn.ModuleList(ConvNorm(c, hidden_dim, 1) for c in in_channels)
        # Training-only (denoising queries); kept so #Params matches the reference.
        self.denoising_class_embed = nn.Embedding(
            num_classes + 1, hidden_dim, padding_idx=num_classes
        )
        self.query_pos_head = MLP(4, 2 * hidden_dim, hidden_dim, 2)
        self.enc_output = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.LayerNorm(hidden_dim))
        self.enc_score_head = nn.Linear(hidden_dim, num_classes)
        self.enc_bbox_head = MLP(hidden_dim, hidden_dim, 4, 3)
        self.layers = nn.ModuleList(
            DecoderLayer(hidden_dim, num_heads, num_levels, num_points, ffn_dim)
            for _ in range(num_layers)
        )
        self.dec_score_head = nn.ModuleList(
            nn.Linear(hidden_dim, num_classes) for _ in range(num_layers)
        )
        self.dec_bbox_head = nn.ModuleList(
            MLP(hidden_dim, hidden_dim, 4, 3) for _ in range(num_layers)
        )
        # Anchors depend only on the spatial shapes: a cache, not parameters or buffers.
        self._anchor_cache: dict[tuple, tuple[Tensor, Tensor, int]] = {}
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # As the reference: class bias for a 1% prior, box heads start at "no refinement".
        prior = -math.log((1 - 0.01) / 0.01)
        for head in (self.enc_score_head, *self.dec_score_head):
            nn.init.constant_(head.bias, prior)
        for mlp in (self.enc_bbox_head, *self.dec_bbox_head):
            nn.init.zeros_(mlp.layers[-1].weight)
            nn.init.zeros_(mlp.layers[-1].bias)
        nn.init.xavier_uniform_(self.enc_output[0].weight)
        for layer in self.query_pos_head.layers:
            nn.init.xavier_uniform_(layer.weight)

    def _anchors(self, shapes: Shapes, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (tuple(shapes), like.device, like.dtype)
        if key not in self._anchor_cache:
            anchors, valid = make_anchors(shapes, self.eps)
            num_valid = int(valid.sum())
            self._anchor_cache[key] = (anchors.to(like), valid.to(like), num_valid)
        anchors, valid, num_valid = self._anchor_cache[key]
        if num_valid < self.num_queries:
            side = min_square_input(self.num_queries, len(shapes), self.eps)
            raise ValueError(
                f"input too small: feature maps {shapes} give {num_valid} valid anchor cells, "
                f"fewer than num_queries={self.num_queries}; with levels at strides 8/16/32 the "
                f"image must be at least {side}x{side} pixels"
            )
        return anchors, valid

    def forward(self, feats: list[Tensor]) -> tuple[Tensor, Tensor]:
        logits, boxes, _ = self.decode(feats)
        return logits, boxes  # [B, Q, K], [B, Q, 4]

    def decode(
        self, feats: list[Tensor], cells: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(logits, boxes, cells): `cells` [B, Q] are the encoder cells the queries start from.

        Passing `cells` replays a given selection instead of the top-scoring one: two runs of the
        same decoder (eager and an exported graph, say) can then be compared on equal terms
        where near-tied scores let rounding pick different cells.
        """
        proj = [p(f) for p, f in zip(self.input_proj, feats, strict=True)]  # each [B, C, Hl, Wl]
        shapes = [(f.shape[2], f.shape[3]) for f in proj]
        memory = torch.cat([f.flatten(2).transpose(1, 2) for f in proj], 1)  # [B, HW, C]
        C = memory.shape[2]
        anchors, valid = self._anchors(shapes, memory)  # [1, HW, 4], [1, HW, 1]

        # Query selection. As in the reference, masked cells are zeroed only here; the
        # cross-attention below samples the unmasked memory.
        enc = self.enc_output(memory * valid)  # [B, HW, C]
        scores = self.enc_score_head(enc)  # [B, HW, K]
        boxes = self.enc_bbox_head(enc) + anchors  # [B, HW, 4], logits
        if cells is None:
            cells = torch.topk(scores.max(-1).values, self.num_queries, dim=1).indices  # [B, Q]
        x = enc.gather(1, cells[..., None].expand(-1, -1, C))  # [B, Q, C]
        boxes = boxes.gather(1, cells[..., None].expand(-1, -1, 4)).sigmoid()  # [B, Q, 4]

        # Inference runs the layers up to eval_idx and scores that one only; the layers after it
        # are trained (and counted in #Params) but never run.
        last = self.eval_idx + 1
        for layer, bbox_head in zip(self.layers[:last], self.dec_bbox_head[:last], strict=True):
            pos = self.query_pos_head(boxes)  # [B, Q, C]
            x = layer(x, pos, boxes, memory, shapes)  # [B, Q, C]
            boxes = torch.sigmoid(bbox_head(x) + inverse_sigmoid(boxes))  # [B, Q, 4]
        scores = self.dec_score_head[self.eval_idx](x)
        return scores, boxes, cells  # [B, Q, K], [B, Q, 4], [B, Q]
