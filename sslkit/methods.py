"""Self-supervised methods behind one interface.

    method = build_method("byol", backbone, proj_hidden=512, proj_dim=128)
    loss = method(x1, x2)            # x1, x2: two augmented views (N, C, H, W)
    method.on_step(step, total)      # after each optimiser step: EMA / momentum-encoder updates
    features = method.encoder(x)     # the representation kept after pretraining

Every method owns its encoder (the backbone) and whatever heads, target networks and queues
its loss needs, as submodules and buffers, so ``state_dict()`` (and so a checkpoint and an exact
resume) covers all of it; only the encoder is used downstream.

| name         | family                      | loss (sslkit.losses)      | extra state                         |
|--------------|-----------------------------|---------------------------|-------------------------------------|
| simclr       | contrastive, batch negatives| nt_xent                   | -                                   |
| moco         | contrastive, queue (MoCo v2)| infonce_queue             | momentum encoder + projector, queue |
| byol         | self-distillation           | negative_cosine           | EMA target encoder + projector      |
| simsiam      | self-distillation, no EMA   | negative_cosine           | -                                   |
| barlowtwins  | redundancy reduction        | barlow_twins_loss         | -                                   |
| vicreg       | variance-covariance reg.    | vicreg_loss               | -                                   |

plus the pretext tasks of :mod:`sslkit.pretext` (rotation, relative-position, mae, dcgan),
registered in the same ``METHODS`` table.

Data-parallel training (``torchrun``, :mod:`sslkit.distributed`): SimCLR, Barlow Twins and VICReg
compute their loss over the global batch of all processes, MoCo enqueues the keys of all of them;
the other losses are per-sample means, which DDP's gradient averaging already makes global.

What the training loop reads from a method class (all optional, with defaults on ``Method``):

- ``HPARAMS``: the :class:`~sslkit.config.PretrainConfig` fields its constructor takes;
  :meth:`Method.config_hparams` turns a config into constructor arguments (a subclass may add
  more, e.g. the image size a decoder needs);
- ``augment_overrides``: settings passed to ``sslkit.augment.for_dataset`` (a pretext task may
  want milder views than SimCLR's);
- ``needs_generator``: when True the loop calls ``method(x1, x2, generator=g)`` with the step's
  seeded generator, so the method's own randomness (masks, GAN noise) repeats on resume.

Hyper-parameters. ``quick`` (Fashion-MNIST, ConvNet width 32, AdamW lr 2e-3, batch 256) uses
the constructor defaults below with the config's projector sizes (512 hidden, 128 out), i.e.
the papers' heads scaled down about 4x for a 256-d backbone. Each docstring also gives the
``full`` recipe (CIFAR-10, ResNet-18, 512-d features) with the lr / batch / weight decay /
momentum / temperature of the lightly CIFAR-10 benchmark (docs/.../cifar10_benchmark.py: SGD,
momentum 0.9, weight decay 5e-4, lr 0.06 * batch / 128, cosine, no warm-up; kNN k=200, t=0.1)
or of solo-learn's CIFAR configs (scripts/pretrain/cifar/*.yaml) where lightly has none.
lightly's table (benchmark of 18.02.2022, one A6000, batch 512) for 200 / 800 epochs:
SimCLR 0.828 / 0.875, MoCo 0.850 / 0.900, BYOL 0.872 / 0.911, SimSiam 0.814 / 0.906,
Barlow Twins 0.827 / 0.857 (later versions list SimCLR 0.848 at 200 epochs). ``resolve("full",
method=...)`` applies each method's recipe from :data:`sslkit.config.FULL_RECIPES`; they are not yet
re-run here: reproducing them needs the GPU.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from sslkit import distributed
from sslkit.config import check_choice, check_positive
from sslkit.losses import barlow_twins_loss, infonce_queue, negative_cosine, nt_xent, vicreg_loss
from sslkit.models import ProjectionHead


class Method(nn.Module):
    """Base class: ``forward(x1, x2) -> scalar loss``; ``encoder`` is the backbone being trained."""

    name = "method"
    HPARAMS: tuple[str, ...] = ()      # PretrainConfig fields passed to the constructor
    augment_overrides: dict = {}       # sslkit.augment.for_dataset(dataset, **augment_overrides)
    needs_generator = False            # forward(x1, x2, generator=g) with the step's generator

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    @classmethod
    def config_hparams(cls, cfg) -> dict:
        """Constructor arguments taken from a PretrainConfig: the fields named in ``HPARAMS``."""
        return {k: getattr(cfg, k) for k in cls.HPARAMS}

    def on_step(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step ``step`` (0-based) of ``total_steps`` (EMA updates live here).

        Must be a pure function of (weights, step), so that a resumed run repeats it exactly.
        """


