"""Training with labels: fine-tuning a pretrained encoder, and the supervised-from-scratch baseline.

    result = fine_tune(encoder, images, labels, cfg, trainable="last", steps=300)   # -> {"model", ...}
    result = train_supervised(cfg)                   # backbone + linear head, from scratch, cfg's budget
    model = PartialClassifier(encoder, 10, "none")   # only the head trains: a linear probe by SGD

Both use the loop of :mod:`sslkit.train` (checkpoints, exact resume) and the supervised augmentation
recipe (:func:`sslkit.augment.supervised`). Evaluating frozen features is :mod:`sslkit.evaluate`.
"""
from __future__ import annotations

import copy as copy_module
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from sslkit.augment import supervised
from sslkit.checks import check_choice, check_positive, resolve_device
from sslkit.config import PretrainConfig
from sslkit.data import DeviceLoader, _labels
from sslkit.evaluate import extract_features, linear_probe
from sslkit.train import _prepare, autocast, build_model, fit, step_budget


class Classifier(nn.Module):
    """Backbone + linear layer, for supervised training and fine-tuning: (N, C, H, W) -> logits (N, K)."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


TRAINABLE = ("all", "last", "none")


def last_block(encoder: nn.Module) -> nn.Module:
    """The last stage of a backbone, the part "last-block" fine-tuning trains: the fourth conv
    stage of :class:`~sslkit.models.ConvNet`, ``layer4`` of :class:`~sslkit.models.ResNet18CIFAR`.
    Another backbone may name its own with a ``last_block`` attribute."""
    if hasattr(encoder, "last_block"):
        return encoder.last_block
    if hasattr(encoder, "net") and hasattr(encoder.net, "layer4"):
        return encoder.net.layer4
    feats = getattr(encoder, "features", None)
    if isinstance(feats, nn.Sequential):
        stages = [m for m in feats if len(list(m.parameters()))]  # skip pooling / flatten
        if stages:
            return stages[-1]
    raise ValueError(f"don't know the last block of a {type(encoder).__name__}; give it a `last_block` attribute")


class PartialClassifier(Classifier):
    """:class:`Classifier` of which only a part trains: ``trainable`` = "all", "last"
    (:func:`last_block` + head) or "none" (head only). Frozen modules stay in eval mode, whatever
    ``train()`` says, so their BatchNorm statistics don't move either: frozen means frozen."""

    def __init__(self, encoder: nn.Module, num_classes: int, trainable: str = "all"):
        check_choice("trainable", trainable, TRAINABLE)
        super().__init__(encoder, num_classes)
        self.trainable = trainable
        for p in encoder.parameters():
            p.requires_grad_(trainable == "all")
        if trainable == "last":
            for p in last_block(encoder).parameters():
                p.requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.trainable != "all":
            self.encoder.eval()
            if self.trainable == "last":
                last_block(self.encoder).train()
        return self


