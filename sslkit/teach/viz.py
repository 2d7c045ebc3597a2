"""Plotting helpers for the notebooks: small, general, matplotlib only.

    fig = show_images(x[:16], titles=names, ncols=8)          # uint8/float (N, C, H, W) -> a grid
    fig = show_views(x[:3], views)                             # each image, then its augmented views
    fig = plot_curves({"train": (steps, losses)}, ylabel="loss")
    fig = plot_history(result["history"], keys=("loss", "lr"))  # sslkit.train history
    fig = bar_chart({"random init": 0.71, "SimCLR": 0.78}, xlabel="accuracy")
    fig = draw_diagram(NODES, EDGES)                           # boxes + arrows (concept maps)
    print(mermaid(NODES, EDGES))                               # the same diagram as Mermaid code
    png = fig_to_png(fig)                                      # bytes, for widgets and mime bundles
    show_as_jpeg(fig)                                          # photo grids: ~5x smaller saved notebooks

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
           "draw_diagram", "mermaid", "fig_to_png", "fig_to_jpeg", "show_as_jpeg"]


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
    """(source, target[, label[, bend]]) -> (source, target, label or None, bend or 0)."""
    if not 2 <= len(spec) <= 4:
        raise ValueError(f"an edge is (source, target), (source, target, label) or (source, target, label, bend), "
                         f"got {spec!r}")
    src, dst, label, bend = (*spec, None, 0.0)[:4]
    return src, dst, label, float(bend or 0.0)


def draw_diagram(nodes: Mapping[str, tuple], edges: Sequence[tuple], title: str | None = None,
                 size: tuple | None = None, fontsize: int = 9, ax=None):
    """Boxes and arrows: a concept map that renders in any notebook viewer.

    nodes: {key: (label, (x, y))} or {key: (label, (x, y), facecolor)}; x grows to the right,
    y upwards, in any units (the axes fit them). Labels may contain newlines.
    edges: [(source_key, target_key)], [(source_key, target_key, label)] or
    [(source_key, target_key, label_or_None, bend)]; ``bend`` curves the arrow (matplotlib's arc3
    rad, e.g. 0.3; 0 is straight) to route it around other boxes.
    Arrows start and end at the box borders. Returns the figure.
    """
    parsed = {k: _node(v) for k, v in nodes.items()}
    xs = [p[1] for p in parsed.values()]
    ys = [p[2] for p in parsed.values()]
    if ax is None:
        w = size or (max(4.0, 0.95 * (max(xs) - min(xs) + 1.8)), max(2.0, 0.95 * (max(ys) - min(ys) + 1.2)))
        fig, ax = plt.subplots(figsize=w)
    else:
        fig = ax.figure
    boxes = {}
    for key, (label, x, y, color) in parsed.items():
        boxes[key] = ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, zorder=3,
                             bbox=dict(boxstyle="round,pad=0.4", fc=color, ec="#4a5a70", lw=0.8))
    for spec in edges:
        src, dst, label, bend = _edge(spec)
        for k in (src, dst):
            if k not in boxes:
                raise ValueError(f"edge {spec!r} names an unknown node {k!r}; nodes: {', '.join(boxes)}")
        (_, x0, y0, _), (_, x1, y1, _) = parsed[src], parsed[dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color="#4a5a70", lw=1.0, shrinkA=1, shrinkB=1,
                                    connectionstyle=f"arc3,rad={bend}",
                                    patchA=boxes[src].get_bbox_patch(), patchB=boxes[dst].get_bbox_patch()))
        if label:
            # the midpoint of the arc3 curve: the chord's midpoint moved by bend/2 * chord length, sideways
            mx, my = (x0 + x1) / 2 + bend / 2 * (y1 - y0), (y0 + y1) / 2 - bend / 2 * (x1 - x0)
            ax.text(mx, my, label, ha="center", va="center", fontsize=fontsize - 1,
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
        src, dst, label, _ = _edge(spec)
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


# ------------------------------------------------------------------ training and evaluation plots
# (notebooks 04 and 05: pretraining curves, embedding maps, retrieval, confusion, label efficiency)

def plot_training(history: Mapping, baseline: Mapping[str, float] | None = None, size: float = 3.2):
    """The curves of a pretraining run (:func:`sslkit.train.fit` history): loss against the step
    (logged steps, and the mean of each epoch), learning rate against the step, and the kNN accuracy
    of each epoch when the run had a kNN monitor. ``baseline`` = {label: value} draws horizontal
    reference lines on the kNN panel (e.g. the random-init encoder). Returns the figure."""
    steps = [r for r in history["steps"] if "loss" in r]
    epochs = history["epochs"]
    if not steps and not epochs:
        raise ValueError("the history has no logged steps or epochs")
    knn = [(r["epoch"], r["knn_acc"]) for r in epochs if "knn_acc" in r]
    n = 3 if knn else 2
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 0.8))
    ax = axes[0]
    ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=1, alpha=0.6, label="logged steps")
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["loss"] for r in epochs], "o-", ms=3, label="epoch mean")
        ax.legend(fontsize=7, frameon=False)
    ax.set(xlabel="step", title="loss")
    axes[1].plot([r["step"] for r in steps], [r["lr"] for r in steps], lw=1)
    axes[1].set(xlabel="step", title="learning rate")
    axes[1].ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    if knn:
        ax = axes[2]
        ax.plot([e for e, _ in knn], [a for _, a in knn], "o-", ms=3, label=history.get("kind", "run"))
        for i, (label, value) in enumerate((baseline or {}).items()):
            ax.axhline(value, ls="--", lw=1, color=f"C{i + 1}", label=f"{label} ({value:.3f})")
        ax.set(xlabel="epoch", title="kNN accuracy")
        ax.legend(fontsize=7, frameon=False)
    for ax in axes:
        ax.title.set_fontsize(10)
    fig.tight_layout()
    return fig


def plot_embedding(xy, labels, class_names: Sequence[str] | None = None, title: str | None = None, ax=None,
                   legend: bool = True, s: float = 4.0):
    """A 2-D map (e.g. t-SNE) of points ``xy`` (N, 2) coloured by integer ``labels`` (N,)."""
    xy, labels = np.asarray(xy), np.asarray(labels)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(labels):
        raise ValueError(f"xy must be (N, 2) with N labels, got xy {xy.shape} and {labels.shape} labels")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
    else:
        fig = ax.figure
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        m = labels == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(xy[m, 0], xy[m, 1], s=s, color=cmap(i % cmap.N), label=name, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if legend:
        ax.legend(fontsize=7, markerscale=2.5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_embeddings(maps: Mapping[str, object], labels, class_names: Sequence[str] | None = None,
                    size: float = 3.6):
    """Several 2-D maps of the same points side by side, {title: xy (N, 2)}, one legend."""
    if not maps:
        raise ValueError("maps is empty")
    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps) + 1.4, size), squeeze=False)
    for i, (ax, (title, xy)) in enumerate(zip(axes[0], maps.items())):
        plot_embedding(xy, labels, class_names, title=title, ax=ax, legend=i == len(maps) - 1)
    fig.tight_layout()
    return fig


def show_retrieval(queries, neighbours, query_labels=None, neighbour_labels=None,
                   class_names: Sequence[str] | None = None, similarities=None, size: float = 1.1):
    """Image retrieval: one row per query, the query then its neighbours (most similar first).

    queries: (Q, C, H, W) or a list of Q images; neighbours: (Q, K, C, H, W) or Q lists of K
    images; the optional labels are (Q,) and (Q, K). A neighbour of another class than its query
    gets a red frame, one of the same class a green one. ``similarities`` (Q, K) are printed
    under the neighbours."""
    queries = list(queries)
    neighbours = [list(n) for n in neighbours]
    if len(neighbours) != len(queries):
        raise ValueError(f"{len(queries)} queries but neighbours for {len(neighbours)}")
    k = len(neighbours[0])
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(size * (k + 1) + 0.2, size * len(queries) + 0.3),
                             squeeze=False)

    def name(c):
        return class_names[int(c)] if class_names is not None else str(int(c))

    for r, (q, ns) in enumerate(zip(queries, neighbours)):
        _imshow(axes[r, 0], q, ("query" if r == 0 else "") + (f"\n{name(query_labels[r])}"
                                                                if query_labels is not None else ""))
        for s in axes[r, 0].spines.values():
            s.set_visible(True)
            s.set_color("black")
            s.set_linewidth(2)
        for j, img in enumerate(ns, 1):
            title = f"top-{j}" if r == 0 else ""
            ax = axes[r, j]
            _imshow(ax, img, title if title else None)
            if neighbour_labels is not None:
                same = query_labels is not None and int(neighbour_labels[r][j - 1]) == int(query_labels[r])
                for s in ax.spines.values():
                    s.set_visible(True)
                    s.set_color("tab:green" if same else "tab:red")
                    s.set_linewidth(2)
                ax.set_xlabel(name(neighbour_labels[r][j - 1]), fontsize=7, labelpad=1)
            if similarities is not None:
                sim = f"{float(similarities[r][j - 1]):.2f}"
                ax.set_xlabel((ax.get_xlabel() + " " if ax.get_xlabel() else "") + sim, fontsize=7, labelpad=1)
    fig.tight_layout()
    return fig


def show_neighbours(images, feats, queries: Sequence[int], k: int = 8, labels=None,
                    class_names: Sequence[str] | None = None, size: float = 1.1):
    """What an encoder thinks is similar: for each of ``queries`` (indices into ``images``), its ``k``
    most cosine-similar other images of the same collection, by ``feats`` (N, D). Frames as in
    :func:`show_retrieval` when ``labels`` are given; the similarities under each neighbour."""
    from sslkit.evaluate import nearest_neighbours

    queries = [int(i) for i in queries]
    sim, idx = nearest_neighbours(feats[queries], feats, k=k + 1)
    keep = [[(s, j) for s, j in zip(srow.tolist(), irow.tolist()) if j != q][:k]  # never the query itself
            for q, srow, irow in zip(queries, sim, idx)]
    neighbours = [[images[j] for _, j in row] for row in keep]
    return show_retrieval([images[q] for q in queries], neighbours,
                          None if labels is None else [labels[q] for q in queries],
                          None if labels is None else [[labels[j] for _, j in row] for row in keep],
                          class_names, similarities=[[s for s, _ in row] for row in keep], size=size)


def plot_confusion_matrix(cm, class_names: Sequence[str] | None = None, normalize: bool = True,
                          title: str | None = None, size: float = 4.6):
    """A confusion matrix C[i, j] (true i predicted j) as a heat map; ``normalize``: each row
    divided by its total (recall on the diagonal), the counts still written in the cells."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {cm.shape}")
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{n} classes but {len(names)} class names")
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if shown[i, j] > 0.6 * (shown.max() or 1) else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for s in ax.spines.values():
        s.set_visible(False)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the row" if normalize else "count")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_label_efficiency(result: Mapping, title: str | None = None, chance: float | None = None, ax=None):
    """Accuracy against the number of labelled examples (log scale), one line per method, from
    :func:`sslkit.evaluate.label_efficiency` (``{"budgets", "n_labels", "acc": {name: [...]}}``).
    Each point is labelled with its budget (k per class, or "all")."""
    n = np.asarray(result["n_labels"], dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.4))
    else:
        fig = ax.figure
    for name, accs in result["acc"].items():
        ax.plot(n, accs, "o-", ms=4, label=name)
    ticks = [("all" if b is None else f"{b}/class") + f"\n{int(m):,}" for b, m in zip(result["budgets"], n)]
    ax.set_xscale("log")
    ax.set_xticks(n)
    ax.set_xticklabels(ticks, fontsize=7)
    ax.minorticks_off()
    if chance is not None:
        ax.axhline(chance, ls=":", color="gray", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xlabel("labelled training images")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


__all__ += ["plot_training", "plot_embedding", "plot_embeddings", "show_retrieval", "plot_confusion_matrix",
            "plot_label_efficiency"]


def fig_to_jpeg(fig, quality: int = 85, dpi: int | None = None) -> bytes:
    """The figure as JPEG bytes: for photographs, several times smaller than PNG at the same size."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise ValueError(f"quality must be an integer in 1..95, got {quality!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", dpi=dpi, bbox_inches="tight", pil_kwargs={"quality": quality})
    return buf.getvalue()


def show_as_jpeg(fig, quality: int = 85) -> None:
    """Display ``fig`` in the notebook as a JPEG and close it (so the inline backend does not add a PNG).

    Use it for grids of photographs, where PNG bloats the saved notebook; keep PNG for line plots."""
    from IPython.display import Image, display

    data = fig_to_jpeg(fig, quality)
    plt.close(fig)
    display(Image(data=data, format="jpeg"))
