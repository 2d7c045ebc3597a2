"""Self-supervised methods behind one interface.

    method = build_method("simclr", backbone, temperature=0.5)
    loss = method(x1, x2)            # x1, x2: two augmented views (N, C, H, W)
    method.on_step(step, total)      # per-step hook (momentum updates for EMA methods; no-op here)
    features = method.encoder(x)     # the representation kept after pretraining

Every method owns its encoder (the backbone) and whatever heads its loss needs; only the
encoder is used downstream.
"""
from __future__ import annotations

import torch
from torch import nn

from sslkit.config import check_choice
from sslkit.losses import nt_xent
from sslkit.models import ProjectionHead


class Method(nn.Module):
    """Base class: ``forward(x1, x2) -> scalar loss``; ``encoder`` is the backbone being trained."""

    name = "method"

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def on_step(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step (EMA/momentum updates live here)."""


class SimCLR(Method):
    """SimCLR (Chen et al., ICML 2020): encoder f, MLP projector g, NT-Xent on g(f(x)) of two views.

    loss = nt_xent(g(f(x1)), g(f(x2)), temperature)
    Defaults for CIFAR-scale data: projector 2048-2048-128 in the paper; we use 512-128 for small
    backbones (the hidden width matters little below ResNet-50), temperature 0.5 (Table 5/B.7 for
    CIFAR-10 with batch 512).
    """

    name = "simclr"

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, temperature: float = 0.5):
        super().__init__(encoder)
        self.projector = ProjectionHead(encoder.feature_dim, proj_hidden, proj_dim)
        self.temperature = temperature

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.encoder(torch.cat([x1, x2])))
        return nt_xent(z[: len(x1)], z[len(x1):], self.temperature)


METHODS: dict[str, type[Method]] = {"simclr": SimCLR}


def build_method(name: str, encoder: nn.Module, **hparams) -> Method:
    """Method by name (see METHODS) around ``encoder``; ``hparams`` go to its constructor."""
    check_choice("method", name, METHODS)
    return METHODS[name](encoder, **hparams)
