"""Every method and pretext task, same data, same budget, same evaluation.

    python -m sslkit compare --profile quick --out runs/compare          # every registered method
    result = compare("quick", methods=["simclr", "byol"], max_steps=50)  # -> {"rows", "encoders", "out"}

Each method is pretrained with :func:`sslkit.train.pretrain` from the same config (the profile
plus overrides; in ``quick`` only ``method`` changes, so the backbone's initial weights, the
optimiser, the learning-rate schedule, the batch size and the number of steps are the same for
all; in ``full`` each method also gets its published recipe, :attr:`sslkit.methods.Method.full_recipe`,
under the overrides, and the same number of epochs), then its encoder is evaluated with
:func:`sslkit.evaluate.evaluate_encoder` (kNN, linear probe, linear probe on 10 labels per
class), next to the shared random-init encoder as the floor every method
has to beat. Writes to ``out``:

- ``results.md``: the Markdown table (+ the command, budget and hardware),
- ``results.csv``: the same rows,
- ``results.png``: a bar chart of the three accuracies per method, random init as a line.

Budget: ``max_steps`` caps every run at the same number of optimiser steps; the warm-up is then
capped at 10 % of the steps (the profile's warm-up of one epoch would otherwise be longer than
the run). ``eval_train`` / ``eval_test`` evaluate on fixed random subsets of the labelled train
and test splits (the same for every method) when the whole splits would cost too much; 0 means
the whole split. Arguments left at None take the profile's entry of :data:`BUDGETS`: for
``quick`` 100 steps of batch 128 with a width-16 ConvNet and evaluation on 5000 train / 2000
test images (every method in minutes on a laptop CPU); ``full`` keeps the profile's own budget
(200 epochs each: a GPU job). Each method's family comes from its class
(:attr:`sslkit.methods.Method.family`), so a new method needs no entry here.
"""
from __future__ import annotations

import csv
import dataclasses
import platform
import time
from pathlib import Path

import torch

from sslkit.checks import check_choice, check_positive, require_extra, resolve_device
from sslkit.config import PROFILES, resolve, validate
from sslkit.data import info, pretraining_split
from sslkit.evaluate import PROTOCOLS, evaluate_encoder
from sslkit.methods import METHODS
from sslkit.train import build_model, pretrain, step_budget
COLUMNS = ("method", "family", "steps", "batch_size", "optimizer", "lr", "final_loss", "pretrain_s", "images_per_s",
           "knn_acc", "linear_probe_acc", "linear_probe_k10_acc", "eval_s")
RANDOM_INIT = "random-init"

# Per-profile defaults for the arguments left at None (any of them can be passed explicitly).
BUDGETS: dict[str, dict] = {
    "quick": dict(max_steps=100, width=16, batch_size=128, eval_train=5000, eval_test=2000),
    "full": dict(),
}


def _budget(cfg, max_steps: int | None) -> dict:
    """Overrides that make ``max_steps`` the whole run: warm-up capped at 10 % of the steps."""
    if max_steps is None:
        return {}
    known = (info(cfg.dataset)["num_images"] or {}).get("train")  # an image folder's count is its own
    n = cfg.train_subset or known or len(cfg.load(pretraining_split(cfg.dataset, cfg.data_dir))[0])
    budget = step_budget(cfg, n, max_steps, warmup=0.1)
    return {**budget, "warmup_epochs": min(cfg.warmup_epochs, budget["warmup_epochs"])}


def _subset(x, y, n, seed):
    if not n or n >= len(x):
        return x, y
    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[keep], y[keep]


