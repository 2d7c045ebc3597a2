"""Training loops: self-supervised pretraining and the supervised-from-scratch baseline.

    cfg = sslkit.config.resolve("quick", epochs=5, out="runs/simclr")
    result = pretrain(cfg)                  # -> {"method", "history", "config"}
    result = pretrain(cfg, resume=True)     # continues from runs/simclr/checkpoint.pt

One loop (:func:`fit`) serves both. What makes it exact and safe:
- randomness is a pure function of (seed, step): epoch e's order comes from DeviceLoader(seed, e)
  and step s's augmentations from a generator seeded with (seed, s), so a resumed run draws the
  same numbers as an uninterrupted one and ends with the same weights;
- the learning rate is a pure function of the step (linear warm-up, then cosine);
- checkpoints are written atomically (sslkit.io) at epoch ends and on Ctrl-C (at a step boundary);
- a non-finite loss stops the run before anything is written, so the last checkpoint stays good;
- the loss is read back to the host only every ``log_every`` steps (no sync inside a step on GPU).

Under ``torchrun`` (:mod:`sslkit.distributed`) the same loop runs data-parallel: ``cfg.batch_size``
is the global batch, split over the processes, and a step means the same for any number of them,
so a checkpoint resumes on another world size at the same step. Rank 0 alone writes, shows
progress and evaluates; the logged loss is the mean over ranks. A single process creates no
process group and runs exactly the code path it always did.
"""
from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from pathlib import Path

import torch
from torch import nn

from sslkit import distributed
from sslkit.augment import for_dataset
from sslkit.config import PretrainConfig, resolve_device, validate
from sslkit.data import DeviceLoader, info, load
from sslkit.io import (CheckpointError, DirectoryLock, atomic_write_json, load_checkpoint, save_checkpoint,
                       when_unlocked)
from sslkit.methods import METHODS, build_method
from sslkit.models import build_backbone


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingOutOfMemoryError(RuntimeError):
    """The device ran out of memory during a step."""


# ------------------------------------------------------------------------------- optimisation

