"""Self-distillation without negatives: predict the other view's embedding.

    BYOL     an EMA target network, asymmetric views     negative_cosine
    SimSiam  one network and a stop-gradient              negative_cosine

What prevents the trivial solution (every image mapped to one point) is the asymmetry: a
predictor on one side, a stop-gradient (and for BYOL a slowly moving target) on the other.
"""
from __future__ import annotations

import torch
from torch import nn

from sslkit.augment import Views, asymmetric_pair
from sslkit.checks import check_bool, check_positive
from sslkit.losses import negative_cosine
from sslkit.methods.base import LIGHTLY_CIFAR10, Method, MomentumTeacher, features_of
from sslkit.models import ProjectionHead


class BYOL(MomentumTeacher):
    """BYOL (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020): predict an EMA target's projection.

    Online network: encoder f, projector g, predictor q (MLPs Linear-BN-ReLU-Linear). Target: f', g',
    an exponential moving average of f, g with no gradient (:class:`MomentumTeacher`, cosine
    schedule from ``momentum`` to 1). Symmetrised loss:

        p1, p2 = q(g(f(x1))), q(g(f(x2)));  z1', z2' = g'(f'(x1)), g'(f'(x2))   (no grad)
        loss = ( negative_cosine(p1, z2') + negative_cosine(p2, z1') ) / 2         in [-1, 1]

    (BYOL's ||p/|p| - z/|z|||^2 = 2 + 2 * negative_cosine.)

    Views are asymmetric, as in the paper (Table 6): :func:`sslkit.augment.asymmetric_pair`.

    Defaults: projector feat-``proj_hidden``-``proj_dim``, predictor ``proj_dim``-``proj_hidden``-``proj_dim``,
    tau_base 0.99 (CIFAR; the paper: 0.996 on ImageNet). Full recipe: lightly's CIFAR-10 benchmark,
    projector 512-1024-256, kNN 0.872 after 200 epochs / 0.911 after 800.
    """

    name, display_name, family = "byol", "BYOL", "distillation"
    paper = "Grill et al., Bootstrap Your Own Latent, NeurIPS 2020"
    HPARAMS = ("proj_hidden", "proj_dim")
    full_recipe = dict(lr=0.24, proj_hidden=1024, proj_dim=256)
    recipe_source = LIGHTLY_CIFAR10

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, momentum: float = 0.99):
        super().__init__(encoder, momentum)
        self.projector = ProjectionHead(features_of(encoder), proj_hidden, proj_dim)
        self.predictor = ProjectionHead(proj_dim, proj_hidden, proj_dim)
        self.add_teacher("target_encoder", "encoder")
        self.add_teacher("target_projector", "projector")

    def views(self, dataset) -> Views:
        first, second = asymmetric_pair(dataset, **self.augment_overrides)
        return Views([(first, 1), (second, 1)])

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x1, x2])
        p1, p2 = self.predictor(self.projector(self.encoder(x))).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target_projector(self.target_encoder(x)).chunk(2)
        return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))


class SimSiam(Method):
    """SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021).

    Encoder f, projector g (ending in BatchNorm), predictor h (a bottleneck MLP); ONE network for both
    views, no target, no negatives. The stop-gradient sg is what prevents collapse:

        z1, z2 = g(f(x1)), g(f(x2));  p1, p2 = h(z1), h(z2)
        loss = ( negative_cosine(p1, sg(z2)) + negative_cosine(p2, sg(z1)) ) / 2      in [-1, 1]

    ``stop_gradient=False`` removes sg: the loss then runs to -1 and the embeddings collapse (SimSiam
    Fig. 2; ``sslkit.evaluate.collapse_diagnostics`` measures it).

    Projector feat-d-d, predictor d-(d/4)-d with d = ``proj_hidden`` (the paper's CIFAR shape:
    2048-2048, 2048-512-2048; it also keeps the predictor's lr constant, which one schedule for all
    does not). Full recipe: lightly's CIFAR-10 benchmark with lr 0.06 (not scaled with the batch:
    more stable), projector width 2048, kNN 0.814 after 200 epochs / 0.906 after 800.
    """

    name, display_name, family = "simsiam", "SimSiam", "distillation"
    paper = "Chen & He, Exploring Simple Siamese Representation Learning, CVPR 2021"
    HPARAMS = ("proj_hidden",)
    full_recipe = dict(lr=0.06, proj_hidden=2048)
    recipe_source = LIGHTLY_CIFAR10

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, pred_hidden: int | None = None,
                 stop_gradient: bool = True):
        super().__init__(encoder)
        check_positive("proj_hidden", proj_hidden)
        pred_hidden = max(1, proj_hidden // 4) if pred_hidden is None else check_positive("pred_hidden", pred_hidden)
        self.stop_gradient = check_bool("stop_gradient", stop_gradient)
        self.projector = ProjectionHead(features_of(encoder), proj_hidden, proj_hidden, layers=2, last_bn=True)
        self.predictor = ProjectionHead(proj_hidden, pred_hidden, proj_hidden)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.encoder(torch.cat([x1, x2])))
        p1, p2 = self.predictor(z).chunk(2)
        z1, z2 = (z.detach() if self.stop_gradient else z).chunk(2)
        return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))
