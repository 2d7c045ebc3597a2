"""Command line: python -m sslkit <command> [options]

    python -m sslkit pretrain --profile quick --out runs/simclr      # pretrain, then evaluate
    python -m sslkit pretrain --out runs/simclr --resume             # continue an interrupted run
    torchrun --nproc_per_node=4 -m sslkit pretrain --sync-bn ...     # data-parallel (README: Scaling out)
    python -m sslkit evaluate --checkpoint runs/simclr/checkpoint.pt
    python -m sslkit bench augment                                   # batched vs per-image augmentation
    python -m sslkit bench train --device cuda --dataset cifar10     # training steps vs a DataLoader pipeline
    python -m sslkit run-notebooks --profile quick                   # the notebook arc, headless
    python -m sslkit compare --profile quick                         # every method, same budget, one table
    python -m sslkit make-student-copies --out handout               # notebooks without solutions or outputs
    python -m sslkit methods                                         # the registered methods, from their classes
    python -m sslkit neighbours --checkpoint runs/x/checkpoint.pt --out neighbours.png   # what it finds similar
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sslkit import distributed
from sslkit.checks import resolve_device
from sslkit.config import OPTIMIZERS, PROFILES, resolve
from sslkit.data import DATASETS, labelled_splits
from sslkit.evaluate import PROTOCOLS, evaluate_encoder
from sslkit.io import CheckpointError, RunLockedError, atomic_write_json
from sslkit.methods import METHODS
from sslkit.models import BACKBONES
from sslkit.paths import RUNS_DIR
from sslkit.train import (TrainingDivergedError, TrainingOutOfMemoryError, build_model, load_pretrained,
                          pretrain)



def _add_pretrain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", choices=list(PROFILES), help="preset of every knob below")
    p.add_argument("--dataset", choices=list(DATASETS))
    p.add_argument("--data-dir", help="where the dataset lives (default: the repo's data/ dir); for "
                                      "--dataset image-folder, the folder holding train/ (and test/)")
    p.add_argument("--image-size", type=int, help="resize every image to this side when loading (an image folder "
                                                  "of mixed sizes needs it; large images train faster smaller)")
    p.add_argument("--skip-bad-images", action="store_true", default=None,
                   help="image folders: skip (and count) files that do not decode instead of stopping")
    p.add_argument("--method", choices=list(METHODS))
    p.add_argument("--backbone", choices=list(BACKBONES))
    p.add_argument("--width", type=int, help="ConvNet width")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=list(OPTIMIZERS))
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--betas", type=float, nargs=2, metavar=("BETA1", "BETA2"), help="AdamW's betas")
    p.add_argument("--lars-eta", type=float, help="LARS trust coefficient")
    p.add_argument("--lars-clip", action="store_true", default=None,
                   help="LARS: no layer steps faster than plain SGD at --lr")
    p.add_argument("--temperature", type=float)
    p.add_argument("--train-subset", type=int, help="use only N unlabelled training images")
    p.add_argument("--knn-every", type=int, help="kNN monitor every N epochs (0: off)")
    p.add_argument("--checkpoint-every", type=int, help="epochs between checkpoints")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int)
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sslkit", description="sslkit: self-supervised learning kit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("pretrain", help="self-supervised pretraining, then evaluation",
                       description="Pretrain an encoder, then evaluate it and a random-init reference. "
                                   "Writes OUT/checkpoint.pt, OUT/history.json, OUT/metrics.json.")
    _add_pretrain_args(p)
    p.add_argument("--out", help="output directory (default: runs/<method>-<dataset>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (on any number of "
                                                         "processes: --batch-size is the global batch)")
    p.add_argument("--base-lr", type=float,
                   help="lr per 256 images of the global batch, instead of --lr: lr = BASE * batch/256 for "
                        "sgd/lars (linear rule), BASE * sqrt(batch/256) for adamw (square-root rule)")
    p.add_argument("--sync-bn", action="store_true",
                   help="under torchrun on GPUs: SyncBatchNorm, BatchNorm statistics over the global batch")
    p.add_argument("--protocols", default=",".join(PROTOCOLS),
                   help=f"comma-separated evaluation protocols from {', '.join(PROTOCOLS)}; 'none' to skip")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="evaluate a pretrained checkpoint")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--protocols", default=",".join(PROTOCOLS), help=f"comma-separated, from {', '.join(PROTOCOLS)}")
    e.add_argument("--data-dir")
    e.add_argument("--device", default="auto")
    e.add_argument("--out", help="write the metrics to this JSON file")

    b = sub.add_parser("bench", help="benchmarks that print a ratio against a peer pipeline measured in the same run")
    bsub = b.add_subparsers(dest="bench", required=True, metavar="what")
    ba = bsub.add_parser("augment", help="sslkit batched augmentation vs torchvision per-image pipeline")
    ba.add_argument("--dataset", default="fashion-mnist", choices=list(DATASETS))
    ba.add_argument("--images", type=int, default=2048)
    ba.add_argument("--batch-size", type=int, default=256)
    ba.add_argument("--device", default="cpu")
    ba.add_argument("--threads", type=int, help="torch CPU threads for both pipelines (default: torch's)")
    bf = bsub.add_parser("folder", help="pretraining steps on an image folder vs the embedded Fashion-MNIST")
    bf.add_argument("--data-dir", required=True,
                    help="the folder holding train/ (e.g. written by scripts/export_image_folder.py)")
    bf.add_argument("--steps", type=int, default=30, help="training steps per run")
    bf.add_argument("--batch-size", type=int, default=256)
    bf.add_argument("--image-size", type=int, help="resize the folder's images to this side")
    bt = bsub.add_parser("train", help="SimCLR training steps: sslkit's device pipeline vs a torchvision + "
                                       "DataLoader pipeline feeding the same model")
    bt.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    bt.add_argument("--dataset", default="fashion-mnist", choices=list(DATASETS))
    bt.add_argument("--data-dir", help="where the dataset lives (default: the repo's data/ dir)")
    bt.add_argument("--method", default="simclr", choices=list(METHODS), help="the method whose steps are timed")
    bt.add_argument("--backbone", choices=list(BACKBONES), help="default: the profile's (cpu: quick, cuda: full)")
    bt.add_argument("--width", type=int, help="ConvNet width (default: the profile's)")
    bt.add_argument("--steps", type=int, default=20, help="timed steps per pipeline")
    bt.add_argument("--batch-size", type=int, default=256)
    bt.add_argument("--workers", type=int, default=2, help="DataLoader worker processes of the reference")
    bt.add_argument("--threads", type=int, help="torch CPU threads of the main process (default: torch's)")
    bt.add_argument("--compile", action="store_true", help="torch.compile the model (both pipelines)")
    bt.add_argument("--out", help="also write the result to this JSON file")
    r = sub.add_parser("run-notebooks", help="execute the notebook arc with papermill (+ HTML copies)")
    r.add_argument("--profile", default="quick", choices=list(PROFILES))
    r.add_argument("--only", help="comma-separated notebook prefixes, e.g. 02,04")
    r.add_argument("--out", help="output directory (default: runs/<time>)")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="override a notebook parameter (repeatable)")
    r.add_argument("--timeout", type=int, help="seconds per cell before the notebook is failed")
    s = sub.add_parser("make-student-copies", help="notebooks with solutions replaced by stubs, outputs cleared",
                       description="Write student copies of the notebooks: every 'solution' cell's body becomes a "
                                   "NotImplementedError stub, every output is cleared. The committed notebooks are "
                                   "the instructor copies.")
    s.add_argument("--out", required=True, help="directory for the student notebooks")
    s.add_argument("--only", help="comma-separated notebook prefixes, e.g. 02,03")
    s.add_argument("--instructor", help="also copy the committed notebooks (solutions, outputs) to this directory")
    c = sub.add_parser("compare", help="every method and pretext task, same budget, same evaluation",
                       description="Pretrain each method for the same budget on the same data, evaluate each "
                                   "encoder and a random-init one (kNN, linear probe, 10 labels/class). "
                                   "Writes OUT/results.md, OUT/results.csv, OUT/results.png.")
    c.add_argument("--profile", default="quick", choices=list(PROFILES))
    c.add_argument("--methods", help=f"comma-separated, default all: {','.join(METHODS)}")
    c.add_argument("--epochs", type=int)
    c.add_argument("--max-steps", type=int, help="the same number of optimiser steps for every method "
                                                 "(quick default: 100)")
    c.add_argument("--out", help="output directory (default: runs/compare-<profile>-<time>)")
    c.add_argument("--width", type=int, help="ConvNet width (quick default: 16)")
    c.add_argument("--batch-size", type=int, help="(quick default: 128)")
    c.add_argument("--lr", type=float)
    c.add_argument("--train-subset", type=int, help="pretrain on N unlabelled training images")
    c.add_argument("--eval-train", type=int,
                   help="evaluate on N labelled train images (quick default: 5000; 0: all)")
    c.add_argument("--eval-test", type=int, help="evaluate on N test images (quick default: 2000; 0: all)")
    c.add_argument("--protocols", default=",".join(PROTOCOLS), help=f"comma-separated, from {', '.join(PROTOCOLS)}")
    c.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    c.add_argument("--seed", type=int)
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    nb = sub.add_parser("neighbours", help="a picture of each query image's nearest neighbours under a checkpoint",
                        description="Encode a split of the checkpoint's dataset (your image folder, or "
                                    "--data-dir another one) and draw, for a few query images, the images the "
                                    "encoder finds most similar (cosine similarity of its features).")
    nb.add_argument("--checkpoint", required=True)
    nb.add_argument("--out", required=True, help="the PNG to write")
    nb.add_argument("--split", help="default: the split pretraining read (train, or unlabelled/)")
    nb.add_argument("--data-dir", help="another folder of the same kind of images (default: the checkpoint's)")
    nb.add_argument("--queries", type=int, default=6, help="query images, one row each")
    nb.add_argument("-k", type=int, default=8, help="neighbours per query")
    nb.add_argument("--max-images", type=int, default=10000, help="search among at most this many images")
    nb.add_argument("--seed", type=int, default=0, help="which images are the queries")
    nb.add_argument("--device", default="auto")
    m = sub.add_parser("methods", help="the registered methods: family, paper (a Markdown table, from the classes)")
    m.add_argument("--full", action="store_true", help="add each method's full recipe and its source")
    return parser


def _protocols(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "none":
        return ()
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in chosen if p not in PROTOCOLS]
    if bad:
        raise ValueError(f"unknown protocol(s) {', '.join(bad)}; valid protocols: {', '.join(PROTOCOLS)}")
    return chosen


def cmd_pretrain(args) -> int:
    try:
        return _pretrain(args)
    finally:
        distributed.teardown()


def _pretrain(args) -> int:
    overrides = {k: getattr(args, k) for k in ("dataset", "data_dir", "image_size", "skip_bad_images", "method",
                                               "backbone", "width", "epochs",
                                               "max_steps", "batch_size", "optimizer", "lr", "weight_decay",
                                               "betas", "lars_eta", "lars_clip", "temperature", "train_subset",
                                               "knn_every", "checkpoint_every", "device", "seed", "compile")}
    protocols = _protocols(args.protocols)
    if args.base_lr is not None and args.lr is not None:
        raise ValueError("give either --lr or --base-lr (the lr per 256 images, scaled to --batch-size), not both")
    cfg = resolve(args.profile, **overrides)
    if args.base_lr is not None:
        cfg.lr = distributed.scaled_lr(args.base_lr, cfg.batch_size, cfg.optimizer)
    dist = distributed.setup(cfg.device)  # a process group under torchrun, nothing otherwise
    out = args.out or str(RUNS_DIR / f"{cfg.method}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg.out = dist.broadcast(out)  # rank 0's clock names the directory
    say = print if dist.is_main else (lambda *a, **k: None)
    extra = f" = {dist.world_size} processes x {cfg.batch_size / dist.world_size:g}" if dist.active else ""
    extra += f", lr {cfg.lr:.4g} = base {args.base_lr:g} scaled to the batch" if args.base_lr is not None else ""
    say(f"pretraining {cfg.method} on {cfg.dataset} ({cfg.backbone}, {cfg.epochs} epochs, batch {cfg.batch_size}"
        f"{extra}) -> {cfg.out}", flush=True)
    if args.sync_bn and not dist.active:
        say("note: --sync-bn has no effect in a single process (BatchNorm already sees the whole batch)")
    t0 = time.perf_counter()
    result = pretrain(cfg, resume=args.resume, progress=not args.no_progress, sync_bn=args.sync_bn,
                      log=lambda *a: say(*a, flush=True))
    train_s = time.perf_counter() - t0
    if not dist.is_main:
        return 0  # rank 0 evaluates and writes metrics.json
    metrics = {"method": cfg.method, "dataset": cfg.dataset, "backbone": cfg.backbone, "epochs": cfg.epochs,
               "steps": result["history"]["steps"][-1]["step"] if result["history"]["steps"] else 0,
               "pretrain_seconds": round(train_s, 1)}
    missing = [s for s in ("train", "test") if s not in labelled_splits(cfg.dataset, cfg.data_dir)]
    if protocols and missing:
        print(f"evaluation skipped: {cfg.dataset} has no labelled {' or '.join(missing)} split (class folders "
              f"under {cfg.data_dir}/{missing[0]}/); the encoder is in {cfg.out}/checkpoint.pt")
    elif protocols:
        print(f"evaluating ({', '.join(protocols)}) the pretrained and a random-init encoder...", flush=True)
        t1 = time.perf_counter()
        device = next(result["method"].parameters()).device
        trained = evaluate_encoder(result["method"].encoder, cfg.dataset, protocols, cfg.data_dir, device, cfg.seed,
                                   size=cfg.image_size)
        random_init = evaluate_encoder(build_model(cfg, device).encoder, cfg.dataset, protocols, cfg.data_dir,
                                       device, cfg.seed, size=cfg.image_size)
        metrics.update(trained)
        metrics.update({f"random_init_{k}": v for k, v in random_init.items()})
        metrics["eval_seconds"] = round(time.perf_counter() - t1, 1)
    atomic_write_json(Path(cfg.out) / "metrics.json", metrics)
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_evaluate(args) -> int:
    protocols = _protocols(args.protocols)
    device = resolve_device(args.device)
    model, cfg = load_pretrained(args.checkpoint, device)
    metrics = {"checkpoint": str(args.checkpoint), "method": cfg.method, "dataset": cfg.dataset}
    metrics.update(evaluate_encoder(model.encoder, cfg.dataset, protocols, args.data_dir or cfg.data_dir, device,
                                    cfg.seed, size=cfg.image_size))
    if args.out:
        atomic_write_json(args.out, metrics)
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_bench(args) -> int:
    from sslkit.tools.bench import bench_augment, bench_folder, bench_train, format_bench

    if args.bench == "folder":
        print(format_bench(bench_folder(args.data_dir, args.steps, args.batch_size, image_size=args.image_size)))
        return 0
    if args.bench == "train":
        result = bench_train(args.dataset, args.backbone, args.device, steps=args.steps, batch_size=args.batch_size,
                             workers=args.workers, threads=args.threads, width=args.width, compile=args.compile,
                             root=args.data_dir, method=args.method)
        print(format_bench(result))
        if args.out:
            atomic_write_json(args.out, result)
        return 0
    print(format_bench(bench_augment(args.dataset, n_images=args.images, batch_size=args.batch_size,
                                     device=args.device, threads=args.threads)))
    return 0


def cmd_run_notebooks(args) -> int:
    from sslkit.teach.notebooks import parse_value, run_notebooks

    params = {k: parse_value(v) for k, v in args.parameter}
    records = run_notebooks(args.profile, args.only, args.out, params, args.timeout)
    return 0 if all(r["status"] == "ok" for r in records) else 1


def cmd_compare(args) -> int:
    from sslkit.tools.compare import compare

    protocols = _protocols(args.protocols)
    if not protocols:
        raise ValueError(f"compare needs at least one protocol from {', '.join(PROTOCOLS)}")
    out = args.out or str(RUNS_DIR / f"compare-{args.profile}-{time.strftime('%Y%m%d-%H%M%S')}")
    overrides = {k: getattr(args, k) for k in ("width", "batch_size", "lr", "train_subset", "device", "seed")}
    t0 = time.perf_counter()
    result = compare(args.profile, args.methods, epochs=args.epochs, max_steps=args.max_steps, out=out,
                     protocols=protocols, eval_train=args.eval_train, eval_test=args.eval_test,
                     progress=not args.no_progress, **overrides)
    print((Path(out) / "results.md").read_text())
    print(f"total {time.perf_counter() - t0:.0f} s; wrote {out}/results.md, results.csv, results.png")
    return 0 if result["rows"] else 1


def cmd_make_student_copies(args) -> int:
    from sslkit.teach.classroom import make_student_copies

    make_student_copies(args.out, args.only, args.instructor)
    return 0


def cmd_neighbours(args) -> int:
    import dataclasses

    import torch

    from sslkit.checks import check_positive
    from sslkit.data import class_names, pretraining_split
    from sslkit.augment import for_dataset
    from sslkit.evaluate import extract_features
    from sslkit.teach.viz import show_neighbours

    for name in ("queries", "k", "max_images"):
        check_positive(name, getattr(args, name))
    device = resolve_device(args.device)
    model, cfg = load_pretrained(args.checkpoint, device)
    if args.data_dir:
        cfg = dataclasses.replace(cfg, data_dir=args.data_dir)
    split = args.split or pretraining_split(cfg.dataset, cfg.data_dir)
    x, y = cfg.load(split)
    g = torch.Generator().manual_seed(args.seed)
    keep = torch.randperm(len(x), generator=g)[: args.max_images]
    x, y = x[keep], y[keep]
    feats = extract_features(model.encoder, x, for_dataset(cfg.spec()).normalize)
    queries = torch.randperm(len(x), generator=g)[: args.queries].tolist()
    labelled = not bool((y < 0).any())
    names = class_names(cfg.dataset, cfg.data_dir) if labelled else None
    fig = show_neighbours(x, feats.cpu(), queries, min(args.k, len(x) - 1), y if labelled else None, names)
    fig.suptitle(f"{cfg.method} encoder: nearest neighbours among {len(x):,} {split} images", fontsize=10, y=1.02)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100, bbox_inches="tight")
    print(f"wrote {args.out}: {len(queries)} queries x {min(args.k, len(x) - 1)} neighbours among {len(x):,} "
          f"{split} images")
    return 0


def cmd_methods(args) -> int:
    from sslkit.methods import table

    print(table(full=args.full))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"pretrain": cmd_pretrain, "evaluate": cmd_evaluate, "bench": cmd_bench,
               "run-notebooks": cmd_run_notebooks, "compare": cmd_compare,
               "make-student-copies": cmd_make_student_copies, "methods": cmd_methods,
               "neighbours": cmd_neighbours}[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError, CheckpointError, RunLockedError, TrainingDivergedError,
            TrainingOutOfMemoryError) as e:
        # Bad input: one clear line, no traceback.
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"\n{e or 'interrupted'}", file=sys.stderr)
        return 130
