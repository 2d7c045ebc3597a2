"""Interactive explorers for the notebooks (ipywidgets), each one line in a notebook cell.

    from sslkit.teach import widgets
    widgets.augmentation_explorer({"photos": widgets.sample_photos(), "Fashion-MNIST": x[:16]})
    widgets.sphere_toy()                    # points on the unit circle, optimised by a loss

Every explorer is an ``ipywidgets.VBox`` whose picture is an ``ipywidgets.Image`` drawn by
matplotlib (JPEG for photographs, PNG for plots): a slider move calls ``update()``, which redraws
it. The logic lives in plain methods (``views()``, ``figure()``, ``run()``), so it is testable
without a browser.

Headless runs (papermill, nbconvert, GitHub) have no widget frontend. So the explorers' display
bundle also carries the current picture (``image/jpeg`` or ``image/png``) and a one-line
``text/plain``: a viewer without widgets shows the picture; JupyterLab shows the live controls.
(Strip ``metadata.widgets`` before committing an executed notebook: the state is not needed.)

The toy model (``train_toy``) is plain PyTorch: points in R^8 drawn from a few Gaussian
clusters, a small MLP encoder onto the unit circle (dim=2) or sphere (dim=3), two noisy views
per point, and one of three losses: NT-Xent, the pairwise sigmoid loss, or the sigmoid loss
with the negatives left out ("positive-only", which collapses).
"""
from __future__ import annotations

import base64
import math

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslkit.augment import SimCLRAugment
from sslkit.checks import check_choice, check_positive
from sslkit.teach.viz import fig_to_jpeg, fig_to_png, show_neighbours, show_views

__all__ = ["sample_photos", "AugmentationExplorer", "augmentation_explorer", "TOY_LOSSES", "make_toy_data",
           "toy_loss", "train_toy", "scatter_sphere", "plot_toy", "SphereToy", "sphere_toy", "route_widget",
           "NeighbourBrowser"]


def sample_photos(height: int = 96) -> torch.Tensor:
    """The two colour photos bundled with scikit-learn (china.jpg, flower.jpg; 427 x 640),
    resized to ``height`` rows (aspect kept): uint8 (2, 3, height, round(height * 640 / 427))."""
    from sklearn.datasets import load_sample_images

    check_positive("height", height)
    x = torch.from_numpy(np.stack(load_sample_images().images)).permute(0, 3, 1, 2).float()
    rows, cols = x.shape[-2:]
    size = (height, round(height * cols / rows))
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8).contiguous()


class _StaticFallback:
    """Mixin for a widget with an ``image`` (ipywidgets.Image, png or jpeg): adds the picture to the
    display bundle, so that viewers without a widget frontend still show it."""

    summary = "interactive explorer"

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs) or {}
        data[f"image/{self.image.format}"] = base64.b64encode(bytes(self.image.value)).decode("ascii")
        data["text/plain"] = f"<{self.summary}: run the cell in JupyterLab to use the controls>"
        return data

    def __repr__(self):
        return f"<{self.summary}>"


# ---------------------------------------------------------------------------- augmentations