def _features_of(encoder: nn.Module) -> int:
    dim = getattr(encoder, "feature_dim", None)
    if not isinstance(dim, int):
        raise ValueError("encoder must have an integer feature_dim attribute (see sslkit.models.build_backbone)")
    return dim


def _frozen_copy(module: nn.Module) -> nn.Module:
    """A copy whose parameters take no gradient (a target / momentum network)."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, parameter by parameter (buffers untouched).

    BYOL Eq. (1) / MoCo Eq. (2). The target's BatchNorm running statistics are left to its own
    forward passes (it runs in train mode, on batch statistics), as lightly and solo-learn do.
    """
    t = [p for p in target.parameters()]
    o = [p.detach() for p in online.parameters()]
    if len(t) != len(o):
        raise ValueError(f"target has {len(t)} parameters but online has {len(o)}")
    torch._foreach_lerp_(t, o, 1.0 - momentum)


def cosine_momentum(step: int, total_steps: int, base: float, final: float = 1.0) -> float:
    """BYOL's schedule: tau_k = final - (final - base) * (cos(pi k / K) + 1) / 2, from base at k=0 to final at k=K."""
    k = min(max(step, 0), total_steps)
    return final - (final - base) * (math.cos(math.pi * k / max(1, total_steps)) + 1) / 2


def _check_momentum(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"momentum must be a number in [0, 1), got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------ contrastive

class SimCLR(Method):
    """SimCLR (Chen et al., ICML 2020): encoder f, MLP projector g, NT-Xent on g(f(x)) of two views.

    loss = nt_xent(g(f(x1)), g(f(x2)), temperature)
    Defaults for CIFAR-scale data: projector 2048-2048-128 in the paper; we use 512-128 for small
    backbones (the hidden width matters little below ResNet-50), temperature 0.5 (Table 5/B.7 for
    CIFAR-10 with batch 512).

    full recipe (lightly CIFAR-10 benchmark, kNN 0.828 at 200 epochs / 0.875 at 800, batch 512):
    ResNet-18, projector 512-512-128, temperature 0.5 (lightly's NTXentLoss default), SGD lr
    0.06 * batch / 128 = 0.24, momentum 0.9, weight decay 5e-4, cosine schedule; ``resolve("full",
    method="simclr")`` applies it (``config.FULL_RECIPES``).
    """

    name = "simclr"
    HPARAMS = ("proj_hidden", "proj_dim", "temperature")

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, temperature: float = 0.5):
        super().__init__(encoder)
        self.projector = ProjectionHead(encoder.feature_dim, proj_hidden, proj_dim)
        self.temperature = temperature

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.encoder(torch.cat([x1, x2])))
        return nt_xent(z[: len(x1)], z[len(x1):], self.temperature, gather_distributed=True)


