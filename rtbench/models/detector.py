"""The whole detector of a Table 3 row: ResNet-50-vd -> variant encoder -> RT-DETR decoder."""

from torch import Tensor, nn


class Detector(nn.Module):
    def __init__(self, backbone: nn.Module, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.encoder = encoder
        self.decoder = decoder

    def parts(self) -> dict[str, nn.Module | None]:
        """Backbone, the encoder's parts, decoder: the order data flows through them."""
        return {"backbone": self.backbone, **self.encoder.parts(), "decoder": self.decoder}

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.backbone(images)  # [B, 512|1024|2048, H/8|16|32, W/8|16|32]
        return self.decoder(self.encoder(feats))  # logits [B, Q, 80], boxes [B, Q, 4]

    def decode(self, images: Tensor, cells: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(logits, boxes, cells): the forward with the decoder's query cells, or replaying
        given ones (RTDETRDecoder.decode)."""
        return self.decoder.decode(self.encoder(self.backbone(images)), cells)