class LARS(torch.optim.Optimizer):
    """LARS (You et al. 2017, "Large batch training of convolutional networks"), as in SimCLR.

    SGD with momentum where each weight matrix's step is scaled by the trust ratio
    eta * ||w|| / ||g + wd * w||. Biases and BatchNorm parameters (1-D) are excluded from both the
    adaptation and the weight decay, as SimCLR does.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 1e-3):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta))

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
                    g = g.mul(trust)
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(g)
                p.add_(buf, alpha=-group["lr"])


def build_optimizer(model: nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum), AdamW (``cfg.betas``) or LARS; no weight decay on biases and normalisation parameters."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum)
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

def fit(model: nn.Module, step_loss, loader: DeviceLoader, cfg: PretrainConfig, kind: str, *,
        resume: bool = False, progress: bool = True, on_epoch_end=None,
        dist: distributed.Dist | None = None) -> dict:
    """Train ``model`` on ``step_loss(x, y, generator) -> loss`` over ``loader``; returns the history.

    Checkpoints go to ``cfg.out/checkpoint.pt`` and the history to ``cfg.out/history.json`` when
    ``cfg.out`` is set. ``on_epoch_end(epoch) -> dict`` adds entries (e.g. kNN accuracy) to the
    epoch's record. ``kind`` names what is trained ("simclr", "supervised", ...) and is checked on resume.
    ``dist``: the data-parallel context (:func:`sslkit.distributed.setup`); then ``step_loss`` runs
    the DDP-wrapped model, ``loader`` yields this rank's part of each global batch, and only rank 0
    writes and calls ``on_epoch_end``. None: a single process.
    """
    dist = dist or distributed.Dist()
    if not cfg.out or not dist.is_main or (resume and _finished(cfg, loader)):
        # A finished run is only read (checkpoints are written atomically), so notebooks running
        # side by side can share a cached encoder; the lock is for writers.
        return _fit(model, step_loss, loader, cfg, kind, resume, progress, on_epoch_end, dist)
    with DirectoryLock(cfg.out):  # one writer per output directory
        return _fit(model, step_loss, loader, cfg, kind, resume, progress, on_epoch_end, dist)


def _total_steps(cfg, loader) -> int:
    total = cfg.epochs * len(loader)
    return total if cfg.max_steps is None else min(total, cfg.max_steps)


def _finished(cfg, loader) -> bool:
    """Whether ``cfg.out`` holds a checkpoint that has already run every step."""
    path = Path(cfg.out) / "checkpoint.pt"
    if not path.exists():
        return False
    try:
        return load_checkpoint(path, map_location="cpu").get("step", 0) >= _total_steps(cfg, loader)
    except CheckpointError:
        return False  # let the locked path report it


def _fit(model, step_loss, loader, cfg, kind, resume, progress, on_epoch_end, dist) -> dict:
    from sslkit.progress import tqdm

    device = next(model.parameters()).device
    steps_per_epoch = len(loader)
    total = _total_steps(cfg, loader)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    opt = build_optimizer(model, cfg)
    out = Path(cfg.out) if cfg.out else None
    ckpt_path = out / "checkpoint.pt" if out else None
    history = {"kind": kind, "config": cfg.to_dict(), "epochs": [], "steps": []}
    step = 0

    if resume:
        if ckpt_path is None:
            raise ValueError("resume=True needs cfg.out, the directory that holds checkpoint.pt")
        # Rank 0 reads (other nodes need no shared filesystem) and hands the state to every rank.
        where = "cpu" if dist.active else device
        state = dist.on_main(lambda: load_checkpoint(ckpt_path, map_location=where) if ckpt_path.exists() else None)
        if state is not None:
            _check_compatible(state, cfg, kind, ckpt_path)
            try:
                model.load_state_dict(state["model"])
            except RuntimeError as e:
                raise CheckpointError(f"{ckpt_path} does not fit this model: {str(e).splitlines()[0]}") from e
            opt.load_state_dict(state["optimizer"])
            step, history = state["step"], state["history"]

    def save():
        if ckpt_path is not None and dist.is_main:
            save_checkpoint(ckpt_path, {"kind": kind, "config": cfg.to_dict(), "step": step,
                                        "model": model.state_dict(), "optimizer": opt.state_dict(),
                                        "history": history, "world_size": dist.world_size})
            atomic_write_json(out / "history.json", history)
        dist.barrier()  # the other ranks wait until the checkpoint is on disk

    model.train()
    bar = tqdm(total=total, initial=step, desc=kind, unit="step", disable=not (progress and dist.is_main),
               dynamic_ncols=True)
    with _StopFlag() as stop:
        while step < total:
            epoch, start = divmod(step, steps_per_epoch)
            t0, n_images, loss_sum, n_logged = time.perf_counter(), 0, torch.zeros((), device=device), 0
            for x, y in loader.epoch(epoch, start):
                lr = lr_at(step, total, warmup, cfg.lr)
                for group in opt.param_groups:
                    group["lr"] = lr
                batch = len(x) * dist.world_size  # the global batch
                try:
                    extra = (dist.rank,) if dist.rank else ()  # rank 0 draws what a single process draws
                    loss = step_loss(x, y, step_generator(cfg.seed, step, device, *extra))
                    optimizer_step(model, opt, loss, step, total)
                except torch.OutOfMemoryError as e:
                    raise TrainingOutOfMemoryError(
                        f"{kind}: out of memory at step {step} with batch_size {batch} on {device}; "
                        f"try a smaller batch (e.g. batch_size {max(2, batch // 2)}), a smaller model, or "
                        f"another device. The last checkpoint, if any, is intact.") from e
                step += 1
                n_images += batch
                loss_sum += loss.detach()
                n_logged += 1
                last = step == total or step % steps_per_epoch == 0
                stopping = False
                # Ranks agree on the loss and on stopping at the log points only (one collective there).
                if step % cfg.log_every == 0 or last or (stop.requested and not dist.active):
                    value, stopping = dist.loss_and_stop(loss, stop.requested)  # the only host sync
                    if not math.isfinite(value):
                        raise TrainingDivergedError(
                            f"{kind}: loss became {value} at step {step} (epoch {epoch + 1}, lr {lr:.3g}); "
                            f"stopped without writing a checkpoint"
                            + (f", the last good one is {ckpt_path}" if ckpt_path and ckpt_path.exists() else "")
                            + ". Lower the learning rate (lr) or check the input data.")
                    history["steps"].append({"step": step, "loss": value, "lr": lr})
                    bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
                bar.update(1)
                if stopping:
                    save()
                    bar.close()
                    raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint saved to {ckpt_path}"
                                            if ckpt_path else f"interrupted at step {step}")
                if last:
                    break
            seconds = time.perf_counter() - t0
            record = {"epoch": epoch + 1, "step": step, "loss": dist.mean(loss_sum / max(1, n_logged)), "lr": lr,
                      "seconds": seconds, "images_per_s": n_images / seconds}
            if dist.active:
                record["world_size"] = dist.world_size
            if on_epoch_end is not None and dist.is_main:
                record.update(on_epoch_end(epoch + 1))
            history["epochs"].append(record)
            if (epoch + 1) % cfg.checkpoint_every == 0 or step == total:
                save()
    bar.close()
    return history


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
    images, labels = load(cfg.dataset, "train", root=cfg.data_dir)
    if cfg.train_subset is not None:
        if cfg.train_subset > len(images):
            raise ValueError(f"train_subset={cfg.train_subset} but {cfg.dataset} has {len(images)} training images")
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.train_subset]
        images, labels = images[keep], labels[keep]
    return device, images, labels


def build_model(cfg: PretrainConfig, device=None) -> nn.Module:
    """The method (encoder + heads) of ``cfg`` with the initial weights of ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    channels = info(cfg.dataset)["channels"]
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


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def views_loss_fn(model: nn.Module, cfg: PretrainConfig, device: torch.device, forward=None):
    """``views_loss(x1, x2, generator) -> loss``: the method on two augmented views, in cfg's memory
    format and precision (bf16 autocast on CUDA). ``forward`` may be a compiled ``model``."""
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    forward = forward or model

    def views_loss(x1, x2, g):
        extra = {"generator": g} if getattr(model, "needs_generator", False) else {}  # masks / GAN noise
        with _autocast(device, cfg.amp):
            return forward(x1.contiguous(memory_format=fmt), x2.contiguous(memory_format=fmt), **extra)

    return views_loss


