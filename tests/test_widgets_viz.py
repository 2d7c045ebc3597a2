import base64

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sslkit.teach import viz, widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def images(n=6, c=1, h=12, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)


# ------------------------------------------------------------------------------------ viz

@pytest.mark.parametrize("shape, out", [((1, 5, 7), (5, 7)), ((3, 5, 7), (5, 7, 3)), ((5, 7), (5, 7)),
                                        ((5, 7, 3), (5, 7, 3))])
def test_to_display_shapes_and_range(shape, out):
    a = viz.to_display(torch.full(shape, 255, dtype=torch.uint8))
    assert a.shape == out and a.max() == 1.0
    f = viz.to_display(torch.full(shape, 2.0))  # floats are clipped to [0, 1]
    assert f.max() == 1.0


def test_to_display_rejects_batches():
    with pytest.raises(ValueError, match="expected an image"):
        viz.to_display(torch.zeros(2, 1, 4, 4))


def test_show_images_one_axis_per_image():
    fig = viz.show_images(images(10), titles=list("abcdefghij"), ncols=4)
    assert len(fig.axes) == 10  # 3 rows x 4 columns, the two spare cells removed
    assert fig.axes[3].get_title() == "d"
    with pytest.raises(ValueError, match="titles"):
        viz.show_images(images(3), titles=["a"])


def test_show_views_grid():
    fig = viz.show_views(images(2, 3), torch.rand(2, 4, 3, 8, 8))
    assert len(fig.axes) == 2 * 5
    with pytest.raises(ValueError, match="views for"):
        viz.show_views(images(2), [torch.rand(3, 1, 8, 8)])


def test_plot_curves_and_history():
    fig = viz.plot_curves({"a": ([0, 1, 2], [3, 2, 1]), "b": ([0, 1, 2], [1, 1, 1])}, ylabel="loss")
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    hist = {"steps": [{"step": s, "loss": 5 - s, "lr": 0.1} for s in range(1, 4)],
            "epochs": [{"epoch": 1, "loss": 4.0}]}
    assert len(viz.plot_history(hist, keys=("loss", "lr", "missing")).axes) == 2
    with pytest.raises(ValueError, match="none of the keys"):
        viz.plot_history(hist, keys=("knn_acc",))


def test_bar_chart_labels_every_bar():
    fig = viz.bar_chart({"x": 0.5, "y": 0.75}, fmt="{:.2f}")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.50", "0.75"]


NODES = {"a": ("A", (0, 0)), "b": ('B "quoted"\nline 2', (2, 0), "#ffeecc"), "c": ("C", (1, 1))}
EDGES = [("a", "b"), ("b", "c", "label")]


def test_draw_diagram_and_mermaid_agree():
    fig = viz.draw_diagram(NODES, EDGES, title="t")
    ax = fig.axes[0]
    assert len(ax.patches) + len([c for c in ax.get_children() if isinstance(c, matplotlib.text.Annotation)]) >= 2
    assert sum(1 for t in ax.texts if t.get_text() in ("A", "C")) == 2
    code = viz.mermaid(NODES, EDGES, direction="TB")
    assert code.splitlines()[0] == "flowchart TB"
    assert "a --> b" in code and 'b -- "label" --> c' in code
    assert "B 'quoted'<br/>line 2" in code  # quotes and newlines made safe for Mermaid
    with pytest.raises(ValueError, match="unknown node"):
        viz.draw_diagram(NODES, [("a", "zzz")])
    with pytest.raises(ValueError, match="unknown node"):
        viz.mermaid(NODES, [("a", "zzz")])


def test_fig_to_png_and_jpeg():
    fig = viz.show_images(images(2))
    assert viz.fig_to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    assert viz.fig_to_jpeg(fig)[:2] == b"\xff\xd8"
    with pytest.raises(ValueError, match="quality"):
        viz.fig_to_jpeg(fig, quality=0)


