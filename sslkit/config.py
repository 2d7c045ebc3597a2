"""Profiles (named presets of parameters) and the pretraining configuration.

A profile is a dict of defaults; any key can be overridden:

    cfg = resolve("quick", dataset="fashion-mnist", epochs=3)
    cfg = resolve("full", method="byol")       # the full profile with BYOL's own recipe

Every field is validated (:mod:`sslkit.checks`): a typo in a notebook parameter cell or on the
command line fails at once, with the valid values in the message. Method recipes live on the method
classes (:attr:`sslkit.methods.Method.full_recipe`); this module only applies them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sslkit.checks import check_betas, check_bool, check_choice, check_number, check_positive
from sslkit.data import DATASETS, DataSpec, describe, load
from sslkit.methods import METHODS
from sslkit.models import BACKBONES


@dataclass
class PretrainConfig:
    """Every knob of a pretraining run. Build one with :func:`resolve` (profile + overrides)."""

    profile: str = "quick"
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None   # resize every image to this side when loading (mixed-size or large folders)
    skip_bad_images: bool = False   # image folders: skip (and count) files that do not decode instead of failing
    method: str = "simclr"
    backbone: str = "convnet"
    width: int = 32                 # ConvNet width (ignored by resnet18)
    epochs: int = 2
    max_steps: int | None = None    # stop early after this many optimiser steps (smoke tests, time budgets)
    batch_size: int = 256
    optimizer: str = "adamw"        # sgd, adamw or lars
    lr: float = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9           # SGD / LARS
    betas: tuple = (0.9, 0.999)     # AdamW's (beta1, beta2); DCGAN's recipe: (0.5, 0.999), MAE's: (0.9, 0.95)
    lars_eta: float = 1e-3          # LARS trust coefficient (SimCLR: 1e-3; solo-learn's CIFAR recipes: 0.02)
    lars_clip: bool = False         # LARS: never step faster than plain SGD at lr (solo-learn's clip_lr)
    warmup_epochs: float = 1.0
    temperature: float = 0.5
    proj_hidden: int = 512
    proj_dim: int = 128
    train_subset: int | None = None  # use only the first N (shuffled) unlabelled training images
    device: str = "auto"
    seed: int = 0
    amp: bool = True                # bf16 autocast on CUDA (no effect on CPU)
    channels_last: bool = True
    compile: bool = False
    knn_every: int = 0              # kNN monitor every N epochs (0: off)
    knn_bank: int = 10000           # labelled train images in the monitor's memory bank
    knn_queries: int = 2000         # test images the monitor classifies
    checkpoint_every: int = 1       # epochs
    log_every: int = 25             # steps between loss read-backs (the only host syncs in a step)
    out: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def spec(self) -> DataSpec:
        """The dataset's :class:`~sslkit.data.DataSpec` as this run reads it (folder, image size)."""
        return describe(self.dataset, self.data_dir, self.image_size)

    def load(self, split: str):
        """``split`` of the dataset as this run reads it (folder, image size, bad-file policy)."""
        return load(self.dataset, split, root=self.data_dir, size=self.image_size, skip_bad=self.skip_bad_images)


PROFILES: dict[str, dict] = {
    # CPU, minutes, the embedded Fashion-MNIST, a width-32 ConvNet (docs/results.md: what it reaches).
    "quick": dict(dataset="fashion-mnist", backbone="convnet", width=32, epochs=2, batch_size=256,
                  optimizer="adamw", lr=2e-3, weight_decay=1e-4, warmup_epochs=1.0, temperature=0.5,
                  knn_every=0),
    # One GPU, the published CIFAR-10 protocol (SimCLR, ResNet-18, 200 epochs, kNN monitor).
    "full": dict(dataset="cifar10", backbone="resnet18", epochs=200, batch_size=512, optimizer="sgd",
                 lr=0.06 * 512 / 256, weight_decay=5e-4, momentum=0.9, warmup_epochs=10, temperature=0.5,
                 knn_every=10, knn_bank=50000, knn_queries=10000, checkpoint_every=10, log_every=50),
}

OPTIMIZERS = ("sgd", "adamw", "lars")


def resolve(profile: str = "quick", **overrides) -> PretrainConfig:
    """The profile's preset (plus, for ``full``, the method's :attr:`~sslkit.methods.Method.full_recipe`)
    with ``overrides`` applied, validated. Unknown keys or values fail at once."""
    check_choice("profile", profile, PROFILES)
    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; valid parameters: {', '.join(sorted(fields))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    method = check_choice("method", given.get("method", PretrainConfig.method), METHODS)
    recipe = METHODS[method].full_recipe if profile == "full" else {}
    values = {**PROFILES[profile], **recipe, **given, "profile": profile}
    return validate(PretrainConfig(**values))


def validate(cfg: PretrainConfig) -> PretrainConfig:
    """Check every field of ``cfg``; raise ValueError naming the field and the valid values."""
    check_choice("profile", cfg.profile, PROFILES)
    check_choice("dataset", cfg.dataset, DATASETS)
    check_choice("method", cfg.method, METHODS)
    check_choice("backbone", cfg.backbone, BACKBONES)
    check_choice("optimizer", cfg.optimizer, OPTIMIZERS)
    for name in ("width", "epochs", "batch_size", "proj_hidden", "proj_dim", "knn_bank", "knn_queries",
                 "checkpoint_every", "log_every"):
        check_positive(name, getattr(cfg, name))
    for name in ("lr", "temperature"):
        check_positive(name, getattr(cfg, name), integer=False)
    for name in ("weight_decay", "warmup_epochs", "momentum"):
        check_positive(name, getattr(cfg, name), integer=False, allow_zero=True)
    check_number("lars_eta", cfg.lars_eta, 0.0, low_open=True)
    for name in ("knn_every", "seed"):
        check_positive(name, getattr(cfg, name), allow_zero=True)
    for name in ("max_steps", "train_subset", "image_size"):
        if getattr(cfg, name) is not None:
            check_positive(name, getattr(cfg, name))
    if cfg.batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (contrastive negatives come from the batch), got {cfg.batch_size}")
    if not isinstance(cfg.device, str) or not (cfg.device in ("auto", "cpu") or cfg.device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {cfg.device!r}")
    cfg.betas = check_betas(cfg.betas)
    for name in ("amp", "channels_last", "compile", "lars_clip", "skip_bad_images"):
        check_bool(name, getattr(cfg, name))
    return cfg