class AugmentationExplorer(_StaticFallback, w.VBox):
    """Sliders for SimCLRAugment's knobs over a set of images; one original and its views.

    images: {name: uint8 tensor (N, C, H, W)} (or a single tensor), C in {1, 3}.
    Controls (``self.controls``): source, index, crop_min (lower end of the crop-area range),
    strength (colour-jitter strength s: brightness/contrast/saturation 0.8 s, hue 0.2 s),
    blur_p, gray_p, solarize_p, flip_p; and a "new sample" button (new random draws).
    Moving a slider keeps the random draws: augment draws its numbers in a fixed layout,
    so the same crops come back with, say, blur turned on.
    """

    summary = "augmentation explorer"

    def __init__(self, images, n_views: int = 4, seed: int = 0, size: int | None = None):
        if isinstance(images, torch.Tensor):
            images = {"images": images}
        if not images:
            raise ValueError("augmentation_explorer needs at least one set of images")
        for name, x in images.items():
            if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
                shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"images[{name!r}] must be a uint8 tensor (N, 1 or 3, H, W), got {shape}")
        check_positive("n_views", n_views)
        self.images, self.n_views, self.seed, self.size = dict(images), n_views, seed, size
        self.draw = 0  # bumped by "new sample": a new set of random draws
        first = next(iter(self.images.values()))
        style = {"description_width": "110px"}
        lay = w.Layout(width="340px")
        self.controls = {
            "source": w.Dropdown(options=list(self.images), description="images", style=style, layout=lay),
            "index": w.IntSlider(0, 0, len(first) - 1, description="image #", style=style, layout=lay,
                                 continuous_update=False),
            "crop_min": w.FloatSlider(0.08, min=0.02, max=1.0, step=0.02, description="crop scale min",
                                      style=style, layout=lay, continuous_update=False),
            "strength": w.FloatSlider(0.5, min=0.0, max=1.5, step=0.1, description="jitter strength",
                                      style=style, layout=lay, continuous_update=False),
            "blur_p": w.FloatSlider(0.0, min=0.0, max=1.0, step=0.1, description="blur p",
                                    style=style, layout=lay, continuous_update=False),
            "gray_p": w.FloatSlider(0.2, min=0.0, max=1.0, step=0.1, description="grayscale p",
                                    style=style, layout=lay, continuous_update=False),
            "solarize_p": w.FloatSlider(0.0, min=0.0, max=1.0, step=0.1, description="solarize p",
                                        style=style, layout=lay, continuous_update=False),
            "flip_p": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.1, description="flip p",
                                    style=style, layout=lay, continuous_update=False),
        }
        self.button = w.Button(description="new sample", icon="refresh")
        self.image = w.Image(format="jpeg")  # photographs: JPEG keeps the saved picture small
        for name, c in self.controls.items():
            c.observe(self._on_source if name == "source" else self.update, names="value")
        self.button.on_click(self._new_sample)
        left = w.VBox([*self.controls.values(), self.button])
        super().__init__([w.HBox([left]), self.image])
        self.update()

    # -- logic (testable without a frontend)
    def params(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def augmenter(self) -> SimCLRAugment:
        p = self.params()
        x = self.images[p["source"]]
        size = self.size or min(x.shape[-2:])
        return SimCLRAugment(size, x.shape[1], crop_scale=(min(p["crop_min"], 1.0), 1.0), flip_p=p["flip_p"],
                             jitter=(0.8, 0.8, 0.8, 0.2), strength=p["strength"], jitter_p=0.8,
                             gray_p=p["gray_p"], blur_p=p["blur_p"], solarize_p=p["solarize_p"])

    def original(self) -> torch.Tensor:
        p = self.params()
        return self.images[p["source"]][p["index"]]

    def views(self) -> torch.Tensor:
        """(n_views, C, size, size) in [0, 1] for the current settings and draw."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.draw)
        x = self.original().unsqueeze(0).expand(self.n_views, -1, -1, -1)
        return self.augmenter()(x, generator=g)

    def figure(self):
        fig = show_views([self.original()], [self.views()], size=1.6)
        return fig

    def update(self, *_):
        fig = self.figure()
        self.image.value = fig_to_jpeg(fig)
        plt.close(fig)

    def _on_source(self, change):
        n = len(self.images[change["new"]])
        idx = self.controls["index"]
        with self.hold_trait_notifications():
            idx.value = min(idx.value, n - 1)
            idx.max = n - 1
        self.update()

    def _new_sample(self, _=None):
        self.draw += 1
        self.update()


def augmentation_explorer(images=None, n_views: int = 4, seed: int = 0, size: int | None = None):
    """An :class:`AugmentationExplorer` widget. ``images``: {name: uint8 (N, C, H, W)} or a tensor;
    default: the scikit-learn photos and 16 Fashion-MNIST test images."""
    if images is None:
        from sslkit.data import load

        images = {"photos (scikit-learn)": sample_photos(), "Fashion-MNIST": load("fashion-mnist", "test")[0][:16]}
    return AugmentationExplorer(images, n_views=n_views, seed=seed, size=size)


# ----------------------------------------------------------------------------- sphere toy

TOY_LOSSES = ("nt-xent", "sigmoid", "positive-only")


def make_toy_data(n: int = 512, dim_in: int = 8, clusters: int = 4, spread: float = 0.6, seed: int = 0):
    """Points in R^dim_in from ``clusters`` Gaussian blobs (unit-norm centres, std ``spread``).
    Returns (x float32 (n, dim_in), labels (n,)); labels are only for colouring plots."""
    check_positive("n", n)
    check_positive("clusters", clusters)
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(clusters, dim_in, generator=g), dim=1) * 2.0
    labels = torch.arange(n) % clusters
    x = centres[labels] + spread * torch.randn(n, dim_in, generator=g)
    return x, labels


def toy_loss(name: str, z1: torch.Tensor, z2: torch.Tensor, temperature: float, bias: torch.Tensor) -> torch.Tensor:
    """The toy's three losses on (B, D) projections of two views.

    nt-xent: sslkit.losses.nt_xent(z1, z2, temperature);
    sigmoid: SigLIP's pairwise loss with t = 1 / temperature and a learnable bias b,
             -(1/B) sum_ij log sigmoid(y_ij (t u_i.v_j + b)), y_ii = +1, y_ij = -1 (i != j);
    positive-only: the same with every negative pair dropped, -(1/B) sum_i log sigmoid(t u_i.v_i + b).
    """
    from sslkit.losses import nt_xent, sigmoid_pairwise

    check_choice("loss", name, TOY_LOSSES)
    if name == "nt-xent":
        return nt_xent(z1, z2, temperature)
    if name == "sigmoid":
        return sigmoid_pairwise(z1, z2, t=1.0 / temperature, b=bias)
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    return -F.logsigmoid((u * v).sum(1) / temperature + bias).mean()


def _uniformity(u: torch.Tensor, t: float = 2.0) -> float:
    """log E exp(-t ||u_i - u_j||^2) over pairs i != j (Wang & Isola 2020); lower = more uniform."""
    d2 = torch.cdist(u, u).pow(2)
    mask = ~torch.eye(len(u), dtype=torch.bool)
    return torch.logsumexp(-t * d2[mask], 0).item() - math.log(mask.sum().item())


def train_toy(loss: str = "nt-xent", temperature: float = 0.2, batch_size: int = 64, steps: int = 300,
              lr: float = 1e-2, dim: int = 2, noise: float = 0.3, seed: int = 0, data=None) -> dict:
    """Train a small MLP onto the unit circle (dim=2) or sphere (dim=3) with ``loss``.

    Each step samples ``batch_size`` points, makes two views x + noise * eps, and takes an Adam
    step on the loss. Returns {"initial", "final": (n, dim) unit vectors of the clean points
    before / after, "labels", "losses": per step, "uniformity", "mean_cos", and the settings}.
    """
    check_choice("loss", loss, TOY_LOSSES)
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 (circle) or 3 (sphere), got {dim!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    check_positive("steps", steps)
    x, labels = make_toy_data(seed=seed) if data is None else data
    if not 2 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be between 2 and {len(x)} (the number of points), got {batch_size!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64-wide MLP: threads only add overhead (and fight over a shared CPU)
    try:
        return _train_toy(x, labels, loss, temperature, batch_size, steps, lr, dim, noise, seed)
    finally:
        torch.set_num_threads(threads)


def _train_toy(x, labels, loss, temperature, batch_size, steps, lr, dim, noise, seed) -> dict:
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # initial weights from `seed`, the caller's RNG untouched
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, dim))
    bias = nn.Parameter(torch.zeros(()))
    opt = torch.optim.Adam([*net.parameters(), bias], lr=lr)
    with torch.no_grad():
        initial = F.normalize(net(x), dim=1)
    losses = []
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=g)[:batch_size]
        xb = x[idx]
        v1 = xb + noise * torch.randn(xb.shape, generator=g)
        v2 = xb + noise * torch.randn(xb.shape, generator=g)
        value = toy_loss(loss, net(v1), net(v2), temperature, bias)
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(value.item())
    with torch.no_grad():
        final = F.normalize(net(x), dim=1)
    cos = final @ final.T
    off = ~torch.eye(len(final), dtype=torch.bool)
    return {"initial": initial, "final": final, "labels": labels, "losses": losses,
            "uniformity": _uniformity(final), "mean_cos": cos[off].mean().item(),
            "loss": loss, "temperature": temperature, "batch_size": batch_size, "steps": steps, "dim": dim}


def scatter_sphere(ax, u, labels, title=None):
    """Unit vectors u (n, 2) on a drawn circle, or (n, 3) on a 3-D axis, coloured by ``labels``.
    On the circle each cluster sits on a slightly larger radius, so overlapping clusters stay visible."""
    colors = plt.get_cmap("tab10")(np.asarray(labels) % 10)
    u = u.numpy()
    if u.shape[1] == 2:
        t = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(t), np.sin(t), color="#bbbbbb", lw=0.8)
        jitter = 1 + 0.04 * (np.asarray(labels) % 4)  # clusters on slightly different radii: overlaps stay visible
        ax.scatter(u[:, 0] * jitter, u[:, 1] * jitter, s=6, c=colors, alpha=0.7, lw=0)
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.scatter(u[:, 0], u[:, 1], u[:, 2], s=5, c=colors, alpha=0.7, lw=0)
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_zlim(-1, 1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
    if title:
        ax.set_title(title, fontsize=9)


def plot_toy(result: dict, with_loss: bool = True):
    """Before / after scatter on the circle (or sphere), coloured by cluster, and the loss curve."""
    n = 3 if with_loss else 2
    fig = plt.figure(figsize=(2.7 * n, 2.7))
    kw = {"projection": "3d"} if result["dim"] == 3 else {}
    a0 = fig.add_subplot(1, n, 1, **kw)
    a1 = fig.add_subplot(1, n, 2, **kw)
    scatter_sphere(a0, result["initial"], result["labels"], "before training")
    tau = f", τ={result['temperature']:g}"
    scatter_sphere(a1, result["final"], result["labels"],
                   f"{result['loss']}{tau}, B={result['batch_size']}\nmean cos {result['mean_cos']:.2f}, "
                   f"uniformity {result['uniformity']:.2f}")
    if with_loss:
        a2 = fig.add_subplot(1, n, 3)
        a2.plot(result["losses"], lw=0.8)
        a2.set_xlabel("step")
        a2.set_title("loss", fontsize=9)
    fig.tight_layout()
    return fig


class SphereToy(_StaticFallback, w.VBox):
    """Sliders for the toy: loss, temperature, batch size, steps, and a new-seed button."""

    summary = "unit-circle toy"

    def __init__(self, loss: str = "nt-xent", temperature: float = 0.2, batch_size: int = 64,
                 steps: int = 300, dim: int = 2, seed: int = 0):
        check_choice("loss", loss, TOY_LOSSES)
        self.dim, self.seed = dim, seed
        style = {"description_width": "90px"}
        lay = w.Layout(width="320px")
        self.controls = {
            "loss": w.Dropdown(options=list(TOY_LOSSES), value=loss, description="loss", style=style, layout=lay),
            "temperature": w.FloatLogSlider(temperature, base=10, min=-1.7, max=0.3, step=0.05,
                                            description="temperature", style=style, layout=lay,
                                            continuous_update=False),
            "batch_size": w.IntSlider(batch_size, min=4, max=256, step=4, description="batch size",
                                      style=style, layout=lay, continuous_update=False),
            "steps": w.IntSlider(steps, min=20, max=1000, step=20, description="steps", style=style,
                                 layout=lay, continuous_update=False),
        }
        self.button = w.Button(description="new seed", icon="refresh")
        self.image = w.Image(format="png")
        for c in self.controls.values():
            c.observe(self.update, names="value")
        self.button.on_click(self._new_seed)
        self.result = None
        super().__init__([w.HBox([w.VBox(list(self.controls.values())), self.button]), self.image])
        self.update()

    def params(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def run(self) -> dict:
        self.result = train_toy(dim=self.dim, seed=self.seed, **self.params())
        return self.result

    def update(self, *_):
        fig = plot_toy(self.run())
        self.image.value = fig_to_png(fig)
        plt.close(fig)

    def _new_seed(self, _=None):
        self.seed += 1
        self.update()


def sphere_toy(loss: str = "nt-xent", temperature: float = 0.2, batch_size: int = 64, steps: int = 300,
               dim: int = 2, seed: int = 0):
    """A :class:`SphereToy` widget (dim=2: the unit circle; dim=3: the sphere)."""
    return SphereToy(loss=loss, temperature=temperature, batch_size=batch_size, steps=steps, dim=dim, seed=seed)


# ---------------------------------------------------------------------------- nearest neighbours

class NeighbourBrowser(_StaticFallback, w.VBox):
    """Browse a collection under an encoder: pick an image (slider, or "random") and see the ``k`` images
    whose features are most similar to its own (cosine similarity). ``images`` uint8 (N, C, H, W),
    ``feats`` (N, D), optional ``labels`` (N,) and ``class_names`` for green / red frames."""

    summary = "nearest-neighbour browser"

    def __init__(self, images, feats, labels=None, class_names=None, k: int = 8, seed: int = 0):
        super().__init__()
        if len(images) != len(feats) or len(images) < 2:
            raise ValueError(f"need as many feature rows as images (at least 2), got {len(feats)} and {len(images)}")
        self.images, self.feats, self.labels, self.class_names = images, feats, labels, class_names
        self.k = check_positive("k", min(k, len(images) - 1))
        self.rng = np.random.default_rng(seed)
        self.index = w.IntSlider(value=0, min=0, max=len(images) - 1, description="image", continuous_update=False)
        self.button = w.Button(description="random image")
        self.image = w.Image(format="png")
        self.index.observe(lambda change: self.update(), names="value")
        self.button.on_click(lambda _: setattr(self.index, "value", int(self.rng.integers(len(self.images)))))
        self.children = [w.HBox([self.index, self.button]), self.image]
        self.update()

    def figure(self):
        labels = None if self.labels is None or bool((torch.as_tensor(self.labels) < 0).any()) else self.labels
        return show_neighbours(self.images, self.feats, [self.index.value], self.k, labels, self.class_names)

    def update(self):
        fig = self.figure()
        self.image.value = fig_to_png(fig)
        plt.close(fig)


# ---------------------------------------------------------------------------- message routing

class RouteBox(w.VBox):
    """A VBox whose plain-text form (what viewers without a widget frontend show) says what it is."""

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = "<route this message: a text box; run the cell in JupyterLab to use it>"
        return data


def route_widget(route, placeholder: str = "where can I watch a good science fiction film?") -> RouteBox:
    """A text box and an output area: each submitted message is shown with ``route(message)``, a list of
    (intent, score) pairs, best first, drawn as bars. ``widget.submit(message)`` does what pressing
    Enter does (for headless runs and tests)."""
    box = w.Text(value=placeholder, description="message", layout=w.Layout(width="95%"),
                 continuous_update=False)
    out = w.Output()

    def show(message: str) -> list:
        ranked = list(route(message))
        out.clear_output()
        with out:
            print(f"> {message}")
            for intent, s in ranked[:3]:
                print(f"  {intent:14s} {s:6.3f} {'#' * max(0, int(round(30 * s)))}")
        return ranked

    box.observe(lambda change: show(change["new"]), names="value")
    widget = RouteBox([box, out])
    widget.submit = show
    show(placeholder)
    return widget
