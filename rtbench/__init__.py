"""rtbench: the encoder ablation of RT-DETR (Zhao et al., CVPR 2024, Table 3), measured."""

__version__ = "0.1.0"
