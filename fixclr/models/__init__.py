"""Backbones, projection head and the classifier network."""

from fixclr.models.backbones import ResNetFeatures, SmallCNN, build_backbone
from fixclr.models.heads import ProjectionHead, SSLNet, at_least_float32
from fixclr.models.weights import load_imagenet_state_dict


def build_model(cfg: dict, num_classes: int) -> SSLNet:
    """The network a fold trains, from its resolved config."""
    backbone = build_backbone(cfg["backbone"], cfg["width"], cfg["pretrained"], cfg["weights"],
                              cfg["cnn_stages"], cfg["cnn_convs_per_stage"])
    embedding = cfg["fixclr"]["embedding"] if cfg["regularizer"] == "fixclr" else None
    return SSLNet(backbone, num_classes, embedding, cfg["proj_dim"])


__all__ = ["ProjectionHead", "at_least_float32", "ResNetFeatures", "SSLNet", "SmallCNN", "build_backbone", "build_model", "load_imagenet_state_dict"]