class MoCo(Method):
    """MoCo v2 (He et al., CVPR 2020; Chen, Fan, Girshick, He, arXiv:2003.04297): a momentum encoder and a queue.

    The query network is encoder f_q + MLP projector g_q; the key network (f_k, g_k) is an
    exponential moving average of it, updated in :meth:`on_step`:
    theta_k <- m theta_k + (1 - m) theta_q. Keys k = g_k(f_k(x)) come without gradient and are
    pushed into a FIFO queue of K negatives (a buffer, so checkpoints hold it). With both views
    used as queries (the symmetric loss of the official CIFAR demo and lightly):

        q1, q2 = g_q(f_q(x1)), g_q(f_q(x2));   k1, k2 = g_k(f_k(x1)), g_k(f_k(x2))
        loss = ( infonce_queue(q1, k2, queue, t) + infonce_queue(q2, k1, queue, t) ) / 2

    then k1, k2 are enqueued (2N keys per step; the oldest are dropped).

    Shuffle BN on one device. If the positive key were normalised with the same BatchNorm
    statistics as its query, the network could spot "the key from my batch" among the queue's
    older keys and cheat (MoCo, Sec. 3.3). As in the official single-GPU CIFAR demo (SplitBatchNorm)
    and lightly's benchmark (num_splits=8), the 2N views go through each network in ``bn_splits``
    groups, and the key network sees them in a different, fixed interleaved order, so a query
    and its key are normalised with mostly different samples. (No randomness is needed: the
    batch order is already random, and a fixed order keeps resume exact.)

    Data-parallel: each process splits its own views into the groups (or, with SyncBatchNorm,
    each group's statistics span the same group of every process) and enqueues the keys of ALL
    processes, in the single-process order, so the queue is the same everywhere and grows by 2N
    (N the global batch) per step.

    Why MoCo v2 and not v3: the queue is what MoCo adds to SimCLR (many negatives with a small
    batch); v3 drops it for large batches and a predictor, which is BYOL's territory here.

    Defaults: MoCo v2 (ImageNet) uses K = 65536, m = 0.999, t = 0.2, projector 2048-128. For CIFAR:
    K = 4096, m = 0.99 (lightly; solo-learn: K = 32768, m 0.99 -> 0.999, t = 0.2). ``temperature``
    comes from the config (the quick profile's 0.5 works; 0.1-0.2 is the papers' choice).

    full recipe (lightly CIFAR-10 benchmark, kNN 0.850 at 200 epochs / 0.900 at 800, batch 512):
    ResNet-18, projector 512-512-128, t = 0.1, K = 8192 (4096 at batch 128), m = 0.99, SGD
    lr 0.06 * batch / 128 = 0.24, momentum 0.9, weight decay 5e-4, cosine; ``resolve("full",
    method="moco")`` applies it (``config.FULL_RECIPES``) except ``queue_size=8192`` (a
    constructor argument, not a config field: ``build_method("moco", backbone, queue_size=8192)``).
    """

    name = "moco"
    HPARAMS = ("proj_hidden", "proj_dim", "temperature")

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, temperature: float = 0.2,
                 queue_size: int = 4096, momentum: float = 0.99, bn_splits: int = 8):
        super().__init__(encoder)
        check_positive("queue_size", queue_size)
        check_positive("bn_splits", bn_splits)
        self.temperature = temperature
        self.momentum = _check_momentum(momentum)
        self.bn_splits = bn_splits
        self.projector = ProjectionHead(_features_of(encoder), proj_hidden, proj_dim)
        self.key_encoder = _frozen_copy(encoder)
        self.key_projector = _frozen_copy(self.projector)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, proj_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def _grouped(self, net, x: torch.Tensor, interleave: bool) -> torch.Tensor:
        """net(x) with BatchNorm statistics per group of len(x) / bn_splits samples."""
        g = self.bn_splits
        if g == 1 or len(x) % g or len(x) // g < 2:
            return net(x)
        if not interleave:
            return torch.cat([net(c) for c in x.chunk(g)])
        order = torch.arange(len(x), device=x.device).view(g, -1).T.reshape(-1)
        out = torch.cat([net(c) for c in x[order].chunk(g)])
        return out[torch.argsort(order)]

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        n = len(x1) * distributed.world_size()  # the global batch: every process's keys are enqueued
        if 2 * n > len(self.queue):
            raise ValueError(f"queue_size={len(self.queue)} must be >= 2 * batch_size = {2 * n} (2N keys are "
                             f"enqueued per step)")
        q = self._grouped(lambda v: self.projector(self.encoder(v)), torch.cat([x1, x2]), interleave=False)
        with torch.no_grad():
            k = self._grouped(lambda v: self.key_projector(self.key_encoder(v)), torch.cat([x2, x1]),
                              interleave=True)
        loss = infonce_queue(q, k, self.queue, self.temperature)  # rows: (q1, k2) and (q2, k1)
        self._enqueue(k)
        return loss

    @torch.no_grad()
    def _enqueue(self, k: torch.Tensor) -> None:
        if distributed.world_size() > 1:  # [k(x2) of every process, k(x1) of every process]: one process's order
            k2, k1 = k.chunk(2)
            k = torch.cat([distributed.gather(k2), distributed.gather(k1)])
        size = len(self.queue)
        idx = (self.queue_ptr + torch.arange(len(k), device=k.device)) % size
        self.queue.index_copy_(0, idx, F.normalize(k.float(), dim=1).to(self.queue.dtype))
        self.queue_ptr.copy_((self.queue_ptr + len(k)) % size)  # on the device: no host sync

    def on_step(self, step: int, total_steps: int) -> None:
        ema_update(self.key_encoder, self.encoder, self.momentum)
        ema_update(self.key_projector, self.projector, self.momentum)


