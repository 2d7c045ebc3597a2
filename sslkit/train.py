"""The training loop (:func:`fit`) and self-supervised pretraining (:func:`pretrain`).

    cfg = sslkit.config.resolve("quick", epochs=5, out="runs/simclr")
    result = pretrain(cfg)                  # -> {"method", "history", "config"}
    result = pretrain(cfg, resume=True)     # continues from runs/simclr/checkpoint.pt
    result = pretrained(cfg)                # trained once into runs/cache, then read back

One loop serves pretraining, fine-tuning (:mod:`sslkit.finetune`) and the scenarios' encoders.
What makes it exact and safe:

- randomness is a pure function of (seed, step): epoch e's order comes from DeviceLoader(seed, e)
  and step s's augmentations from a generator seeded with (seed, s), so a resumed run draws the
  same numbers as an uninterrupted one and ends with the same weights;
- the learning rate is a pure function of the step (linear warm-up, then cosine);
- checkpoints are written atomically (:mod:`sslkit.io`) at epoch ends and on Ctrl-C (at a step
  boundary); one process writes a run directory at a time (:class:`sslkit.io.DirectoryLock`);
- a non-finite loss stops the run before anything is written, so the last checkpoint stays good;
- the loss is read back to the host only every ``log_every`` steps (no sync inside a step on GPU).

Under ``torchrun`` (:mod:`sslkit.distributed`) the same loop runs data-parallel: ``cfg.batch_size``
is the global batch, split over the processes, and a step means the same for any number of them,
so a checkpoint resumes on another world size at the same step. Rank 0 alone writes, shows
progress and evaluates; the logged loss is the mean over ranks.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import signal
import threading
import time
from pathlib import Path

import torch
from torch import nn

from sslkit import distributed
from sslkit.checks import resolve_device
from sslkit.config import PretrainConfig, validate
from sslkit.augment import recipe
from sslkit.data import labelled_splits, pretraining_split, training_loader
from sslkit.evaluate import extract_features, knn_accuracy
from sslkit.io import (CheckpointError, DirectoryLock, atomic_write_json, load_checkpoint, save_checkpoint,
                       when_unlocked)
from sslkit.methods import METHODS, build_method
from sslkit.models import build_backbone
from sslkit.paths import RUN_CACHE
from sslkit.progress import tqdm


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingOutOfMemoryError(RuntimeError):
    """The device ran out of memory during a step."""


# ------------------------------------------------------------------------------- optimisation

class LARS(torch.optim.Optimizer):
    """LARS (You, Gitman, Ginsburg 2017, "Large batch training of convolutional networks"), as in SimCLR.

    SGD with momentum where each weight matrix's step is scaled by the trust ratio

        trust = eta * ||w|| / ||g + wd * w||,     update = lr * trust * (g + wd * w)

    Biases and BatchNorm parameters (1-D) are excluded from both the adaptation and the weight decay,
    as SimCLR does. ``clip``: trust = min(trust, 1), so no layer steps faster than plain SGD at lr
    (solo-learn's ``clip_lr``, which its CIFAR recipes use with eta 0.02).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 1e-3,
                 clip: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, clip=clip))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if p.ndim > 1:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = p.norm(), g.norm()
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, 1.0)
                    if group["clip"]:
                        trust = trust.clamp(max=1.0)
                    g = g.mul(trust)
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(g)
                p.add_(buf, alpha=-group["lr"])


def build_optimizer(model: nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum), AdamW (``cfg.betas``) or LARS (``cfg.lars_eta``, ``cfg.lars_clip``); no weight decay
    on biases and normalisation parameters."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum, eta=cfg.lars_eta, clip=cfg.lars_clip)
    fused = {"fused": True} if any(p.is_cuda for p in decay) else {"foreach": True}  # one kernel per step on GPU
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, **fused)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, **fused)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up from 0 to ``base_lr`` over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def step_generator(seed: int, step: int, device: torch.device, rank: int = 0) -> torch.Generator:
    """The augmentation generator of one step: seeded by (seed, step), so a resumed run repeats it.

    In data-parallel runs each ``rank`` draws its own views (rank 0: the single-process stream).
    """
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + step + (rank << 40))
    return g


