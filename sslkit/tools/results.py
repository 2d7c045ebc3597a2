"""Result files of pretraining runs, and the README results table rendered only from them.

    from sslkit.tools.results import write_result, results_table
    path = write_result("results", history=history, metrics=metrics, bench=bench_result,
                        command="bash scripts/gpu_check.sh")     # -> results/2026-11-30-nvidia-h200.json
    print(results_table("results"))                               # markdown table, "" when there are none

A result file is one JSON object (``"schema": "sslkit-result-v1"``): the run's configuration, the
time of every epoch, kNN / linear-probe accuracy, the versions and hardware it ran on, the command
that produced it, and optionally a ``bench train`` result. The table has one row per file (dataset,
model, epochs, kNN, linear probe, time, GPU, command): no figure in it is typed by hand.

Command line (scripts/gpu_check.sh uses it):

    python -m sslkit.tools.results write --run runs/gpu-check --bench bench.json --command "..." [--dir results]
    python -m sslkit.tools.results table [results]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from sslkit.io import atomic_write_json
from sslkit.methods import METHODS
from sslkit.models import BACKBONES
from sslkit.paths import REPO_DIR

SCHEMA = "sslkit-result-v1"
COLUMNS = ("dataset", "model", "epochs", "kNN", "linear probe", "time", "GPU", "command")


def slug(text: str) -> str:
    """'NVIDIA H200' -> 'nvidia-h200' (letters, digits and '-' only)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else the platform's."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str = "cpu") -> dict:
    """Versions and hardware: python, torch, torchvision, numpy, CUDA, cuDNN, driver, GPU or CPU, git commit."""
    import numpy
    import torch
    import torchvision

    import sslkit

    env: dict[str, Any] = {"sslkit": sslkit.__version__, "python": platform.python_version(),
                           "torch": torch.__version__, "torchvision": torchvision.__version__,
                           "numpy": numpy.__version__, "platform": platform.platform(), "cpu": cpu_name(),
                           "cpu_threads": torch.get_num_threads()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        env.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), driver=_run(["nvidia-smi", "--query-gpu=driver_version",
                                                                      "--format=csv,noheader"]))
    env["git_commit"] = _run(["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"])
    return env