def test_show_as_jpeg_displays_and_closes(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig = viz.show_images(images(2))
    assert viz.show_as_jpeg(fig) is None
    assert not plt.fignum_exists(fig.number) and shown[0].format == "jpeg"


# -------------------------------------------------------------------------------- widgets

def test_sample_photos():
    x = widgets.sample_photos(height=32)
    assert x.dtype == torch.uint8 and x.shape == (2, 3, 32, 48)


def test_explorer_slider_changes_the_picture_and_keeps_the_draws():
    ex = widgets.augmentation_explorer({"gray": images(4, 1, 16, 16), "rgb": images(3, 3, 20, 20, seed=1)},
                                       n_views=3)
    assert ex.views().shape == (3, 1, 16, 16)
    before_png, before_views = ex.image.value, ex.views()
    ex.controls["solarize_p"].value = 1.0          # a slider move redraws...
    assert ex.image.value != before_png
    after = ex.views()
    assert not torch.equal(after, before_views)
    ex.controls["solarize_p"].value = 0.0          # ...and the same random draws come back
    assert torch.equal(ex.views(), before_views)
    png = ex.image.value
    ex.button.click()                              # "new sample": new draws
    assert ex.image.value != png and not torch.equal(ex.views(), before_views)


def test_explorer_switching_source_clamps_index_and_channels():
    ex = widgets.augmentation_explorer({"gray": images(5, 1, 16, 16), "rgb": images(2, 3, 20, 20)}, n_views=2)
    ex.controls["index"].value = 4
    ex.controls["source"].value = "rgb"
    assert ex.controls["index"].value == 1 and ex.controls["index"].max == 1
    assert ex.views().shape == (2, 3, 20, 20)


def test_explorer_rejects_bad_images():
    with pytest.raises(ValueError, match="uint8 tensor"):
        widgets.augmentation_explorer({"x": torch.rand(2, 1, 8, 8)})


def test_static_fallback_in_display_bundle():
    ex = widgets.augmentation_explorer(images(2, 1, 16, 16), n_views=2)
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/jpeg"]) == bytes(ex.image.value)
    assert "JupyterLab" in bundle["text/plain"]
    toy = widgets.sphere_toy(steps=20)
    assert base64.b64decode(toy._repr_mimebundle_()["image/png"]) == bytes(toy.image.value)


@pytest.mark.parametrize("loss", widgets.TOY_LOSSES)
def test_toy_losses_are_finite_and_validated(loss):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    value = widgets.toy_loss(loss, z1, z2, 0.5, torch.zeros(()))
    assert torch.isfinite(value)
    with pytest.raises(ValueError, match="valid losss|valid loss"):
        widgets.toy_loss("nope", z1, z2, 0.5, torch.zeros(()))


def test_toy_contrastive_spreads_and_positive_only_collapses():
    data = widgets.make_toy_data(n=128)
    state = torch.get_rng_state()
    spread = widgets.train_toy("nt-xent", temperature=0.2, steps=60, seed=0, data=data)
    sigmoid = widgets.train_toy("sigmoid", temperature=0.2, steps=60, seed=0, data=data)
    collapsed = widgets.train_toy("positive-only", temperature=0.2, steps=60, seed=0, data=data)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    assert spread["final"].shape == (128, 2)
    for r in (spread, sigmoid):
        assert abs(r["mean_cos"]) < 0.2 and r["uniformity"] < -1.0
    assert collapsed["mean_cos"] > 0.95 and collapsed["uniformity"] > -0.1
    again = widgets.train_toy("nt-xent", temperature=0.2, steps=60, seed=0, data=data)
    assert torch.equal(again["final"], spread["final"])  # deterministic under a seed


def test_toy_validates_arguments():
    with pytest.raises(ValueError, match="dim"):
        widgets.train_toy(dim=4)
    with pytest.raises(ValueError, match="batch_size"):
        widgets.train_toy(batch_size=10_000)
    with pytest.raises(ValueError, match="temperature"):
        widgets.train_toy(temperature=0)


def test_sphere_toy_widget_updates_on_slider(monkeypatch):
    calls = []
    real = widgets.train_toy

    def fast(**kw):
        calls.append(kw)
        return real(**{**kw, "steps": 5})

    monkeypatch.setattr(widgets, "train_toy", fast)
    toy = widgets.sphere_toy(steps=20)
    png = toy.image.value
    toy.controls["loss"].value = "positive-only"
    assert toy.image.value != png and calls[-1]["loss"] == "positive-only"
    toy.controls["temperature"].value = 1.0
    assert calls[-1]["temperature"] == pytest.approx(1.0)
    seed = toy.seed
    toy.button.click()
    assert toy.seed == seed + 1 and len(calls) == 4
    assert len(widgets.plot_toy(toy.result).axes) == 3
    assert len(widgets.plot_toy(real(dim=3, steps=3), with_loss=False).axes) == 2