def optimizer_step(model: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor, step: int, total: int) -> None:
    """Backward and update, then the method's per-step hook (EMA / momentum targets)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if hasattr(model, "on_step"):
        model.on_step(step, total)


def compile_model(model: nn.Module, cfg: PretrainConfig) -> nn.Module:
    """``torch.compile(model)`` when ``cfg.compile``; eager if compilation is unavailable or fails."""
    if not cfg.compile:
        return model
    try:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True  # a failure at the first call falls back to eager
        return torch.compile(model)
    except Exception as e:  # no compiler toolchain, unsupported platform
        import warnings

        warnings.warn(f"torch.compile unavailable ({type(e).__name__}: {e}); running eagerly")
        return model


class _StopFlag:
    """Turns the first Ctrl-C into a request honoured at the next step boundary (a second one kills)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                self.requested = True
                signal.signal(signal.SIGINT, self._old)

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# ------------------------------------------------------------------------------------ the loop

def fit(model: nn.Module, step_loss, loader, cfg: PretrainConfig, kind: str, *,
        resume: bool = False, progress: bool = True, on_epoch_end=None, on_first_steps=None,
        dist: distributed.Dist | None = None) -> dict:
    """Train ``model`` on ``step_loss(x, y, generator) -> loss`` over ``loader``; returns the history.

    Checkpoints go to ``cfg.out/checkpoint.pt`` and the history to ``cfg.out/history.json`` when
    ``cfg.out`` is set. ``on_epoch_end(epoch) -> dict`` adds entries (e.g. kNN accuracy) to the
    epoch's record. ``on_first_steps(seconds_per_step, steps_left)`` is called once, after the first
    few steps, with their measured pace (the first step, with its one-off costs, not counted).
    ``kind`` names what is trained ("simclr", "supervised", ...) and is checked on resume.
    ``dist``: the data-parallel context (:func:`sslkit.distributed.setup`); then ``step_loss`` runs
    the DDP-wrapped model, ``loader`` yields this rank's part of each global batch, and only rank 0
    writes and calls ``on_epoch_end``. None: a single process.
    """
    dist = dist or distributed.Dist()
    if not cfg.out or not dist.is_main or (resume and _finished(cfg, loader)):
        # A finished run is only read (checkpoints are written atomically), so notebooks running
        # side by side can share a cached encoder; the lock is for writers.
        return _fit(model, step_loss, loader, cfg, kind, resume, progress, on_epoch_end, on_first_steps, dist)
    with DirectoryLock(cfg.out):  # one writer per output directory
        return _fit(model, step_loss, loader, cfg, kind, resume, progress, on_epoch_end, on_first_steps, dist)


def _total_steps(cfg, loader) -> int:
    total = cfg.epochs * len(loader)
    return total if cfg.max_steps is None else min(total, cfg.max_steps)