# --------------------------------------------------------------------------- self-distillation

class BYOL(Method):
    """BYOL (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020): predict an EMA target's projection.

    Online network: encoder f, projector g, predictor q (MLPs Linear-BN-ReLU-Linear). Target:
    f', g', an exponential moving average of f, g with no gradient. Symmetrised loss:

        p1, p2 = q(g(f(x1))), q(g(f(x2)));  z1', z2' = g'(f'(x1)), g'(f'(x2))   (no grad)
        loss = ( negative_cosine(p1, z2') + negative_cosine(p2, z1') ) / 2         in [-1, 1]

    (BYOL's ||p/|p| - z/|z|||^2 = 2 + 2 * negative_cosine.) After each step (:meth:`on_step`)
    theta' <- tau theta' + (1 - tau) theta with the cosine schedule
    tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, from tau_base to 1 at the end of training.

    Defaults: the paper (ImageNet) uses projector and predictor 4096-256, tau_base 0.996, LARS
    lr 0.2 * batch / 256, wd 1.5e-6. For CIFAR, tau_base 0.99 (solo-learn; lightly uses a constant
    0.99). Here projector feat-512-128 and predictor 128-512-128 (config proj_hidden, proj_dim).
    BYOL's asymmetric augmentations (blur 1.0 / 0.1, solarize 0 / 0.2) are not reproduced: both
    views come from the same recipe.

    full recipe (lightly CIFAR-10 benchmark, kNN 0.872 at 200 epochs / 0.911 at 800, batch 512):
    ResNet-18, projector 512-1024-256, predictor 256-1024-256, SGD lr 0.06 * batch / 128 = 0.24,
    momentum 0.9, weight decay 5e-4, cosine; ``resolve("full", method="byol")`` applies it
    (``config.FULL_RECIPES``). (solo-learn: projector 4096-256, LARS lr 1.0, wd 1e-5,
    batch 256, tau 0.99 -> 1.0, 1000 epochs.)
    """

    name = "byol"
    HPARAMS = ("proj_hidden", "proj_dim")

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, momentum: float = 0.99):
        super().__init__(encoder)
        self.momentum = _check_momentum(momentum)
        self.projector = ProjectionHead(_features_of(encoder), proj_hidden, proj_dim)
        self.predictor = ProjectionHead(proj_dim, proj_hidden, proj_dim)
        self.target_encoder = _frozen_copy(encoder)
        self.target_projector = _frozen_copy(self.projector)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x1, x2])
        p1, p2 = self.predictor(self.projector(self.encoder(x))).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target_projector(self.target_encoder(x)).chunk(2)
        return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))

    def on_step(self, step: int, total_steps: int) -> None:
        tau = cosine_momentum(step, total_steps, self.momentum)
        ema_update(self.target_encoder, self.encoder, tau)
        ema_update(self.target_projector, self.projector, tau)


