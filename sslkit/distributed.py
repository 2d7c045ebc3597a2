"""Data-parallel pretraining on PyTorch's own engine: torchrun + DistributedDataParallel.

    torchrun --nproc_per_node=4 -m sslkit pretrain --profile full --sync-bn --out runs/ddp    # one node
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=node0:29500 \\
             --rdzv_id=ssl1 -m sslkit pretrain ...                  # the same command on each node

    dist = setup("auto")            # reads torchrun's RANK / WORLD_SIZE / LOCAL_RANK; nccl on CUDA, gloo on CPU
    forward = dist.wrap(model)      # DistributedDataParallel (gradients averaged over the ranks)
    loader = sslkit.data.training_loader(images, batch_size=512, device=dist.device, seed=0,
                                         rank=dist.rank, world_size=dist.world_size)  # this rank's part
    z_all = gather(z)               # (n, D) on each rank -> (W n, D) everywhere, gradients kept

A run on W processes compared with one (W = world size, B = ``batch_size``):

- ``batch_size`` is the GLOBAL batch. Each rank takes B / W images of every global batch: the epoch
  permutation is drawn from (seed, epoch) on every rank, and rank r reads the r-th slice of each
  batch, so the union of the ranks' batches is exactly the single-process batch. Steps per epoch,
  the lr schedule and the checkpoint's ``step`` mean the same for any W: a run resumes on another
  world size at the same global step.
- Gradients: DDP averages them over the ranks. A loss whose rank-mean is the global loss (SimCLR's
  NT-Xent over the rank's own anchors against the gathered views; BYOL's and SimSiam's per-sample
  means; Barlow Twins / VICReg computed on the gathered batch) then gets the global gradient, because
  :func:`gather`'s backward sums every rank's gradient (see :class:`_GatherWithGrad`).
- Augmentations: each rank augments its own images with its own generator (seed, step, rank), so
  runs on different W draw different (equally random) views; rank 0 keeps the single-process stream.
- BatchNorm: normalises with the rank's B / W images unless ``sync_bn`` (``nn.SyncBatchNorm``,
  global batch statistics, as SimCLR's "global BN"; PyTorch supports it on CUDA only).
- Only rank 0 shows progress, evaluates and writes (checkpoints atomically, via ``sslkit.io``); the
  others wait at a barrier. The checkpoint holds the unwrapped model: it loads in one process too.

What each method does with the other ranks (the ``gather_distributed`` flag of ``sslkit.losses``):

- simclr: NT-Xent; each anchor's negatives are the 2B - 2 views of ALL ranks (gathered with gradient);
- moco: the loss needs no gather (its negatives are the queue); the keys of all ranks are enqueued,
  so the queue grows by 2B per step and is identical on every rank;
- barlowtwins, vicreg: the whole loss (standardisation, cross-correlation, variance, covariance)
  runs on the gathered global batch;
- byol, simsiam, pretext tasks: per-sample losses, nothing to gather; DDP's average is the global mean.

The learning rate is not changed by W: the same global batch is the same run. Scaling out usually
means a larger global batch; :func:`scaled_lr` (``--base-lr``) gives the lr for it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from sslkit.checks import check_choice, check_positive, resolve_device

# ------------------------------------------------------------------ the process group, as the losses see it


def world_size() -> int:
    """Number of processes in the default group (1 when there is none)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default group (0 when there is none)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward is the all-reduce (sum) of the gradient, then this rank's slice.

    Rank r's loss L_r depends on every rank's rows, so d(sum_r L_r)/dx_r = sum_r dL_r/dx_r: the
    sum over ranks of the gradient each rank computed for x_r's place in the gathered tensor.
    DDP then divides by W, so the update follows d(mean_r L_r): the single-process gradient when
    mean_r L_r is the global loss. (``torch.distributed.all_gather`` alone returns tensors with no
    autograd history: other ranks' rows would be constants and x_r would miss their gradient.)
    An all-reduce moves twice the bytes of a reduce-scatter but runs on every backend; the
    tensors are (W n, D) embeddings, small next to the model's gradients.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rows = (dist.get_rank() * len(x), (dist.get_rank() + 1) * len(x))
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rows[0]:ctx.rows[1]]