def step_budget(cfg: PretrainConfig, n_images: int, steps: int, warmup: float | None = None) -> dict:
    """Config changes that make ``steps`` optimiser steps the whole run on ``n_images`` images: as many
    epochs as they take (the last one cut by ``max_steps``) and, if ``warmup`` is given, a warm-up over
    that fraction of the steps. Batches are ``min(cfg.batch_size, n_images)``, as the loops use."""
    per_epoch = max(1, n_images // min(cfg.batch_size, n_images))
    out = {"max_steps": steps, "epochs": math.ceil(steps / per_epoch)}
    if warmup is not None:
        out["warmup_epochs"] = warmup * steps / per_epoch
    return out


def _finished(cfg, loader) -> bool:
    """Whether ``cfg.out`` holds a checkpoint that has already run every step."""
    path = Path(cfg.out) / "checkpoint.pt"
    if not path.exists():
        return False
    try:
        return load_checkpoint(path, map_location="cpu").get("step", 0) >= _total_steps(cfg, loader)
    except CheckpointError:
        return False  # let the locked path report it


class _Run:
    """The state of one :func:`fit`: model, optimiser, schedule, step, history, checkpoint."""

    def __init__(self, model, loader, cfg, kind, dist):
        self.model, self.cfg, self.kind, self.dist = model, cfg, kind, dist
        self.device = next(model.parameters()).device
        self.steps_per_epoch = len(loader)
        self.total = _total_steps(cfg, loader)
        self.warmup = int(cfg.warmup_epochs * self.steps_per_epoch)
        self.opt = build_optimizer(model, cfg)
        self.out = Path(cfg.out) if cfg.out else None
        self.ckpt = self.out / "checkpoint.pt" if self.out else None
        self.history = {"kind": kind, "config": cfg.to_dict(), "epochs": [], "steps": []}
        self.step, self.lr = 0, 0.0

    def restore(self) -> None:
        """Continue from ``cfg.out/checkpoint.pt`` if there is one (rank 0 reads, every rank gets it)."""
        if self.ckpt is None:
            raise ValueError("resume=True needs cfg.out, the directory that holds checkpoint.pt")
        where = "cpu" if self.dist.active else self.device
        state = self.dist.on_main(lambda: load_checkpoint(self.ckpt, map_location=where)
                                  if self.ckpt.exists() else None)
        if state is None:
            return
        _check_compatible(state, self.cfg, self.kind, self.ckpt)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise CheckpointError(f"{self.ckpt} does not fit this model: {str(e).splitlines()[0]}") from e
        self.opt.load_state_dict(state["optimizer"])
        self.step, self.history = state["step"], state["history"]

    def save(self) -> None:
        if self.ckpt is not None and self.dist.is_main:
            save_checkpoint(self.ckpt, {"kind": self.kind, "config": self.cfg.to_dict(), "step": self.step,
                                        "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                                        "history": self.history, "world_size": self.dist.world_size})
            atomic_write_json(self.out / "history.json", self.history)
        self.dist.barrier()  # the other ranks wait until the checkpoint is on disk

    def train_step(self, step_loss, x, y) -> torch.Tensor:
        """One optimiser step at the scheduled lr; the step's generator comes from (seed, step, rank)."""
        self.lr = lr_at(self.step, self.total, self.warmup, self.cfg.lr)
        for group in self.opt.param_groups:
            group["lr"] = self.lr
        rank = (self.dist.rank,) if self.dist.rank else ()  # rank 0 draws what a single process draws
        try:
            loss = step_loss(x, y, step_generator(self.cfg.seed, self.step, self.device, *rank))
            optimizer_step(self.model, self.opt, loss, self.step, self.total)
        except torch.OutOfMemoryError as e:
            batch = len(x) * self.dist.world_size
            raise TrainingOutOfMemoryError(
                f"{self.kind}: out of memory at step {self.step} with batch_size {batch} on {self.device}; "
                f"try a smaller batch (e.g. batch_size {max(2, batch // 2)}), a smaller model, or another "
                f"device. The last checkpoint, if any, is intact.") from e
        self.step += 1
        return loss.detach()

    def log(self, loss: torch.Tensor, stop_requested: bool, epoch: int) -> tuple[float, bool]:
        """Read the loss back (the only host sync), stop on NaN, record it; returns (loss, stop)."""
        value, stop = self.dist.loss_and_stop(loss, stop_requested)
        if not math.isfinite(value):
            last = f", the last good one is {self.ckpt}" if self.ckpt and self.ckpt.exists() else ""
            raise TrainingDivergedError(
                f"{self.kind}: loss became {value} at step {self.step} (epoch {epoch + 1}, lr {self.lr:.3g}); "
                f"stopped without writing a checkpoint{last}. Lower the learning rate (lr) or check the input data.")
        self.history["steps"].append({"step": self.step, "loss": value, "lr": self.lr})
        return value, stop

    def end_epoch(self, epoch, seconds, n_images, loss_sum, n_steps, on_epoch_end) -> None:
        record = {"epoch": epoch + 1, "step": self.step, "loss": self.dist.mean(loss_sum / max(1, n_steps)),
                  "lr": self.lr, "seconds": seconds, "images_per_s": n_images / seconds}
        if self.dist.active:
            record["world_size"] = self.dist.world_size
        if on_epoch_end is not None and self.dist.is_main:
            record.update(on_epoch_end(epoch + 1))
        self.history["epochs"].append(record)
        if (epoch + 1) % self.cfg.checkpoint_every == 0 or self.step == self.total:
            self.save()


class _Pace:
    """Times steps 2-4 of a process (the first has one-off costs) and reports them once."""

    STEPS = 3

    def __init__(self, run, report):
        self.run, self.report, self.seen, self.t0 = run, report, 0, None

    def tick(self) -> None:
        if self.report is None:
            return
        self.seen += 1
        if self.seen in (1, 1 + self.STEPS):
            if self.run.device.type == "cuda":
                torch.cuda.synchronize(self.run.device)  # twice per run: a fair clock on an async device
            if self.seen == 1:
                self.t0 = time.perf_counter()
            else:
                self.report((time.perf_counter() - self.t0) / self.STEPS, self.run.total - self.run.step)
                self.report = None


def _fit(model, step_loss, loader, cfg, kind, resume, progress, on_epoch_end, on_first_steps, dist) -> dict:
    run = _Run(model, loader, cfg, kind, dist)
    if resume:
        run.restore()
    pace = _Pace(run, on_first_steps if dist.is_main else None)
    model.train()
    bar = tqdm(total=run.total, initial=run.step, desc=kind, unit="step", disable=not (progress and dist.is_main),
               dynamic_ncols=True)
    with _StopFlag() as stop:
        while run.step < run.total:
            epoch, start = divmod(run.step, run.steps_per_epoch)
            t0, n_images, loss_sum, n_steps = time.perf_counter(), 0, torch.zeros((), device=run.device), 0
            for x, y in loader.epoch(epoch, start):
                loss = run.train_step(step_loss, x, y)
                pace.tick()
                n_images, loss_sum, n_steps = n_images + len(x) * dist.world_size, loss_sum + loss, n_steps + 1
                last = run.step == run.total or run.step % run.steps_per_epoch == 0
                # Ranks agree on the loss and on stopping at the log points only (one collective there).
                if run.step % cfg.log_every == 0 or last or (stop.requested and not dist.active):
                    value, stopping = run.log(loss, stop.requested, epoch)
                    bar.set_postfix(loss=f"{value:.4f}", lr=f"{run.lr:.2e}")
                    if stopping:
                        run.save()
                        bar.close()
                        raise KeyboardInterrupt(f"interrupted at step {run.step}"
                                                + (f"; checkpoint saved to {run.ckpt}" if run.ckpt else ""))
                bar.update(1)
                if last:
                    break
            run.end_epoch(epoch, time.perf_counter() - t0, n_images, loss_sum, n_steps, on_epoch_end)
    bar.close()
    return run.history


def _check_compatible(state: dict, cfg: PretrainConfig, kind: str, path: Path) -> None:
    """A checkpoint resumes only the same kind of run on the same architecture and data."""
    saved = state.get("config", {})
    if state.get("kind") != kind:
        raise CheckpointError(f"{path} was written by a {state.get('kind')!r} run, not {kind!r}")
    for key in ("method", "backbone", "width", "dataset", "proj_hidden", "proj_dim", "batch_size"):
        if saved.get(key) != getattr(cfg, key):
            raise CheckpointError(f"{path} has {key}={saved.get(key)!r} but this run has {key}={getattr(cfg, key)!r}; "
                                  f"use the same {key} to resume, or another --out to start afresh")


# ---------------------------------------------------------------------------------- entry points

def _prepare(cfg: PretrainConfig, device: torch.device | None = None):
    validate(cfg)
    device = device or resolve_device(cfg.device)
    images, labels = cfg.load(pretraining_split(cfg.dataset, cfg.data_dir))
    if cfg.train_subset is not None:
        if cfg.train_subset > len(images):
            raise ValueError(f"train_subset={cfg.train_subset} but {cfg.dataset} has {len(images)} training images")
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.train_subset]
        images, labels = images[keep], labels[keep]
    return device, images, labels


def pretraining_images(cfg: PretrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images of the run ``cfg`` describes, exactly as its loop sees them
    (``cfg.train_subset`` drawn with ``cfg.seed``), with their labels: uint8 (N, C, H, W), int64 (N,).

    Self-supervised pretraining never reads these labels; notebooks reveal some of them afterwards
    (linear probe, fine-tuning, label-efficiency curves), so labelled subsets lie inside the
    pretraining images, as they would in practice."""
    _, images, labels = _prepare(cfg)
    return images, labels


def build_model(cfg: PretrainConfig, device=None) -> nn.Module:
    """The method (encoder + heads) of ``cfg`` with the initial weights of ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    channels = cfg.spec().channels
    backbone = build_backbone(cfg.backbone, channels, **({"width": cfg.width} if cfg.backbone == "convnet" else {}))
    model = build_method(cfg.method, backbone, **method_hparams(cfg))
    model = model.to(device or "cpu")
    if torch.device(device or "cpu").type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest conv kernels once
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def method_hparams(cfg: PretrainConfig) -> dict:
    """The constructor arguments of cfg.method taken from the config: only those the method takes
    (its ``HPARAMS``, plus what its ``config_hparams`` derives, e.g. the image size of a decoder)."""
    return METHODS[cfg.method].config_hparams(cfg)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when ``enabled``; a no-op elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def views_loss_fn(model: nn.Module, cfg: PretrainConfig, device: torch.device, forward=None):
    """``views_loss(views, generator) -> loss``: the method on its augmented views, in cfg's memory
    format and precision (bf16 autocast on CUDA). ``forward`` may be a compiled or DDP-wrapped ``model``."""
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    forward = forward or model

    def views_loss(views, g):
        extra = {"generator": g} if getattr(model, "needs_generator", False) else {}  # masks / GAN noise
        with autocast(device, cfg.amp):
            return forward(*(v.contiguous(memory_format=fmt) for v in views), **extra)

    return views_loss


def pretrain(cfg: PretrainConfig, *, resume: bool = False, progress: bool = True, sync_bn: bool = False,
             log=None) -> dict:
    """Self-supervised pretraining of ``cfg.method``; returns ``{"method", "history", "config"}``.

    The method says which views it trains on (:meth:`sslkit.methods.Method.views`); each step
    augments the batch into them and passes them back. Under torchrun (WORLD_SIZE > 1) it trains
    data-parallel (:mod:`sslkit.distributed`), with SyncBatchNorm if ``sync_bn``; every rank
    returns, only rank 0's history has the kNN entries. Before training it says what it will do (the
    images, the views, the model, the steps) and, after the first steps, how long the rest will take:
    to ``log`` (e.g. ``print``), or printed when ``progress`` shows a bar.
    """
    validate(cfg)
    dist = distributed.setup(cfg.device)
    device, images, labels = _prepare(cfg, dist.device)
    model = build_model(cfg, device)
    forward = dist.wrap(model, sync_bn=sync_bn)  # DDP across ranks; the model itself in one process
    loader = training_loader(images, batch_size=cfg.batch_size, device=device, seed=cfg.seed, rank=dist.rank,
                             world_size=dist.world_size)
    spec = cfg.spec()
    views = model.views(spec)
    views_loss = views_loss_fn(model, cfg, device, compile_model(forward, cfg))

    def step_loss(x, y, g):
        return views_loss(views(x, generator=g), g)

    say = (log or (print if progress else None)) if dist.is_main else None
    say = say or (lambda *a, **k: None)
    total = _total_steps(cfg, loader)
    say(f"data: {len(images):,} images of {spec.summary()}")
    say(f"views: {len(views)} per image ({', '.join(sorted({str(s) for s in views.sizes}))} px), "
        f"{recipe(spec)[0]}; model: {cfg.method} on {cfg.backbone}"
        + (f" (width {cfg.width})" if cfg.backbone == "convnet" else "")
        + f"; {total} steps of batch {cfg.batch_size} on {device}")
    on_epoch_end = None
    if cfg.knn_every and dist.is_main:
        on_epoch_end = _knn_monitor(model.encoder, cfg, images, labels, views.normalize, device, say)
    history = fit(model, step_loss, loader, cfg, cfg.method, resume=resume, progress=progress,
                  on_epoch_end=on_epoch_end, on_first_steps=lambda s, left: say(_pace_note(cfg, spec, device, s, left)),
                  dist=dist)
    model.eval()
    return {"method": model, "history": history, "config": cfg}


LONG_RUN_MINUTES = 60  # on a CPU, a run longer than this gets advice on how to shorten it


def _pace_note(cfg, spec, device, seconds_per_step: float, steps_left: int) -> str:
    """"~N min for M steps on this machine", with what to change when that is long for a CPU."""
    seconds = seconds_per_step * steps_left
    minutes = seconds / 60
    took = f"{seconds:.0f} s" if seconds < 90 else f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
    note = f"time: ~{took} for the {steps_left} steps left ({seconds_per_step:.2f} s/step on this machine)"
    if device.type == "cpu" and minutes > LONG_RUN_MINUTES:
        ideas = []
        if spec.size > 64:
            ideas.append(f"smaller images (--image-size 64; now {spec.size} px)")
        if cfg.backbone != "convnet":
            ideas.append("the small ConvNet (--backbone convnet)")
        ideas += ["fewer steps (--epochs, --max-steps, --train-subset)", "a GPU (--device cuda)"]
        note += f". That is long for this CPU; it will run, but consider {'; '.join(ideas)}"
    return note


def _knn_monitor(encoder, cfg, train_images, train_labels, normalize, device, say=print):
    """kNN accuracy every ``cfg.knn_every`` epochs on fixed subsets (bank from train, queries from test);
    None (and a note) when the data has no labelled training images or no labelled test split."""
    if "test" not in labelled_splits(cfg.dataset, cfg.data_dir) or bool((train_labels < 0).any()):
        say("kNN monitor: off (it needs labelled training images and a labelled test/ split)")
        return None
    g = torch.Generator().manual_seed(cfg.seed)
    bank = torch.randperm(len(train_images), generator=g)[: cfg.knn_bank]
    test_x, test_y = cfg.load("test")
    queries = torch.randperm(len(test_x), generator=g)[: cfg.knn_queries]
    bank_x, bank_y = train_images[bank].to(device), train_labels[bank].to(device)
    q_x, q_y = test_x[queries].to(device), test_y[queries].to(device)

    def monitor(epoch: int) -> dict:
        if epoch % cfg.knn_every:
            return {}
        fb = extract_features(encoder, bank_x, normalize)
        fq = extract_features(encoder, q_x, normalize)
        return {"knn_acc": knn_accuracy(fb, bank_y, fq, q_y)}

    return monitor


def load_pretrained(path, device="cpu") -> tuple[nn.Module, PretrainConfig]:
    """Rebuild the method of a pretraining checkpoint and load its weights; returns (method, config)."""
    state = load_checkpoint(path, map_location=device)
    if state.get("kind") == "supervised":
        raise CheckpointError(f"{path} holds a supervised classifier, not a self-supervised encoder")
    try:
        cfg = PretrainConfig(**{**state["config"], "device": str(device)})
        validate(cfg)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has an invalid or foreign config: {e}") from e
    model = build_model(cfg, device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit a {cfg.method}/{cfg.backbone} model: "
                              f"{str(e).splitlines()[0]}") from e
    return model.eval(), cfg


def run_digest(fields: dict) -> str:
    """A short hash of a run's settings: the name of its directory in the run cache."""
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def pretrained(cfg: PretrainConfig, root: str | Path | None = None, progress: bool = True) -> dict:
    """Pretrain ``cfg`` once and reuse it: the run lives in ``root/<method>-<dataset>-<config hash>``
    (default :data:`sslkit.paths.RUN_CACHE`) and is resumed, so a finished run returns at once and an
    interrupted one continues.

    This is how notebooks share an encoder (04 trains it, 05 and 09 reuse it) and how a reader
    skips training that already happened. ``cfg.out`` is ignored; the hash covers every other field.
    Asked for a run another process is training, it waits for it (:func:`sslkit.io.when_unlocked`).
    """
    fields = {k: v for k, v in cfg.to_dict().items() if k not in ("out", "device", "knn_every", "log_every")}
    root = Path(root) if root is not None else RUN_CACHE
    run = dataclasses.replace(cfg, out=str(root / f"{cfg.method}-{cfg.dataset}-{run_digest(fields)}"))
    return when_unlocked(run.out, lambda: pretrain(run, resume=True, progress=progress))
