"""Redundancy reduction: make the views' embeddings agree while decorrelating their dimensions.

    Barlow Twins  cross-correlation of the two views -> identity   barlow_twins_loss
    VICReg        invariance + variance + covariance               vicreg_loss

No negatives and no teacher: the decorrelation term is what rules out collapse. Data-parallel,
both losses run on the batch gathered from all processes.
"""
from __future__ import annotations

import torch
from torch import nn

from sslkit.checks import check_positive
from sslkit.losses import barlow_twins_loss, vicreg_loss
from sslkit.methods.base import LIGHTLY_CIFAR10, Method, features_of
from sslkit.models import ProjectionHead


class BarlowTwins(Method):
    """Barlow Twins (Zbontar et al., ICML 2021): the cross-correlation of the two views' projections -> identity.

        z1, z2 = g(f(x1)), g(f(x2));   loss = barlow_twins_loss(z1, z2, lambd)

    Projector g: 3 layers of width d = ``proj_hidden`` (Linear-BN-ReLU x 2, Linear; the paper: 8192,
    wider is better for this loss; ``proj_dim`` is not used). lambd = 5e-3 (paper). The loss grows
    with d, so with SGD/LARS the lr depends on d; AdamW (quick) does not care.
    Full recipe: lightly's CIFAR-10 benchmark, projector width 2048, kNN 0.827 after 200 epochs /
    0.857 after 800. (solo-learn's cifar/barlow.yaml, ~92 % linear after 1000 epochs, uses LARS lr 0.3
    with eta 0.02 and lr clipping, wd 1e-4, batch 256: ``optimizer="lars", lars_eta=0.02, lars_clip=True``.)
    """

    name, display_name, family = "barlowtwins", "Barlow Twins", "redundancy reduction"
    paper = "Zbontar et al., Barlow Twins: Self-Supervised Learning via Redundancy Reduction, ICML 2021"
    HPARAMS = ("proj_hidden",)
    full_recipe = dict(lr=0.24, proj_hidden=2048)
    recipe_source = LIGHTLY_CIFAR10

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, lambd: float = 5e-3):
        super().__init__(encoder)
        check_positive("proj_hidden", proj_hidden)
        self.lambd = lambd
        barlow_twins_loss(torch.zeros(2, 1), torch.zeros(2, 1), lambd)  # validate lambd now, not at step 1
        self.projector = ProjectionHead(features_of(encoder), proj_hidden, proj_hidden, layers=3)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.projector(self.encoder(torch.cat([x1, x2]))).chunk(2)
        return barlow_twins_loss(z1, z2, self.lambd, gather_distributed=True)


class VICReg(Method):
    """VICReg (Bardes, Ponce, LeCun, ICLR 2022): invariance + variance + covariance on the embeddings.

        z1, z2 = g(f(x1)), g(f(x2));   loss = vicreg_loss(z1, z2, sim=25, var=25, cov=1)

    Expander g: 3 layers of width d = ``proj_hidden`` (the paper: 8192; ``proj_dim`` is not used).
    Coefficients 25 / 25 / 1 (paper). VICReg is not in lightly's CIFAR-10 benchmark; its full recipe
    here is lightly-style SGD with the 2048-wide expander. solo-learn's cifar/vicreg.yaml (~92 %
    linear after 1000 epochs) is ``resolve("full", method="vicreg", optimizer="lars", lr=0.3,
    lars_eta=0.02, lars_clip=True, weight_decay=1e-4, batch_size=256)``.
    """

    name, display_name, family = "vicreg", "VICReg", "redundancy reduction"
    paper = "Bardes, Ponce, LeCun, VICReg: Variance-Invariance-Covariance Regularization, ICLR 2022"
    HPARAMS = ("proj_hidden",)
    full_recipe = dict(lr=0.24, proj_hidden=2048)
    recipe_source = LIGHTLY_CIFAR10 + " hyper-parameters applied to VICReg (not part of that benchmark)"

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, sim: float = 25.0, var: float = 25.0,
                 cov: float = 1.0):
        super().__init__(encoder)
        check_positive("proj_hidden", proj_hidden)
        vicreg_loss(torch.zeros(2, 1), torch.zeros(2, 1), sim, var, cov)  # validate the weights now
        self.sim, self.var, self.cov = sim, var, cov
        self.projector = ProjectionHead(features_of(encoder), proj_hidden, proj_hidden, layers=3)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.projector(self.encoder(torch.cat([x1, x2]))).chunk(2)
        return vicreg_loss(z1, z2, self.sim, self.var, self.cov, gather_distributed=True)
