"""Contrastive methods: pull two views of an image together, push the other images away.

    SimCLR   negatives from the batch            nt_xent
    MoCo     negatives from a queue of old keys  infonce_queue, momentum key network

Data-parallel (:mod:`sslkit.distributed`): SimCLR contrasts with the views of ALL processes; MoCo
enqueues the keys of all of them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslkit import distributed
from sslkit.checks import check_positive
from sslkit.losses import infonce_queue, nt_xent
from sslkit.methods.base import LIGHTLY_CIFAR10, Method, MomentumTeacher, features_of
from sslkit.models import ProjectionHead

class SimCLR(Method):
    """SimCLR (Chen, Kornblith, Norouzi, Hinton, ICML 2020): encoder f, MLP projector g, NT-Xent on g(f(x)).

        loss = nt_xent(g(f(x1)), g(f(x2)), temperature)

    Projector feat-``proj_hidden``-``proj_dim`` (the paper: 2048-2048-128; the hidden width matters
    little below ResNet-50), temperature 0.5 (the paper's choice for CIFAR-10 at batch 512, Table B.7).
    Full recipe: lightly's CIFAR-10 benchmark, kNN 0.828 after 200 epochs / 0.875 after 800.
    """

    name, display_name, family = "simclr", "SimCLR", "contrastive"
    paper = "Chen et al., A Simple Framework for Contrastive Learning of Visual Representations, ICML 2020"
    HPARAMS = ("proj_hidden", "proj_dim", "temperature")
    full_recipe = dict(lr=0.24, temperature=0.5)
    recipe_source = LIGHTLY_CIFAR10

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, temperature: float = 0.5):
        super().__init__(encoder)
        self.projector = ProjectionHead(features_of(encoder), proj_hidden, proj_dim)
        self.temperature = temperature

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.encoder(torch.cat([x1, x2])))
        return nt_xent(z[: len(x1)], z[len(x1):], self.temperature, gather_distributed=True)


class MoCo(MomentumTeacher):
    """MoCo v2 (He et al., CVPR 2020; Chen, Fan, Girshick, He, arXiv:2003.04297): a momentum key network and a
    queue of negatives.

    Query network: encoder f_q + projector g_q. Key network (f_k, g_k): their EMA with a constant
    momentum m (:class:`MomentumTeacher`). Keys come without gradient and enter a FIFO queue of K
    negatives (a buffer, so checkpoints hold it). Both views serve as queries:

        q1, q2 = g_q(f_q(x1)), g_q(f_q(x2));   k1, k2 = g_k(f_k(x1)), g_k(f_k(x2))
        loss = ( infonce_queue(q1, k2, queue, t) + infonce_queue(q2, k1, queue, t) ) / 2

    then k1, k2 are enqueued (2N keys per step; the oldest are dropped).

    Shuffle BN on one device: if a key were normalised with the same BatchNorm statistics as its
    query, the network could spot "the key from my batch" among the queue's older keys (MoCo,
    Sec. 3.3). The 2N views go through each network in ``bn_splits`` groups, and the key network sees
    them in a different, fixed interleaved order (the batch order is already random; a fixed order
    keeps resume exact). Data-parallel: each process groups its own views, and the keys of ALL
    processes are enqueued in the single-process order, so the queue is identical everywhere.

    Defaults for CIFAR: K = 4096, m = 0.99 (lightly); the paper (ImageNet): K = 65536, m = 0.999,
    t = 0.2. MoCo v2 rather than v3: the queue is what MoCo adds to SimCLR (many negatives with a
    small batch); v3 drops it for large batches and a predictor, which is BYOL's territory here.
    Full recipe: lightly's CIFAR-10 benchmark, t = 0.1, kNN 0.850 after 200 epochs / 0.900 after 800
    (lightly's queue holds 8192 keys at batch 512: ``build_method("moco", backbone, queue_size=8192)``).
    """

    name, display_name, family = "moco", "MoCo", "contrastive"
    paper = "He et al., Momentum Contrast for Unsupervised Visual Representation Learning, CVPR 2020 (v2)"
    HPARAMS = ("proj_hidden", "proj_dim", "temperature")
    full_recipe = dict(lr=0.24, temperature=0.1)
    recipe_source = LIGHTLY_CIFAR10
    schedule = "constant"

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, proj_dim: int = 128, temperature: float = 0.2,
                 queue_size: int = 4096, momentum: float = 0.99, bn_splits: int = 8):
        super().__init__(encoder, momentum)
        check_positive("queue_size", queue_size)
        check_positive("bn_splits", bn_splits)
        self.temperature = temperature
        self.bn_splits = bn_splits
        self.projector = ProjectionHead(features_of(encoder), proj_hidden, proj_dim)
        self.add_teacher("key_encoder", "encoder")
        self.add_teacher("key_projector", "projector")
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
