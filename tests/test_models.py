import pytest
import torch

from sslkit.models import ConvNet, ProjectionHead, ResNet18CIFAR, build_backbone


def test_convnet_shapes():
    net = build_backbone("convnet", 1, width=8)
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, net.feature_dim) == (3, 64)


def test_resnet18_cifar_stem_and_shape():
    net = build_backbone("resnet18", 3)
    assert isinstance(net, ResNet18CIFAR) and net.feature_dim == 512
    assert net.net.conv1.kernel_size == (3, 3) and net.net.conv1.stride == (1, 1)
    assert isinstance(net.net.maxpool, torch.nn.Identity)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_projection_head():
    head = ProjectionHead(64, 32, 16)
    assert head(torch.randn(5, 64)).shape == (5, 16)


def test_bad_names():
    with pytest.raises(ValueError, match="valid backbones: convnet, resnet18"):
        build_backbone("vit", 3)
    with pytest.raises(ValueError, match="in_channels"):
        build_backbone("convnet", 2)