def compare(profile: str = "quick", methods=None, *, epochs: int | None = None, max_steps: int | None = None,
            out=None, protocols=PROTOCOLS, eval_train: int | None = None, eval_test: int | None = None,
            progress: bool = True, log=print, **overrides) -> dict:
    """Pretrain each of ``methods`` (default: all of METHODS) for the same budget and evaluate it.

    ``overrides`` are PretrainConfig fields applied to every run (width, batch_size, lr, seed,
    train_subset, device, ...). Returns ``{"rows": [dict per method + random-init], "encoders":
    {method: encoder}, "out": Path or None}``; writes results.md/.csv/.png when ``out`` is given.
    """
    if methods is None:
        methods = list(METHODS)
    elif isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if not methods:
        raise ValueError(f"no methods given; valid methods: {', '.join(METHODS)}")
    for m in methods:
        check_choice("method", m, METHODS)
    for p in protocols:
        check_choice("protocol", p, PROTOCOLS)
    check_choice("profile", profile, PROFILES)
    budget = BUDGETS.get(profile, {})
    if max_steps is None and epochs is None:
        max_steps = budget.get("max_steps")
    eval_train = budget.get("eval_train") if eval_train is None else eval_train
    eval_test = budget.get("eval_test") if eval_test is None else eval_test
    if max_steps is not None:
        check_positive("max_steps", max_steps)
    for name, value in (("eval_train", eval_train), ("eval_test", eval_test)):
        if value is not None:
            check_positive(name, value, allow_zero=True)
    overrides.pop("out", None)
    for key in ("width", "batch_size"):
        if overrides.get(key) is None and key in budget:
            overrides[key] = budget[key]

    def config(method: str):
        """The profile + the method's recipe (full) + the overrides, capped at the budget."""
        cfg = resolve(profile, method=method, epochs=epochs, **overrides)
        return validate(dataclasses.replace(cfg, **_budget(cfg, max_steps)))

    base = config("simclr")  # also the random-init reference's architecture
    device = resolve_device(base.device)

    train_x, train_y = _subset(*base.load("train"), eval_train, base.seed)
    test_x, test_y = _subset(*base.load("test"), eval_test, base.seed + 1)
    data = (train_x, train_y, test_x, test_y)

    def evaluate(encoder) -> tuple[dict, float]:
        t0 = time.perf_counter()
        metrics = evaluate_encoder(encoder, base.dataset, protocols, data_dir=base.data_dir, device=device,
                                   seed=base.seed, data=data, size=base.image_size)
        return metrics, time.perf_counter() - t0

    rows, encoders = [], {}
    configs = {m: config(m) for m in methods}
    recipes = {_recipe(c) for c in configs.values()}
    recipe = recipes.pop() if len(recipes) == 1 else "each method's recipe (columns batch, optimizer, lr)"
    budget_text = f"{base.max_steps} steps" if base.max_steps else f"{base.epochs} epochs"
    log(f"compare: {len(methods)} methods on {base.dataset} ({base.backbone} width {base.width}), "
        f"{budget_text} each, {recipe}; evaluation on {len(train_x)} train / {len(test_x)} test images")
    metrics, eval_s = evaluate(build_model(dataclasses.replace(base, method="simclr"), device).encoder)
    rows.append({"method": RANDOM_INIT, "family": "baseline", "steps": 0, "batch_size": base.batch_size,
                 "final_loss": None, "pretrain_s": 0.0, "images_per_s": None, **metrics, "eval_s": eval_s})
    log(_line(rows[-1]))
    for m, cfg in configs.items():
        t0 = time.perf_counter()
        result = pretrain(cfg, progress=progress)
        wall = time.perf_counter() - t0
        hist = result["history"]
        steps = hist["steps"][-1]["step"] if hist["steps"] else 0
        loop_s = sum(e["seconds"] for e in hist["epochs"])
        encoder = result["method"].encoder
        metrics, eval_s = evaluate(encoder)
        encoders[m] = encoder
        rows.append({"method": m, "family": METHODS[m].family, "steps": steps, "batch_size": cfg.batch_size,
                     "optimizer": cfg.optimizer, "lr": cfg.lr,
                     "final_loss": hist["steps"][-1]["loss"] if hist["steps"] else None, "pretrain_s": wall,
                     "images_per_s": steps * cfg.batch_size / loop_s if loop_s > 0 else None, **metrics,
                     "eval_s": eval_s})
        log(_line(rows[-1]))

    path = None
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        setup = (f"{base.dataset}, {base.backbone} (width {base.width}), {budget_text} each, {recipe}, "
                 f"seed {base.seed}; "
                 f"evaluated on {len(train_x)} train / {len(test_x)} test images; "
                 f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}")
        write_results(rows, path, title=f"sslkit compare, profile {profile}", setup=setup)
    return {"rows": rows, "encoders": encoders, "out": path}


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _recipe(cfg) -> str:
    """What differs between methods' configs in ``full`` (one string for all of them in ``quick``)."""
    betas = f" betas {cfg.betas[0]:g}/{cfg.betas[1]:g}" if cfg.optimizer == "adamw" else ""
    return f"batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr:g}{betas} wd {cfg.weight_decay:g}"


