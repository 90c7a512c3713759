import pytest
import torch
from torch import nn

from reprolab.nets import MLPBackbone, cifar_resnet18


def test_cifar_resnet18_features():
    net = cifar_resnet18()
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 512) and net.out_dim == 512
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(11.17e6, rel=0.01)  # ResNet18 without its fc
    assert cifar_resnet18(in_channels=1)(torch.randn(2, 1, 28, 28)).shape == (2, 512)


def test_mlp_backbone_variants():
    official = MLPBackbone(3072, 64, 6, batchnorm=True, final_bn=True, init="official_nc")
    assert official(torch.randn(4, 3, 32, 32)).shape == (4, 64)
    kinds = [type(m).__name__ for m in official.net]
    assert kinds.count("Linear") == 6 and kinds.count("BatchNorm1d") == 7 and kinds[-1] == "BatchNorm1d"
    linears = [m for m in official.net if isinstance(m, nn.Linear)]
    orthogonal = [bool(torch.allclose(m.weight @ m.weight.T, torch.eye(64), atol=1e-5)) for m in linears]
    assert orthogonal == [True, True, False, False, False, False]   # the official loop reaches 2 of 6 layers
    plain = MLPBackbone(3072, 64, 6, final_linear=True, init="official_nc")
    linears = [m for m in plain.net if isinstance(m, nn.Linear)]
    assert [bool(torch.allclose(m.weight @ m.weight.T, torch.eye(64), atol=1e-5)) for m in linears] == \
        [True, True, True, False, False, False, False]     # without BatchNorm: 3 of 6, not the feature layer
    small = MLPBackbone(784, 32, 3, final_linear=True)
    kinds = [type(m).__name__ for m in small.net]
    assert kinds.count("Linear") == 4 and "BatchNorm1d" not in kinds and kinds[-1] == "Linear"
    with pytest.raises(ValueError, match=">= 1"):
        MLPBackbone(10, 0, 3)


def test_preact_resnet18_matches_the_reference_size_and_preactivates():
    from reprolab.nets import PreActResNet18

    net = PreActResNet18()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == 11_171_146   # the CIFAR PreActResNet18 of the attack code
    block = net.stages[2]                                             # first block of stage 2: projecting shortcut
    assert block.shortcut is not None and block.bn1.num_features == 64 and block.conv1.stride == (2, 2)
    with pytest.raises(ValueError, match="32x32"):
        net(torch.randn(1, 3, 28, 28))


def test_domainbed_mnist_cnn_size_and_output():
    from reprolab.nets import MNISTCNN

    net = MNISTCNN(in_channels=2)
    # convs: 2*64*9+64, 64*128*9+128, 2 x (128*128*9+128); GroupNorm affine: 2*64 + 3 * 2*128
    assert sum(p.numel() for p in net.parameters()) == 1216 + 73856 + 2 * 147584 + 896
    assert net(torch.randn(3, 2, 28, 28)).shape == (3, 128)
    assert [type(m).__name__ for m in net.features[:3]] == ["Conv2d", "ReLU", "GroupNorm"]   # conv -> ReLU -> GN
