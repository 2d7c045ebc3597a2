"""Where the kit's files live, relative to the installed (editable) package.

    from sslkit.paths import REPO_DIR, RUN_CACHE
    RUN_CACHE / "simclr-fashion-mnist-<hash>"     # cached runs that notebooks share

One place for these paths, so that modules in sub-packages do not count ``parent`` levels.
"""
from __future__ import annotations

from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent   # the checkout: sslkit/, notebooks/, data/, runs/
NOTEBOOK_DIR = REPO_DIR / "notebooks"
RUNS_DIR = REPO_DIR / "runs"                         # git-ignored outputs
RUN_CACHE = RUNS_DIR / "cache"                       # runs reused by train.pretrained and the text encoder
