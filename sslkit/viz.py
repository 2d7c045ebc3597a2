"""Plotting helpers for the notebooks: small, general, matplotlib only.

    fig = show_images(x[:16], titles=names, ncols=8)          # uint8/float (N, C, H, W) -> a grid
    fig = show_views(x[:3], views)                             # each image, then its augmented views
    fig = plot_curves({"train": (steps, losses)}, ylabel="loss")
    fig = plot_history(result["history"], keys=("loss", "lr"))  # sslkit.train history
    fig = bar_chart({"random init": 0.71, "SimCLR": 0.78}, xlabel="accuracy")
    fig = draw_diagram(NODES, EDGES)                           # boxes + arrows (concept maps)
    print(mermaid(NODES, EDGES))                               # the same diagram as Mermaid code
    png = fig_to_png(fig)                                      # bytes, for widgets and mime bundles

Every function returns the matplotlib Figure (and closes nothing: in a notebook the figure is
shown by the inline backend; call ``plt.close(fig)`` to drop it). Images may be uint8 in 0..255
or float in [0, 1], as tensors or arrays, channels first (C, H, W) or a plain (H, W).
"""
from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["to_display", "show_images", "show_views", "plot_curves", "plot_history", "bar_chart",
           "draw_diagram", "mermaid", "fig_to_png"]


def to_display(img) -> np.ndarray:
    """One image -> float array in [0, 1] that ``imshow`` takes: (H, W) for one channel, (H, W, 3) for RGB.

    Accepts a torch tensor or numpy array, (C, H, W) with C in {1, 3}, or (H, W); uint8 is
    scaled by 1/255, floats are clipped to [0, 1]."""
    a = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    elif a.ndim == 3 and a.shape[-1] in (1, 3):  # already channels-last
        a = a[..., 0] if a.shape[-1] == 1 else a
    elif a.ndim != 2:
        raise ValueError(f"expected an image (C, H, W) with C in 1 or 3, or (H, W); got shape {a.shape}")
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    return np.clip(a, 0.0, 1.0)


def _grid(n: int, ncols: int, size: float, squeeze_title: bool = False):
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if squeeze_title else 0)),
                             squeeze=False)
    return fig, axes


def _imshow(ax, img, title=None, fontsize=8):
    a = to_display(img)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title is not None:
        ax.set_title(str(title), fontsize=fontsize)


def show_images(images, titles: Sequence | None = None, ncols: int = 8, size: float = 1.2,
                suptitle: str | None = None):
    """A grid of images (N, C, H, W) or a list of images; one axis per image (unused cells are removed)."""
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    fig, axes = _grid(len(images), ncols, size, suptitle is not None)
    flat = axes.ravel()
    for i, ax in enumerate(flat):
        if i < len(images):
            _imshow(ax, images[i], None if titles is None else titles[i])
        else:
            fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def show_views(originals, views, row_titles: Sequence | None = None, size: float = 1.3,
               view_titles: Sequence | None = None):
    """Each original image followed by its augmented views, one row per image.

    originals: (N, C, H, W) or a list of N images; views: (N, V, C, h, w), or a list of N
    sequences of V images. Returns a figure with N rows and V + 1 columns.
    """
    originals = list(originals)
    views = [list(v) for v in views]
    if len(views) != len(originals):
        raise ValueError(f"{len(originals)} originals but views for {len(views)}")
    v = len(views[0])
    if any(len(vs) != v for vs in views):
        raise ValueError("every original needs the same number of views")
    fig, axes = plt.subplots(len(originals), v + 1, figsize=(size * (v + 1), size * len(originals)),
                             squeeze=False)
    for r, (orig, vs) in enumerate(zip(originals, views)):
        _imshow(axes[r, 0], orig, "original" if r == 0 else None)
        if row_titles is not None:
            axes[r, 0].set_ylabel(str(row_titles[r]), fontsize=8)
        for c, img in enumerate(vs, 1):
            title = (view_titles[c - 1] if view_titles is not None else f"view {c}") if r == 0 else None
            _imshow(axes[r, c], img, title)
    fig.tight_layout()
    return fig