def pretrain(cfg: PretrainConfig, *, resume: bool = False, progress: bool = True, sync_bn: bool = False) -> dict:
    """Self-supervised pretraining of ``cfg.method``; returns ``{"method", "history", "config"}``.

    Under torchrun (WORLD_SIZE > 1) it trains data-parallel (:mod:`sslkit.distributed`), with
    SyncBatchNorm if ``sync_bn``; every rank returns, only rank 0's history has the kNN entries.
    """
    validate(cfg)
    dist = distributed.setup(cfg.device)
    device, images, labels = _prepare(cfg, dist.device)
    model = build_model(cfg, device)
    forward = dist.wrap(model, sync_bn=sync_bn)  # DDP across ranks; the model itself in one process
    loader = dist.loader(images, batch_size=cfg.batch_size, device=device, seed=cfg.seed)
    augment = for_dataset(cfg.dataset, **model.augment_overrides)  # e.g. milder views for rotation
    views_loss = views_loss_fn(model, cfg, device, compile_model(forward, cfg))

    def step_loss(x, y, g):
        return views_loss(augment(x, generator=g), augment(x, generator=g), g)

    on_epoch_end = None
    if cfg.knn_every and dist.is_main:
        on_epoch_end = _knn_monitor(model.encoder, cfg, images, labels, augment, device)
    history = fit(model, step_loss, loader, cfg, cfg.method, resume=resume, progress=progress,
                  on_epoch_end=on_epoch_end, dist=dist)
    model.eval()
    return {"method": model, "history": history, "config": cfg}


