"""Small network blocks shared by several methods."""

from reprolab.nets.mlp import MLPBackbone
from reprolab.nets.resnet import cifar_resnet18

__all__ = ["MLPBackbone", "cifar_resnet18"]