def plot_curves(curves: Mapping[str, tuple], xlabel: str = "step", ylabel: str = "", title: str | None = None,
                logx: bool = False, logy: bool = False, ax=None, **line_kw):
    """Several named curves {label: (x, y)} on one axis; returns the figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.0))
    else:
        fig = ax.figure
    for label, (x, y) in curves.items():
        ax.plot(np.asarray(x), np.asarray(y), label=label, **line_kw)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    if len(curves) > 1:
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_history(history: Mapping, keys: Sequence[str] = ("loss",), per: str = "steps"):
    """Curves from a :func:`sslkit.train.fit` history: one panel per key, against the step.

    ``per`` = "steps" (the logged steps) or "epochs" (per-epoch records, e.g. ``knn_acc``)."""
    if per not in ("steps", "epochs"):
        raise ValueError(f"per must be 'steps' or 'epochs', got {per!r}")
    records = history[per]
    keys = [k for k in keys if any(k in r for r in records)]
    if not keys:
        raise ValueError(f"none of the keys appear in history[{per!r}]")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 2.8), squeeze=False)
    x_key = "step" if per == "steps" else "epoch"
    for ax, k in zip(axes[0], keys):
        pts = [(r[x_key], r[k]) for r in records if k in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 30 else None)
        ax.set_xlabel(x_key)
        ax.set_title(k, fontsize=10)
    fig.tight_layout()
    return fig


def bar_chart(values: Mapping[str, float], xlabel: str = "", title: str | None = None, fmt: str = "{:.3f}",
              colors: Sequence | None = None, xlim: tuple | None = None):
    """Horizontal bars {label: value}, each bar labelled with its value; returns the figure."""
    labels, vals = list(values), [float(v) for v in values.values()]
    fig, ax = plt.subplots(figsize=(5.0, 0.45 * len(labels) + 0.9))
    y = np.arange(len(labels))[::-1]
    ax.barh(y, vals, color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    span = (xlim[1] - xlim[0]) if xlim else max(abs(v) for v in vals) or 1.0
    for yi, v in zip(y, vals):
        ax.text(v + 0.01 * span, yi, fmt.format(v), va="center", fontsize=8)
    if xlim:
        ax.set_xlim(*xlim)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ diagrams

def _node(spec):
    """(label, (x, y)) or (label, (x, y), facecolor) -> (label, x, y, color)."""
    if len(spec) == 2:
        (label, (x, y)), color = spec, "#e8eef7"
    elif len(spec) == 3:
        label, (x, y), color = spec
    else:
        raise ValueError(f"a node is (label, (x, y)) or (label, (x, y), color), got {spec!r}")
    return str(label), float(x), float(y), color


def _edge(spec):
    if len(spec) == 2:
        return spec[0], spec[1], None
    if len(spec) == 3:
        return spec[0], spec[1], spec[2]
    raise ValueError(f"an edge is (source, target) or (source, target, label), got {spec!r}")


def draw_diagram(nodes: Mapping[str, tuple], edges: Sequence[tuple], title: str | None = None,
                 size: tuple | None = None, fontsize: int = 8, ax=None):
    """Boxes and arrows: a concept map that renders in any notebook viewer.

    nodes: {key: (label, (x, y))} or {key: (label, (x, y), facecolor)}; x grows to the right,
    y upwards, in any units (the axes fit them). Labels may contain newlines.
    edges: [(source_key, target_key)] or [(source_key, target_key, label)].
    Arrows start and end at the box borders. Returns the figure.
    """
    parsed = {k: _node(v) for k, v in nodes.items()}
    xs = [p[1] for p in parsed.values()]
    ys = [p[2] for p in parsed.values()]
    if ax is None:
        w = size or (max(4.0, 1.6 * (max(xs) - min(xs) + 1.5)), max(2.0, 1.0 * (max(ys) - min(ys) + 1.2)))
        fig, ax = plt.subplots(figsize=w)
    else:
        fig = ax.figure
    boxes = {}
    for key, (label, x, y, color) in parsed.items():
        boxes[key] = ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, zorder=3,
                             bbox=dict(boxstyle="round,pad=0.4", fc=color, ec="#4a5a70", lw=0.8))
    for spec in edges:
        src, dst, label = _edge(spec)
        for k in (src, dst):
            if k not in boxes:
                raise ValueError(f"edge {spec!r} names an unknown node {k!r}; nodes: {', '.join(boxes)}")
        (_, x0, y0, _), (_, x1, y1, _) = parsed[src], parsed[dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color="#4a5a70", lw=1.0, shrinkA=1, shrinkB=1,
                                    patchA=boxes[src].get_bbox_patch(), patchB=boxes[dst].get_bbox_patch()))
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, ha="center", va="center", fontsize=fontsize - 1,
                    style="italic", color="#333333", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    ax.set_xlim(min(xs) - 0.9, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()  # place the text boxes, so that the arrows are clipped at their borders
    return fig


def mermaid(nodes: Mapping[str, tuple], edges: Sequence[tuple], direction: str = "LR") -> str:
    """The diagram of :func:`draw_diagram` as Mermaid flowchart code (JupyterLab >= 4.1 renders
    a ```mermaid block in a markdown cell; so do GitHub and many other viewers)."""
    if direction not in ("LR", "RL", "TB", "BT", "TD"):
        raise ValueError(f"direction must be one of LR, RL, TB, BT, TD; got {direction!r}")
    lines = [f"flowchart {direction}"]
    for key, spec in nodes.items():
        label = _node(spec)[0].replace('"', "'").replace("\n", "<br/>")
        lines.append(f'    {key}["{label}"]')
    for spec in edges:
        src, dst, label = _edge(spec)
        for k in (src, dst):
            if k not in nodes:
                raise ValueError(f"edge {spec!r} names an unknown node {k!r}")
        arrow = f'-- "{label}" -->' if label else "-->"
        lines.append(f"    {src} {arrow} {dst}")
    return "\n".join(lines)


def fig_to_png(fig, dpi: int | None = None) -> bytes:
    """The figure as PNG bytes (for ipywidgets.Image and static fallbacks)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")  # dpi None: rcParams["savefig.dpi"]
    return buf.getvalue()