def mean_across_ranks(x: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``x`` over all ranks (no gradient): e.g. DINO's batch centre. ``x`` itself
    when W = 1. A collective: every rank must call it with the same shape."""
    if world_size() == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / world_size()


def gather(x: torch.Tensor) -> torch.Tensor:
    """Rows of every rank, in rank order: (n, ...) -> (W n, ...), differentiable; ``x`` itself when W = 1.

    Every rank must call it (it is a collective) with the same n. Under ``torch.no_grad()`` it is
    a plain all-gather (MoCo's keys).
    """
    if world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


# ------------------------------------------------------------------------------------- learning rate

LR_RULES = {"sgd": "linear", "lars": "linear", "adamw": "sqrt"}


def scaled_lr(base_lr: float, batch_size: int, optimizer: str, reference: int = 256) -> float:
    """Learning rate for a global batch of ``batch_size`` from ``base_lr``, the lr per ``reference`` images.

    - sgd, lars: linear, lr = base_lr * B / 256 (Goyal et al. 2017, "Accurate, large minibatch SGD";
      SimCLR: LARS lr = 0.3 * B / 256; lightly's CIFAR-10 benchmark: SGD 0.06 * B / 128).
    - adamw: square root, lr = base_lr * sqrt(B / 256). Adam's step is normalised by the gradient's
      second moment, so the linear rule overshoots; the square-root rule keeps the noise scale of
      the update (Malladi et al. 2022, "On the SDEs and scaling rules for adaptive gradient
      algorithms"; Hoffer et al. 2017). Large-batch AdamW still wants a warm-up.
    """
    check_choice("optimizer", optimizer, LR_RULES)
    check_positive("base_lr", base_lr, integer=False)
    check_positive("batch_size", batch_size)
    ratio = batch_size / reference
    return base_lr * (ratio if LR_RULES[optimizer] == "linear" else math.sqrt(ratio))


# ------------------------------------------------------------------------------------- the run's context


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank, world size, its device. ``Dist()`` is a single process:
    every method is then a no-op or the plain single-process thing (no collectives, no wrapper)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module, sync_bn: bool = False) -> nn.Module:
        """``model`` in DistributedDataParallel (with SyncBatchNorm if ``sync_bn``); ``model`` itself when W = 1.

        Call the returned module for the forward pass (DDP hooks the backward there); keep
        ``model`` for the optimiser, hooks (``on_step``) and ``state_dict`` (no "module." prefix).
        Buffers are synced once, at construction, not before every forward
        (``forward_sync_buffers=False``): MoCo's queue and the target networks stay identical on every
        rank by construction (same init, same gathered keys, same averaged updates); BatchNorm
        running statistics may differ per rank without SyncBN, and rank 0's are the ones saved.
        """
        if not self.active:
            return model
        if sync_bn:
            if self.device.type != "cuda":
                raise ValueError("sync_bn (--sync-bn) needs CUDA devices: PyTorch's SyncBatchNorm does not run on "
                                 "the CPU. Without it each rank normalises with its own batch statistics.")
            nn.SyncBatchNorm.convert_sync_batchnorm(model)  # in place for every BatchNorm below the root
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False,
                                                   gradient_as_bucket_view=True)

    def barrier(self) -> None:
        if self.active:
            dist.barrier(**({"device_ids": [self.device.index]} if dist.get_backend() == "nccl" else {}))

    def loss_and_stop(self, loss: torch.Tensor, stop: bool) -> tuple[float, bool]:
        """(the loss averaged over ranks, whether ANY rank asked to stop): one small all-reduce, so that
        every rank logs the same value, diverges together and stops at the same step."""
        if not self.active:
            return loss.item(), stop
        t = torch.stack([loss.detach().float(), torch.tensor(float(stop), device=loss.device)])
        dist.all_reduce(t)
        return (t[0] / self.world_size).item(), bool(t[1] > 0)

    def mean(self, x: torch.Tensor) -> float:
        """A 0-d tensor averaged over ranks, as a float."""
        if not self.active:
            return x.item()
        x = x.detach().float().clone()
        dist.all_reduce(x)
        return (x / self.world_size).item()

    def on_main(self, fn):
        """``fn()`` run on rank 0 only; its result, or the exception it raised, reaches every rank.

        For reading a checkpoint: one rank reads (no shared filesystem needed across nodes) and an
        error surfaces on every rank instead of leaving the others waiting.
        """
        if not self.active:
            return fn()
        box = [None]
        if self.is_main:
            try:
                box[0] = ("ok", fn())
            except Exception as e:  # handed to every rank, raised there
                box[0] = ("error", e)
        dist.broadcast_object_list(box, src=0)
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank (e.g. an output path that contains the time)."""
        return self.on_main(lambda: obj)


_OWNED = False  # whether setup() created the process group (then teardown() destroys it)


def setup(device: str = "auto") -> Dist:
    """The process's :class:`Dist`: from an initialised process group, from torchrun's environment
    (``WORLD_SIZE`` > 1: initialise one, nccl on CUDA, gloo on CPU), or a single process.

    ``device``: "auto", "cpu" or "cuda". Under torchrun each rank uses ``cuda:LOCAL_RANK`` (choose
    the GPUs with CUDA_VISIBLE_DEVICES), so an explicit "cuda:N" is refused there.
    """
    global _OWNED
    initialised = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if initialised else int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=resolve_device(device))
    if device.startswith("cuda:"):
        raise ValueError(f"device {device!r}: under torchrun every process uses cuda:LOCAL_RANK; pass --device cuda "
                         f"or auto, and choose the GPUs with CUDA_VISIBLE_DEVICES")
    kind = resolve_device(device).type
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank() if initialised else os.environ.get("RANK", "0")))
    if kind == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s) are visible; "
                             f"use --nproc_per_node <= {torch.cuda.device_count()}")
        torch.cuda.set_device(local)
    dev = torch.device("cuda", local) if kind == "cuda" else torch.device("cpu")
    if not initialised:
        if not dist.is_available():
            raise ValueError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
        backend = "nccl" if kind == "cuda" else "gloo"
        dist.init_process_group(backend, **({"device_id": dev} if kind == "cuda" else {}))
        _OWNED = True
    return Dist(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local, device=dev)


def teardown() -> None:
    """Destroy the process group if :func:`setup` created it."""
    global _OWNED
    if _OWNED and dist.is_initialized():
        dist.destroy_process_group()
    _OWNED = False