def fine_tune(encoder: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg, *, trainable: str = "all",
              steps: int = 200, batch_size: int | None = None, lr: float | None = None,
              weight_decay: float | None = None, warmup: float = 0.1, num_classes: int | None = None,
              head_init: str | None = None, probe_weight_decay: float = 1e-3, copy: bool = True,
              progress: bool = False, on_epoch_end=None) -> dict:
    """Cross-entropy training of ``encoder`` + a new linear head on labelled uint8 ``images`` (N, C, H, W).

    ``trainable``: "all" (full fine-tuning; with a freshly initialised encoder this is the
    supervised-from-scratch baseline), "last" (only :func:`last_block` and the head; the rest is
    frozen, BatchNorm statistics included) or "none" (only the head: a linear probe trained by SGD
    on augmented images). The budget is ``steps`` optimiser steps of ``batch_size`` images
    (default ``min(cfg.batch_size, N)``), whatever N is, so curves over label budgets compare
    equal compute. Everything else comes from ``cfg`` (a :class:`~sslkit.config.PretrainConfig`):
    dataset (augmentation and normalisation), device, seed, optimiser, lr and weight decay unless
    given here. The loop is :func:`sslkit.train.fit` with the supervised recipe
    (:func:`sslkit.augment.supervised`: random resized crop at scale 0.5-1, flip); learning
    rate warm-up over the first ``warmup`` fraction of the steps, then cosine.

    ``head_init="probe"``: start the head at the :func:`linear_probe` solution on the encoder's
    features of ``images`` (ridge ``probe_weight_decay``) instead of at random: "LP-FT" (Kumar et
    al. 2022, "Fine-tuning can distort pretrained features and underperform out-of-distribution").
    A random head sends large, meaningless gradients into a pretrained encoder in the first steps;
    a probed head starts where the linear probe ends and fine-tuning can only build on it.
    ``copy``: train a deep copy, so the caller's (pretrained) encoder is left as it was.
    ``on_epoch_end(epoch) -> dict`` adds entries to each epoch's history record (e.g. accuracy on
    a validation split). Returns ``{"model", "history", "trainable_params", "total_params"}``;
    ``model(x)`` maps normalised images to logits (see :func:`predict`).
    """
    check_choice("trainable", trainable, TRAINABLE)
    check_positive("steps", steps)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor (N, C, H, W)")
    labels = _labels(labels)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    device = resolve_device(cfg.device)
    batch = min(batch_size or cfg.batch_size, len(images))
    run = dataclasses.replace(cfg, batch_size=batch, out=None, lr=cfg.lr if lr is None else lr,
                              weight_decay=cfg.weight_decay if weight_decay is None else weight_decay,
                              log_every=max(1, min(cfg.log_every, steps // 20)))
    run = dataclasses.replace(run, **step_budget(run, len(images), steps, warmup))
    if copy:
        encoder = copy_module.deepcopy(encoder)
    torch.manual_seed(cfg.seed)
    k = num_classes or int(labels.max()) + 1
    model = PartialClassifier(encoder, k, trainable).to(device)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    loader = DeviceLoader(images, labels, batch_size=batch, device=device, shuffle=True, drop_last=True,
                          seed=cfg.seed)
    augment = supervised(cfg.spec())
    if head_init is not None:
        check_choice("head_init", head_init, ("probe",))
        feats = extract_features(model.encoder, images, augment.normalize, device=device)
        probe = linear_probe(feats, labels.to(device), feats[:1], weight_decay=probe_weight_decay)
        mean, std = feats.mean(0), feats.std(0).clamp_min(1e-6)  # the probe's standardisation, folded in
        with torch.no_grad():
            w = probe["weight"] / std
            model.head.weight.zero_()[: len(w)] = w
            model.head.bias.zero_()[: len(w)] = probe["bias"] - w @ mean
    def step_loss(x, y, g):
        with autocast(device, cfg.amp):
            return F.cross_entropy(model(augment(x, generator=g).contiguous(memory_format=fmt)), y)

    history = fit(model, step_loss, loader, run, f"finetune-{trainable}", progress=progress,
                  on_epoch_end=on_epoch_end)
    model.eval()
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"model": model, "history": history, "trainable_params": n_train,
            "total_params": sum(p.numel() for p in model.parameters())}


def _num_classes(cfg: PretrainConfig, labels: torch.Tensor) -> int:
    """The classifier's output size: the dataset's classes; an error for images without labels."""
    if bool((labels < 0).any()):
        raise ValueError(f"{cfg.dataset} at {cfg.data_dir}: the training images have no labels (an unlabelled "
                         f"folder); supervised training needs class folders")
    return cfg.spec().num_classes or int(labels.max()) + 1


def train_supervised(cfg: PretrainConfig, *, encoder: nn.Module | None = None, train_idx=None,
                     resume: bool = False, progress: bool = True) -> dict:
    """Cross-entropy training of backbone + linear head with labels: the supervised baseline
    (``encoder=None``: from scratch, same backbone and budget as ``cfg``) or full fine-tuning of a
    pretrained ``encoder``, with checkpoints in ``cfg.out``. ``train_idx`` restricts the labelled
    images (label-efficiency curves). Returns ``{"model", "history", "config"}``.
    """
    device, images, labels = _prepare(cfg)
    if train_idx is not None:
        images, labels = images[train_idx], labels[train_idx]
    if encoder is None:
        encoder = build_model(cfg).encoder
    torch.manual_seed(cfg.seed)
    model = Classifier(encoder, _num_classes(cfg, labels)).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    batch = min(cfg.batch_size, len(images))
    loader = DeviceLoader(images, labels, batch_size=batch, device=device, shuffle=True, drop_last=True,
                          seed=cfg.seed)
    augment = supervised(cfg.spec())
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format

    def step_loss(x, y, g):
        with autocast(device, cfg.amp):
            return F.cross_entropy(model(augment(x, generator=g).contiguous(memory_format=fmt)), y)

    history = fit(model, step_loss, loader, cfg, "supervised", resume=resume, progress=progress)
    model.eval()
    return {"model": model, "history": history, "config": cfg}