def _knn_monitor(encoder, cfg, train_images, train_labels, augment, device):
    """kNN accuracy every ``cfg.knn_every`` epochs on fixed subsets (bank from train, queries from test)."""
    from sslkit.evaluate import extract_features, knn_accuracy

    g = torch.Generator().manual_seed(cfg.seed)
    bank = torch.randperm(len(train_images), generator=g)[: cfg.knn_bank]
    test_x, test_y = load(cfg.dataset, "test", root=cfg.data_dir)
    queries = torch.randperm(len(test_x), generator=g)[: cfg.knn_queries]
    bank_x, bank_y = train_images[bank].to(device), train_labels[bank].to(device)
    q_x, q_y = test_x[queries].to(device), test_y[queries].to(device)

    def monitor(epoch: int) -> dict:
        if epoch % cfg.knn_every:
            return {}
        fb = extract_features(encoder, bank_x, augment.normalize)
        fq = extract_features(encoder, q_x, augment.normalize)
        return {"knn_acc": knn_accuracy(fb, bank_y, fq, q_y)}

    return monitor


class Classifier(nn.Module):
    """Backbone + linear layer, for supervised training and fine-tuning: (N, C, H, W) -> logits (N, K)."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def train_supervised(cfg: PretrainConfig, *, encoder: nn.Module | None = None, train_idx=None,
                     resume: bool = False, progress: bool = True) -> dict:
    """Cross-entropy training of backbone + linear head with labels: the supervised baseline
    (``encoder=None``: from scratch, same backbone and budget as ``cfg``) or full fine-tuning of a
    pretrained ``encoder``. ``train_idx`` restricts the labelled images (label-efficiency curves).
    Augmentation: random resized crop (scale 0.5-1) and flip, the usual supervised recipe.
    Returns ``{"model", "history", "config"}``.
    """
    device, images, labels = _prepare(cfg)
    if train_idx is not None:
        images, labels = images[train_idx], labels[train_idx]
    if encoder is None:
        encoder = build_model(cfg).encoder
    torch.manual_seed(cfg.seed)
    model = Classifier(encoder, info(cfg.dataset)["num_classes"]).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    batch = min(cfg.batch_size, len(images))
    loader = DeviceLoader(images, labels, batch_size=batch, device=device, shuffle=True, drop_last=True,
                          seed=cfg.seed)
    augment = for_dataset(cfg.dataset, crop_scale=(0.5, 1.0), jitter_p=0.0, gray_p=0.0, blur_p=0.0,
                          solarize_p=0.0)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format

    def step_loss(x, y, g):
        with _autocast(device, cfg.amp):
            return nn.functional.cross_entropy(model(augment(x, generator=g).contiguous(memory_format=fmt)), y)

    history = fit(model, step_loss, loader, cfg, "supervised", resume=resume, progress=progress)
    model.eval()
    return {"model": model, "history": history, "config": cfg}


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


def pretrained(cfg: PretrainConfig, root: str | Path | None = None, progress: bool = True) -> dict:
    """Pretrain ``cfg`` once and reuse it: the run lives in ``root/<method>-<dataset>-<config hash>``
    and is resumed, so a finished run returns at once and an interrupted one continues.

    This is how notebooks share an encoder (04 trains it, 05 and 09 reuse it) and how a reader
    skips training that already happened. ``cfg.out`` is ignored; the hash covers every other field.
    Asked for a run another process is training, it waits for it (:func:`sslkit.io.when_unlocked`).
    """
    import hashlib
    import json

    fields = {k: v for k, v in cfg.to_dict().items() if k not in ("out", "device", "knn_every", "log_every")}
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    root = Path(root) if root is not None else Path(__file__).resolve().parent.parent / "runs" / "cache"
    run = dataclasses.replace(cfg, out=str(root / f"{cfg.method}-{cfg.dataset}-{digest}"))
    return when_unlocked(run.out, lambda: pretrain(run, resume=True, progress=progress))
