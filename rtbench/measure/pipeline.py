"""End-to-end latency: an image as a user holds it, to detections as a user reads them.

One end-to-end call, at detector scope:

    a uint8 frame [H, W, 3] in host memory (an HD camera frame, FRAME)
    -> resize to the model's square input (bilinear) and scale to [0, 1], on the host (torch):
       RT-DETR's val transform (Resize, then ToImageTensor and ConvertDtype)
    -> copy to the device
    -> the model, in the runtime timed (its `infer`)
    -> RT-DETR's post-processor, on the device: sigmoid scores, the top 300 over queries x
       classes (label = index mod classes, query = index // classes), boxes cxcywh -> xyxy
       scaled to the frame's size; no NMS (the paper's point)
    -> labels, boxes and scores in host memory.

Clocked by the wall clock: what the user waits for, copies and synchronisation included (the
last copy to the host waits for the device). The forward latency is the model alone, inputs
already on the device: the paper's protocol.
"""

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

FRAME = (720, 1280)  # H, W: an HD camera frame
TOP = 300  # detections kept, as RT-DETR's post-processor keeps them
WHERE = {
    "preprocess": "host (torch)",
    "copy": "host to device",
    "postprocess": "device (torch), then copied to the host",
}

Infer = Callable[[Tensor], list]  # model input on the device -> [logits, boxes, ...]


def make_frame(seed: int = 0, shape: tuple[int, int] = FRAME) -> np.ndarray:
    """A deterministic uint8 frame [H, W, 3]; its content does not change the work done."""
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def preprocess(frame: np.ndarray, size: int, batch: int) -> Tensor:
    """[H, W, 3] uint8 -> [B, 3, size, size] float32 in [0, 1], on the host."""
    image = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float()  # [1, 3, H, W]
    image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)
    return (image / 255.0).expand(batch, -1, -1, -1).contiguous()  # [B, 3, size, size]


def postprocess(
    logits: Tensor, boxes: Tensor, frame_hw: tuple[int, int], top: int = TOP
) -> tuple[Tensor, Tensor, Tensor]:
    """RT-DETR's post-processing: (labels [B, top], boxes xyxy in pixels [B, top, 4],
    scores [B, top]), on the device the inputs are on."""
    batch, queries, classes = logits.shape  # [B, Q, K]
    scores, index = logits.float().sigmoid().flatten(1).topk(top, dim=1)  # [B, top]
    labels, query = index % classes, index // classes
    picked = boxes.float().gather(1, query.unsqueeze(-1).expand(-1, -1, 4))  # [B, top, 4] cxcywh
    cx, cy, w, h = picked.unbind(-1)
    height, width = frame_hw
    scale = torch.tensor([width, height, width, height], device=picked.device)
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1) * scale
    return labels, xyxy, scores


def end_to_end_step(
    frame: np.ndarray, size: int, batch: int, device: torch.device, infer: Infer
) -> Callable[[], tuple[Tensor, Tensor, Tensor]]:
    """One end-to-end call: detections for `frame`, in host memory."""

    def step():
        with torch.inference_mode():
            image = preprocess(frame, size, batch).to(device)
            logits, boxes = infer(image)[:2]
            logits, boxes = torch.as_tensor(logits), torch.as_tensor(boxes)
            labels, xyxy, scores = postprocess(logits, boxes, frame.shape[:2])
            return labels.cpu(), xyxy.cpu(), scores.cpu()

    return step