def _line(row: dict) -> str:
    accs = ", ".join(f"{k} {row[k]:.3f}" for k in ("knn_acc", "linear_probe_acc", "linear_probe_k10_acc") if k in row)
    return f"  {row['method']:18s} {accs}  (pretrain {row['pretrain_s']:.0f} s, eval {row['eval_s']:.0f} s)"


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (accuracies to 3 digits, seconds to 1); batch, optimizer and lr
    columns only when the methods' recipes differ (``full``)."""
    recipes = {(r.get("batch_size"), r.get("optimizer"), r.get("lr")) for r in rows if r.get("optimizer")}
    per_method = len(recipes) > 1
    head = ["method", "family", "steps", *(["batch", "optimizer", "lr"] if per_method else []), "kNN",
            "linear probe", "linear, 10/class", "pretrain s", "images/s", "final loss"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        recipe = ([_fmt(r.get("batch_size")), _fmt(r.get("optimizer")), f"{r['lr']:g}" if r.get("lr") else "-"]
                  if per_method else [])
        cells = [r["method"], r["family"], str(r["steps"]), *recipe, _fmt(r.get("knn_acc")),
                 _fmt(r.get("linear_probe_acc")), _fmt(r.get("linear_probe_k10_acc")), _fmt(r["pretrain_s"], 1),
                 _fmt(r["images_per_s"], 0), _fmt(r["final_loss"], 4)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(rows: list[dict], out, title: str = "sslkit compare", setup: str = "") -> None:
    """results.md, results.csv and results.png in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(f"# {title}\n\n{setup}\n\n{markdown_table(rows)}\n")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in COLUMNS})
    plot_results(rows, out / "results.png", title)


def plot_results(rows: list[dict], path, title: str = "") -> None:
    """Grouped bars (kNN, linear probe, 10 labels/class) per method; dashed lines: random init."""
    require_extra("notebooks", "matplotlib")
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: leaves a notebook's backend alone

    keys = [("knn_acc", "kNN"), ("linear_probe_acc", "linear probe"), ("linear_probe_k10_acc", "linear, 10/class")]
    keys = [(k, label) for k, label in keys if any(r.get(k) is not None for r in rows)]
    methods = [r["method"] for r in rows]
    x = np.arange(len(methods))
    width = 0.8 / max(1, len(keys))
    fig = Figure(figsize=(max(6.0, 0.9 * len(methods) + 2), 4.0))
    ax = fig.subplots()
    base = next((r for r in rows if r["method"] == RANDOM_INIT), None)
    for i, (k, label) in enumerate(keys):
        vals = [r.get(k) if r.get(k) is not None else np.nan for r in rows]
        bars = ax.bar(x + (i - (len(keys) - 1) / 2) * width, vals, width, label=label)
        if base is not None and base.get(k) is not None:
            ax.axhline(base[k], color=bars.patches[0].get_facecolor(), linestyle="--", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=30, ha="right")
    ax.set_ylabel("test accuracy")
    lo = np.nanmin([r.get(k) for r in rows for k, _ in keys if r.get(k) is not None] or [0.0])
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_title(title + " (dashed: random init)" if title else "dashed: random init")
    ax.legend(loc="upper left", ncol=len(keys), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