class SimSiam(Method):
    """SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021).

    Encoder f, projector g (ending in BatchNorm), predictor h (a bottleneck MLP); ONE network
    for both views, no target, no negatives. The stop-gradient sg is what prevents collapse:

        z1, z2 = g(f(x1)), g(f(x2));  p1, p2 = h(z1), h(z2)
        loss = ( negative_cosine(p1, sg(z2)) + negative_cosine(p2, sg(z1)) ) / 2      in [-1, 1]

    ``stop_gradient=False`` removes sg: the loss then drops to -1 within a few steps and every
    image maps to the same direction (SimSiam Fig. 2; ``sslkit.evaluate.collapse_diagnostics``
    measures it: the per-dimension std of the normalised output goes to 0).

    Defaults: CIFAR (paper, Appendix D): projector 2 layers of 2048 with BN on the output,
    predictor 2048-512-2048, SGD lr 0.03 * batch / 256, wd 5e-4, 800 epochs, and the predictor's
    lr is kept constant (not done here: one schedule for all). Here the projector is
    feat-d-d and the predictor d-(d/4)-d with d = proj_hidden (512 in quick): the paper's shape
    scaled down 4x.

    full recipe (lightly CIFAR-10 benchmark, kNN 0.814 at 200 epochs / 0.906 at 800, batch 512):
    ResNet-18, projector 512-2048-2048 (+BN), predictor 2048-512-2048, SGD lr 0.06 (not scaled
    with the batch: more stable), momentum 0.9, weight decay 5e-4, cosine; ``resolve("full",
    method="simsiam")`` applies it (``config.FULL_RECIPES``).
    """

    name = "simsiam"
    HPARAMS = ("proj_hidden",)

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, pred_hidden: int | None = None,
                 stop_gradient: bool = True):
        super().__init__(encoder)
        check_positive("proj_hidden", proj_hidden)
        pred_hidden = max(1, proj_hidden // 4) if pred_hidden is None else check_positive("pred_hidden", pred_hidden)
        if not isinstance(stop_gradient, bool):
            raise ValueError(f"stop_gradient must be True or False, got {stop_gradient!r}")
        self.stop_gradient = stop_gradient
        self.projector = ProjectionHead(_features_of(encoder), proj_hidden, proj_hidden, layers=2, last_bn=True)
        self.predictor = ProjectionHead(proj_hidden, pred_hidden, proj_hidden)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.encoder(torch.cat([x1, x2])))
        p1, p2 = self.predictor(z).chunk(2)
        z1, z2 = (z.detach() if self.stop_gradient else z).chunk(2)
        return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))


# ---------------------------------------------------------------------------- redundancy reduction

