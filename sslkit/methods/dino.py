"""DINO: self-distillation with no labels, from multi-crop views (Caron et al., ICCV 2021).

    method = build_method("dino", backbone, proj_hidden=512, proj_dim=128, local_crops=6)
    views = method.views("fashion-mnist")     # 2 global crops (28 px) + 6 local crops (16 px)
    loss = method(*views(x, generator=g))

A student and a teacher (the student's EMA) output distributions over K prototypes; every view of
the student predicts the teacher's distribution for every other global view (:func:`sslkit.losses.dino_loss`).
The teacher sees only the two global crops, the student also the small local crops, so the
representation must tell what the whole image is from a part of it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit import distributed
from sslkit.augment import Views, asymmetric_pair, for_dataset, recipe
from sslkit.checks import check_number, check_positive, check_range
from sslkit.data import describe
from sslkit.losses import dino_loss
from sslkit.methods.base import MomentumTeacher, features_of
from sslkit.models import ProjectionHead


class DINOHead(nn.Module):
    """DINO's projection head: (N, in_dim) -> logits over ``prototypes`` (N, K).

    An MLP in_dim-hidden-hidden-bottleneck (Linear-BN-ReLU blocks, as DINO's ResNet head), L2
    normalisation, then K prototypes with unit-norm weights (the paper's weight-normalised last
    layer with its norm fixed to 1): logit_k = <h / |h|, w_k / |w_k|> in [-1, 1], so the
    temperatures alone set how peaked the distributions are.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, bottleneck_dim: int = 128, prototypes: int = 4096):
        super().__init__()
        check_positive("prototypes", prototypes)
        self.mlp = ProjectionHead(in_dim, hidden_dim, bottleneck_dim, layers=3)
        self.prototypes = nn.Linear(bottleneck_dim, prototypes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.normalize(self.mlp(x), dim=1)
        return F.linear(h, F.normalize(self.prototypes.weight, dim=1))


class DINO(MomentumTeacher):
    """DINO (Caron, Touvron, Misra, Jegou, Mairal, Bojanowski, Joulin, "Emerging Properties in
    Self-Supervised Vision Transformers", ICCV 2021) with a ConvNet / ResNet student.

    Student: encoder f and :class:`DINOHead` h. Teacher: f', h', their EMA (:class:`MomentumTeacher`,
    cosine schedule from ``momentum`` to 1), no gradient. With s_v = h(f(x_v)) for all V views and
    t_g = h'(f'(x_g)) for the two global views,

        loss = dino_loss([s_1 .. s_V], [t_1, t_2], center, student_temp, teacher_temp)
        center <- m center + (1 - m) mean_{batch, g} t_g          (after each forward; m = center_momentum)

    The centre is a buffer (checkpoints hold it) and, in data-parallel runs, the mean over all
    processes' teacher outputs, so it is the same everywhere.

    Views (multi-crop, :meth:`views`): 2 global crops at the dataset's size with crop scale
    ``global_scale`` and BYOL's asymmetric blur/solarisation (:func:`sslkit.augment.asymmetric_pair`),
    plus ``local_crops`` crops of ``local_size`` px (default 9/16 of the image side, about the
    paper's 96/224) with scale ``local_scale``, all local crops in one batched augmentation call.
    The student runs on the globals and on the locals (two forward passes: BatchNorm statistics per
    resolution), the teacher on the globals only.

    Defaults (the paper: ViT heads 2048-2048-256 -> 65536 prototypes, 2 x 224 + 10 x 96 crops at
    scales (0.4, 1) / (0.05, 0.4), temperatures 0.1 / 0.04, centre momentum 0.9, teacher momentum
    0.996 -> 1): head feat-``proj_hidden``-``proj_hidden``-``proj_dim`` -> 4096 prototypes (solo-learn's
    CIFAR setting), 6 local crops (the paper's ablation setting), teacher momentum 0.99 -> 1 (a short
    run needs a teacher that moves).
    Full recipe: solo-learn's CIFAR configuration (scripts/pretrain/cifar/dino.yaml: ResNet-18, head
    2048 -> 256 -> 4096 prototypes, LARS lr 0.3 with eta 0.02 and lr clipping, weight decay 1e-6,
    batch 256, teacher momentum 0.9995 -> 1) with this class's multi-crop views (solo-learn's CIFAR
    config uses the two global crops only). No published CIFAR-10 kNN for this exact set-up.
    """

    name, display_name, family = "dino", "DINO", "distillation"
    paper = "Caron et al., Emerging Properties in Self-Supervised Vision Transformers, ICCV 2021"
    HPARAMS = ("proj_hidden", "proj_dim")
    full_recipe = dict(optimizer="lars", lr=0.3, lars_eta=0.02, lars_clip=True, weight_decay=1e-6,
                       batch_size=256, proj_hidden=2048, proj_dim=256)
    recipe_source = "solo-learn scripts/pretrain/cifar/dino.yaml (LARS, batch 256), multi-crop added"

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, prototypes: int = 4096,
                 local_crops: int = 6, local_size: int | None = None, global_scale=(0.4, 1.0),
                 local_scale=(0.05, 0.4), student_temp: float = 0.1, teacher_temp: float = 0.04,
                 center_momentum: float = 0.9, momentum: float = 0.99):
        super().__init__(encoder, momentum)
        self.local_crops = check_positive("local_crops", local_crops, allow_zero=True)
        self.local_size = None if local_size is None else check_positive("local_size", local_size)
        self.global_scale = check_range("global_scale", global_scale, 0.0, 1.0, strict_lo=True)
        self.local_scale = check_range("local_scale", local_scale, 0.0, 1.0, strict_lo=True)
        self.student_temp = check_number("student_temp", student_temp, 0.0, low_open=True)
        self.teacher_temp = check_number("teacher_temp", teacher_temp, 0.0, low_open=True)
        self.center_momentum = check_number("center_momentum", center_momentum, 0.0, 1.0, high_open=True)
        self.head = DINOHead(features_of(encoder), proj_hidden, proj_dim, prototypes)
        self.add_teacher("teacher_encoder", "encoder")
        self.add_teacher("teacher_head", "head")
        self.register_buffer("center", torch.zeros(1, prototypes))

    def views(self, dataset) -> Views:
        spec = describe(dataset)
        first, second = asymmetric_pair(spec, crop_scale=self.global_scale)
        groups = [(first, 1), (second, 1)]
        if self.local_crops:
            size = self.local_size or max(8, round(spec.size * 9 / 16))
            blur = 0.5 if recipe(spec)[1]["blur_p"] > 0 else 0.0
            groups.append((for_dataset(spec, size, crop_scale=self.local_scale, blur_p=blur), self.local_crops))
        return Views(groups)

    def forward(self, *views: torch.Tensor) -> torch.Tensor:
        if len(views) < 2:
            raise ValueError(f"DINO needs the 2 global views (then any local ones), got {len(views)} view(s)")
        n = len(views[0])
        globals_ = torch.cat(views[:2])
        student = [self.head(self.encoder(globals_))]
        if len(views) > 2:  # the local crops: one pass at their own resolution
            student.append(self.head(self.encoder(torch.cat(views[2:]))))
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_encoder(globals_)).float()
        loss = dino_loss(torch.cat(student).float().split(n), teacher.split(n), self.center,
                         self.student_temp, self.teacher_temp)
        self._update_center(teacher)
        return loss

    @torch.no_grad()
    def _update_center(self, teacher: torch.Tensor) -> None:
        batch_mean = distributed.mean_across_ranks(teacher.mean(0, keepdim=True))
        self.center.mul_(self.center_momentum).add_(batch_mean, alpha=1.0 - self.center_momentum)
