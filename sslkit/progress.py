"""Progress bars for every long loop in sslkit: ``tqdm.auto`` that redraws at most once a second.

Why not plain ``tqdm.auto``: in Jupyter each redraw is a few widget messages on the kernel's IOPub
channel, and a client that reads them only after the cell ends (nbval, some batch runners) lets them
pile up. Past ZeroMQ's high-water mark the kernel silently drops messages — the final "idle" among
them — and nbval fails with "Timeout of 5 seconds exceeded waiting for output" although the cell
ran fine. ``tqdm``'s default (10 redraws/s, plus one per ``set_postfix``) makes a two-minute cell
emit ~1,500 messages; here a long cell stays at a few hundred, and a terminal loses nothing.
"""
from __future__ import annotations

from tqdm.auto import tqdm as _auto_tqdm

MININTERVAL = 1.0  # seconds between redraws


class tqdm(_auto_tqdm):  # noqa: N801 - a drop-in for tqdm.auto.tqdm, so the same name
    """``tqdm.auto.tqdm`` with ``mininterval=1`` and postfix updates that wait for the next redraw."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("mininterval", MININTERVAL)
        super().__init__(*args, **kwargs)

    def set_postfix(self, ordered_dict=None, refresh=False, **kwargs):
        super().set_postfix(ordered_dict, refresh, **kwargs)

    def set_postfix_str(self, s="", refresh=False):
        super().set_postfix_str(s, refresh)

    def set_description(self, desc=None, refresh=False):
        super().set_description(desc, refresh)