class BarlowTwins(Method):
    """Barlow Twins (Zbontar et al., ICML 2021): the cross-correlation of the two views' projections -> identity.

        z1, z2 = g(f(x1)), g(f(x2));   loss = barlow_twins_loss(z1, z2, lambd)

    Projector g: 3 layers, Linear-BN-ReLU, Linear-BN-ReLU, Linear, all of width d (the paper:
    8192; wider is better for this loss). Here d = proj_hidden (512 in quick; the config's
    proj_dim is not used: the output is as wide as the hidden layers). lambd = 5e-3 (paper).
    The loss grows with d (about d at initialisation), so with SGD/LARS the lr depends on d;
    AdamW (quick) does not care.

    full recipe (lightly CIFAR-10 benchmark, kNN 0.827 at 200 epochs / 0.857 at 800, batch 512):
    ResNet-18, projector 512-2048-2048 (2 layers), lambd 5e-3, SGD lr 0.06 * batch / 128 = 0.24,
    momentum 0.9, weight decay 5e-4, cosine; ``resolve("full", method="barlowtwins")`` applies it
    (``config.FULL_RECIPES``; 3 projector layers here). solo-learn (cifar/barlow.yaml, ~92 % linear
    after 1000 epochs): projector 2048-2048-2048, LARS lr 0.3 (eta 0.02, lr clipping, biases and
    BN excluded), weight decay 1e-4, batch 256, warm-up + cosine, loss x 0.1 (sslkit's LARS has
    eta 1e-3 and no clipping, so that recipe needs re-tuning here).
    """

    name = "barlowtwins"
    HPARAMS = ("proj_hidden",)

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, lambd: float = 5e-3):
        super().__init__(encoder)
        check_positive("proj_hidden", proj_hidden)
        self.lambd = lambd
        barlow_twins_loss(torch.zeros(2, 1), torch.zeros(2, 1), lambd)  # validate lambd now, not at step 1
        self.projector = ProjectionHead(_features_of(encoder), proj_hidden, proj_hidden, layers=3)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.projector(self.encoder(torch.cat([x1, x2]))).chunk(2)
        return barlow_twins_loss(z1, z2, self.lambd, gather_distributed=True)


class VICReg(Method):
    """VICReg (Bardes, Ponce, LeCun, ICLR 2022): invariance + variance + covariance on the embeddings.

        z1, z2 = g(f(x1)), g(f(x2));   loss = vicreg_loss(z1, z2, sim=25, var=25, cov=1)

    Expander g: 3 layers of width d (Linear-BN-ReLU x 2, Linear), the paper's 8192; here
    d = proj_hidden (512 in quick; proj_dim is not used). Coefficients 25 / 25 / 1 (paper).

    full recipe (solo-learn cifar/vicreg.yaml, ~92 % linear after 1000 epochs; VICReg is not in
    lightly's CIFAR benchmark): ResNet-18, expander 2048-2048-2048, LARS lr 0.3 (eta 0.02, lr
    clipping, biases and BN excluded), weight decay 1e-4, batch 256, warm-up + cosine,
    solarization p 0.1; in sslkit terms ``resolve("full", method="vicreg", optimizer="lars",
    lr=0.3, weight_decay=1e-4, batch_size=256, proj_hidden=2048)`` (sslkit's LARS uses eta 1e-3
    and no clipping, so ``resolve("full", method="vicreg")`` uses lightly-style SGD lr 0.24, wd 5e-4
    with the 2048-wide expander: ``config.FULL_RECIPES``).
    """

    name = "vicreg"
    HPARAMS = ("proj_hidden",)

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, sim: float = 25.0, var: float = 25.0,
                 cov: float = 1.0):
        super().__init__(encoder)
        check_positive("proj_hidden", proj_hidden)
        vicreg_loss(torch.zeros(2, 1), torch.zeros(2, 1), sim, var, cov)  # validate the weights now
        self.sim, self.var, self.cov = sim, var, cov
        self.projector = ProjectionHead(_features_of(encoder), proj_hidden, proj_hidden, layers=3)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.projector(self.encoder(torch.cat([x1, x2]))).chunk(2)
        return vicreg_loss(z1, z2, self.sim, self.var, self.cov, gather_distributed=True)


METHODS: dict[str, type[Method]] = {"simclr": SimCLR, "moco": MoCo, "byol": BYOL, "simsiam": SimSiam,
                                    "barlowtwins": BarlowTwins, "vicreg": VICReg}


def build_method(name: str, encoder: nn.Module, **hparams) -> Method:
    """Method by name (see METHODS) around ``encoder``; ``hparams`` go to its constructor."""
    check_choice("method", name, METHODS)
    return METHODS[name](encoder, **hparams)


# The pretext tasks register themselves in METHODS (sslkit.pretext imports Method from here).
from sslkit import pretext as _pretext  # noqa: E402,F401
