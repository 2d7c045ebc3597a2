"""Run the notebook arc headless with papermill.

    python -m sslkit run-notebooks --profile quick                 # every notebook -> runs/<time>/
    python -m sslkit run-notebooks --only 02,04 -p epochs 3        # a subset, with a parameter override

Each notebook is executed into OUT/<name>.ipynb plus an HTML copy; one line per notebook
(status, seconds), then a summary. A failing notebook (an exception or a dead kernel) does not
stop the others; the exit status is non-zero if any failed.
"""
from __future__ import annotations

import ast
import os
import time
from pathlib import Path

from sslkit.checks import check_choice, check_positive, resolve_device
from sslkit.config import PROFILES, resolve
from sslkit.paths import NOTEBOOK_DIR


def parse_value(text: str):
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, 'none' -> None, '[1,2]' -> [1, 2], anything else -> the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def select(only: str | None = None, directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """Notebooks in ``directory`` sorted by name; ``only`` keeps those whose name starts with one of
    the comma-separated prefixes ("02,04"). An unmatched prefix is an error listing the notebooks."""
    books = sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))
    if not books:
        raise FileNotFoundError(f"no notebooks (NN_name.ipynb) in {directory}")
    if not only:
        return books
    prefixes = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [b for b in books if any(b.name.startswith(p) for p in prefixes)]
    missing = [p for p in prefixes if not any(b.name.startswith(p) for b in books)]
    if missing:
        raise ValueError(f"no notebook matches {', '.join(missing)}; notebooks: {', '.join(b.stem for b in books)}")
    return chosen


def export_html(notebook: Path) -> Path:
    """An HTML copy of an executed notebook, beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def run_notebooks(profile: str = "quick", only: str | None = None, out: str | os.PathLike | None = None,
                  parameters: dict | None = None, timeout: int | None = None, directory: Path = NOTEBOOK_DIR,
                  log=print) -> list[dict]:
    """Execute the selected notebooks; returns one record per notebook (name, status, seconds, error)."""
    import papermill as pm

    check_choice("profile", profile, PROFILES)
    books = select(only, directory)
    out = Path(out) if out else directory.parent / "runs" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, **(parameters or {})}
    log(f"running {len(books)} notebook(s), profile {profile!r}, into {out}")
    records = []
    for book in books:
        target = out / book.name
        t0 = time.perf_counter()
        status, error = "ok", None
        try:
            pm.execute_notebook(str(book), str(target), parameters=params, cwd=str(book.parent),
                                kernel_name="python3", progress_bar=False, execution_timeout=timeout)
        except Exception as e:  # PapermillExecutionError, DeadKernelError, timeouts: report and go on
            status = "FAILED"
            error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        seconds = time.perf_counter() - t0
        if target.exists():
            try:
                export_html(target)
            except Exception as e:  # an HTML failure should not hide the run's own status
                error = (error + "; " if error else "") + f"HTML export failed: {e}"
        records.append({"notebook": book.stem, "status": status, "seconds": round(seconds, 1), "error": error})
        log(f"{status:7s} {seconds:7.1f} s  {book.stem}" + (f"  -- {error}" if error else ""))
    failed = [r for r in records if r["status"] != "ok"]
    total = sum(r["seconds"] for r in records)
    log(f"{len(records) - len(failed)} passed, {len(failed)} failed in {total:.0f} s; outputs in {out}")
    return records


# ------------------------------------------------------------------------ inside a notebook

def setup(profile: str = "quick", seed: int = 0, device: str = "auto", threads: int | None = None,
          **choices) -> "torch.device":
    """The first call after a notebook's parameters cell: validate, seed, pick the device, style plots.

    ``choices`` are extra (name=(value, valid_values)) pairs to check, e.g.
    ``setup(profile, seed, device, method=(method, METHODS))``; a bad value fails here, in the first
    cells, with the valid ones listed. Prints one line: versions, device, threads.
    """
    import random

    import numpy as np
    import torch

    check_choice("profile", profile, PROFILES)
    check_positive("seed", seed, allow_zero=True)
    for name, (value, valid) in choices.items():
        check_choice(name, value, valid)
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        import matplotlib

        # Small, crisp figures keep the committed notebooks light.
        matplotlib.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "figure.figsize": (6.4, 3.6),
                                    "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:
        pass
    import sslkit

    print(f"sslkit {sslkit.__version__} | torch {torch.__version__} | device {dev} | "
          f"{torch.get_num_threads()} threads | profile {profile} | seed {seed}")
    return dev


# The pretraining budget notebooks 04, 05 and 09 share: the same parameters give the same config, so
# 05 and 09 reuse the encoder 04 trained (``sslkit.train.pretrained`` caches it under runs/cache).
ARC_PRETRAIN = {"quick": dict(width=16, epochs=3, batch_size=128, train_subset=10_000,
                              knn_every=1, knn_bank=10_000, knn_queries=2_000, log_every=5),
                "full": dict(knn_every=10)}  # the profile as it is: ResNet-18, 200 epochs, batch 512, kNN on 50,000/10,000


def arc_config(profile: str, method: str, seed: int, device, **asked):
    """The arc's pretraining config: the profile + :data:`ARC_PRETRAIN` + the notebook's non-None
    parameters (dataset, data_dir, image_size, epochs, batch_size, train_subset, width, ...). On a dataset
    other than the profile's (your image folder), every image is used unless ``train_subset`` is asked."""
    asked = {k: v for k, v in asked.items() if v is not None}
    preset = dict(ARC_PRETRAIN[profile])
    if asked.get("dataset", PROFILES[profile]["dataset"]) != PROFILES[profile]["dataset"]:
        preset.pop("train_subset", None)
    return resolve(profile, method=method, seed=seed, device=str(device), **{**preset, **asked})
