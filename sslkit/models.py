"""Backbones and heads.

    backbone = build_backbone("resnet18", in_channels=3)   # CIFAR ResNet-18, feature_dim 512
    backbone = build_backbone("convnet", in_channels=1)    # small fast ConvNet for 28x28, feature_dim 256
    head = ProjectionHead(backbone.feature_dim, 512, 128)

A backbone maps images (N, C, H, W) to features (N, feature_dim): the representation that
evaluation reads (before any projection head).
"""
from __future__ import annotations

import torch
from torch import nn

from sslkit.checks import check_choice, check_positive

BACKBONES = {"convnet": "ConvNet", "resnet18": "ResNet-18"}  # name -> display name


class ResNet18CIFAR(nn.Module):
    """ResNet-18 adapted to 32x32 inputs (He et al. 2016; the CIFAR variant of SimCLR, Chen et al. 2020, B.9).

    The ImageNet stem (7x7 stride-2 conv + max-pool) would shrink 32x32 to 8x8 before the first
    block, so it is replaced by a 3x3 stride-1 conv and no pool. torchvision's blocks otherwise.
    Input (N, C, H, W) -> features (N, 512).
    """

    feature_dim = 512

    def __init__(self, in_channels: int = 3):
        super().__init__()
        # Imported here: torchvision.models pulls in torch._dynamo, seconds per process for ConvNet users.
        from torchvision.models import resnet18

        net = resnet18(num_classes=10)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvNet(nn.Module):
    """Small VGG-style ConvNet for 28x28 (or 32x32) images, fast enough to pretrain on a laptop CPU.

    Four stages of 3x3 conv-BN-ReLU; stages 2-4 halve the resolution (28 -> 14 -> 7 -> 4), then
    global average pooling. ``width`` sets the channels of the first stage; later stages double it.
    Input (N, C, H, W) -> features (N, 8 * width).
    """

    def __init__(self, in_channels: int = 1, width: int = 32):
        super().__init__()
        check_positive("width", width)
        w = width
        self.features = nn.Sequential(
            _conv_bn(in_channels, w, 1),
            _conv_bn(w, 2 * w, 2),
            _conv_bn(2 * w, 4 * w, 2),
            _conv_bn(4 * w, 8 * w, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.feature_dim = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class ProjectionHead(nn.Module):
    """MLP projection head g(h) of SimCLR: Linear-BN-ReLU repeated, then Linear (N, in_dim) -> (N, out_dim).

    The contrastive loss is applied to g(h), while h (the backbone output) is kept for downstream
    tasks: Chen et al. 2020, Sec. 4.2, found h 10 points better than g(h) under a linear probe.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128, layers: int = 2,
                 last_bn: bool = False):
        super().__init__()
        check_positive("projection layers", layers)
        mods: list[nn.Module] = []
        dim = in_dim
        for _ in range(layers - 1):
            mods += [nn.Linear(dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            dim = hidden_dim
        mods.append(nn.Linear(dim, out_dim, bias=not last_bn))
        if last_bn:  # SimSiam / Barlow Twins style heads end with BN
            mods.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*mods)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_backbone(name: str, in_channels: int = 3, **kwargs) -> nn.Module:
    """Backbone by name (see BACKBONES); the module has a ``feature_dim`` attribute."""
    check_choice("backbone", name, BACKBONES)
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels!r}")
    if name == "resnet18":
        return ResNet18CIFAR(in_channels)
    return ConvNet(in_channels, **kwargs)
