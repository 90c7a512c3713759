"""Small network blocks shared by several methods."""

from reprolab.nets.cnn import LeNet5, MNISTCNN, NetCMNIST, Normalized, SmallCNN
from reprolab.nets.generator import GeneratorA
from reprolab.nets.mlp import MLPBackbone
from reprolab.nets.resnet import PreActResNet18, ResNetClassifier, cifar_resnet18, cifar_resnet34

__all__ = ["LeNet5", "MNISTCNN", "NetCMNIST", "Normalized", "SmallCNN", "GeneratorA", "MLPBackbone", "PreActResNet18",
           "ResNetClassifier", "cifar_resnet18", "cifar_resnet34"]