def _run(cmd: list[str]) -> Optional[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _cpu_label(env: dict) -> str:
    n = env.get("cpu_threads")
    return f"CPU: {env.get('cpu', 'unknown')} ({n} thread{'' if n == 1 else 's'})" if n else f"CPU: {env.get('cpu')}"


def _epoch_seconds(epochs: list[dict]) -> Optional[float]:
    """Median seconds per epoch, without the first epoch when there are others (it holds compilation)."""
    secs = [e["seconds"] for e in epochs if isinstance(e.get("seconds"), (int, float))]
    if not secs:
        return None
    return statistics.median(secs[1:] if len(secs) > 1 else secs)


def build_result(*, history: Optional[dict] = None, metrics: Optional[dict] = None, config: Optional[dict] = None,
                 bench: Optional[dict] = None, command: Optional[str] = None, device: Optional[str] = None,
                 env: Optional[dict] = None, notes: Optional[str] = None, extra: Optional[dict] = None,
                 date: Optional[_dt.datetime] = None) -> dict:
    """The result record (a dict) of one run from its history.json / metrics.json contents."""
    history, metrics = history or {}, metrics or {}
    config = dict(config or history.get("config") or {})
    if not config:
        raise ValueError("a result needs the run's config: pass config= or a history with a 'config' entry")
    device = device or (bench or {}).get("device") or config.get("device") or "cpu"
    env = env if env is not None else environment(device)
    epochs = [{k: e[k] for k in ("epoch", "seconds", "loss", "knn_acc", "images_per_s") if k in e}
              for e in history.get("epochs", [])]
    date = date or _dt.datetime.now(_dt.timezone.utc)
    pretrain_s = metrics.get("pretrain_seconds")
    if pretrain_s is None and epochs:
        pretrain_s = round(sum(e.get("seconds", 0.0) for e in epochs), 1)
    record = {
        "schema": SCHEMA,
        "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": str(device),
        "hardware": env.get("gpu") or _cpu_label(env),
        "command": command,
        "dataset": config.get("dataset"), "method": config.get("method"), "backbone": config.get("backbone"),
        "epochs_planned": config.get("epochs"), "epochs": len(epochs),
        "knn_acc": metrics.get("knn_acc"), "linear_probe_acc": metrics.get("linear_probe_acc"),
        "pretrain_seconds": pretrain_s, "seconds_per_epoch": _epoch_seconds(epochs),
        "first_epoch_seconds": epochs[0]["seconds"] if epochs and "seconds" in epochs[0] else None,
        "per_epoch": epochs,
        "metrics": metrics,
        "config": config,
        "versions": env,
        "bench": bench,
    }
    if notes:
        record["notes"] = notes
    for key, value in (extra or {}).items():
        if key in record:
            raise ValueError(f"extra field {key!r} would overwrite a result field")
        record[key] = value
    return record


def write_result(directory="results", **kwargs) -> Path:
    """Write :func:`build_result` (same keyword arguments) to ``directory/<date>-<gpu or cpu>.json``.

    Never overwrites: a second result of the same day and hardware gets ``-2``, ``-3``, ... Returns the path.
    """
    record = build_result(**kwargs)
    hw = record["versions"].get("gpu") or "cpu"
    stem = f"{record['date'][:10]}-{slug(hw)}"
    directory = Path(directory)
    path, k = directory / f"{stem}.json", 2
    while path.exists():
        path, k = directory / f"{stem}-{k}.json", k + 1
    atomic_write_json(path, record)
    return path


def load_results(directory="results") -> list[dict]:
    """Every result file (``*.json`` with the sslkit result schema) in ``directory``, oldest first.

    JSON files of another kind are skipped; a file that is not valid JSON raises ValueError naming it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} is not a readable JSON result file: {e}") from e
        if isinstance(record, dict) and record.get("schema") == SCHEMA:
            out.append({**record, "_file": path.name})
    return sorted(out, key=lambda r: (r.get("date") or "", r["_file"]))


def _fmt_acc(v) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "–"


def _fmt_time(r: dict) -> str:
    total, per = r.get("pretrain_seconds"), r.get("seconds_per_epoch")
    parts = []
    if isinstance(total, (int, float)):
        parts.append(f"{total:.0f} s" if total < 120 else f"{total / 60:.1f} min")
    if isinstance(per, (int, float)):
        parts.append(f"{per:.2f} s/epoch" if per < 10 else f"{per:.0f} s/epoch")
    if len(parts) == 2:
        return f"{parts[0]} ({parts[1]})"
    return parts[0] if parts else "–"


def _model(r: dict) -> str:
    cfg = r.get("config") or {}
    method = METHODS[r["method"]].display_name if r.get("method") in METHODS else r.get("method") or "?"
    backbone = BACKBONES.get(r.get("backbone"), r.get("backbone") or "?")
    if r.get("backbone") == "convnet" and cfg.get("width"):
        backbone += f" (width {cfg['width']})"
    return f"{method}, {backbone}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_table(directory="results") -> str:
    """The README results table (markdown), one row per result file; "" when there is none."""
    rows = load_results(directory)
    if not rows:
        return ""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        epochs = r.get("epochs")
        if r.get("epochs_planned") not in (None, epochs):
            epochs = f"{epochs} of {r['epochs_planned']}"
        cells = [r.get("dataset") or "?", _model(r), epochs, _fmt_acc(r.get("knn_acc")),
                 _fmt_acc(r.get("linear_probe_acc")), _fmt_time(r), r.get("hardware") or "?",
                 f"`{r['command']}`" if r.get("command") else "–"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ command line

def _read_json(path) -> Optional[dict]:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return json.loads(path.read_text())


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sslkit.tools.results", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="assemble a result file from a run directory (+ a bench result)")
    w.add_argument("--run", required=True, help="the pretrain --out directory (history.json, metrics.json)")
    w.add_argument("--bench", help="a `bench train --out` JSON file")
    w.add_argument("--command", dest="cmd", help="the command that produced the run, as shown in the table")
    w.add_argument("--device", help="cpu or cuda (default: the bench's, else the config's)")
    w.add_argument("--dir", default="results", help="where result files go (default: results)")
    w.add_argument("--notes")
    w.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="an extra field (VALUE parsed as JSON when it is JSON); repeatable")
    t = sub.add_parser("table", help="print the markdown results table of a directory of result files")
    t.add_argument("dir", nargs="?", default="results")
    args = parser.parse_args(argv)
    try:
        if args.command == "table":
            print(results_table(args.dir))
            return 0
        run = Path(args.run)
        history = _read_json(run / "history.json")
        metrics = _read_json(run / "metrics.json") if (run / "metrics.json").is_file() else None
        path = write_result(args.dir, history=history, metrics=metrics, bench=_read_json(args.bench),
                            command=args.cmd, device=args.device, notes=args.notes,
                            extra={k: _value(v) for k, v in args.set})
    except (ValueError, FileNotFoundError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
