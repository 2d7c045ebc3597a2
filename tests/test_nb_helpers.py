"""The helpers notebooks 04 and 05 use: retrieval, label efficiency (sslkit.evaluate), fine-tuning (sslkit.finetune)
and their plots (sslkit.teach.viz)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import sslkit.train as train  # noqa: E402
from sslkit import evaluate, finetune  # noqa: E402
from sslkit.teach import viz  # noqa: E402
from sslkit.config import resolve  # noqa: E402
from sslkit.models import ConvNet, ResNet18CIFAR  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def tiny(**kw):
    base = dict(width=8, batch_size=32, train_subset=256, epochs=2, proj_hidden=32, proj_dim=16,
                log_every=1, device="cpu", channels_last=False, warmup_epochs=0.5)
    base.update(kw)
    return resolve("quick", **base)


def state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------- retrieval

def test_nearest_neighbours_by_hand():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    q = torch.tensor([[2.0, 0.1]])  # closest in angle: [1,0], then [0.7,0.7], then [0,1]
    sim, idx = evaluate.nearest_neighbours(q, bank, k=3)
    assert idx.tolist() == [[0, 2, 1]]
    assert sim[0, 0] == pytest.approx(2.0 / (4.01 ** 0.5), abs=1e-6)
    assert (sim[0, :-1] >= sim[0, 1:]).all()


def test_nearest_neighbours_exclude_self_and_chunks():
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    _, idx = evaluate.nearest_neighbours(x, x, k=1)
    assert idx[:, 0].tolist() == list(range(50))  # each row is its own nearest neighbour
    _, idx = evaluate.nearest_neighbours(x, x, k=4, exclude_self=True, chunk=7)
    assert not (idx == torch.arange(50)[:, None]).any()
    _, ref = evaluate.nearest_neighbours(x, x, k=4, exclude_self=True, chunk=1000)
    assert torch.equal(idx, ref)  # chunking changes nothing


@pytest.mark.parametrize("kw, msg", [(dict(k=0), "k must be"), (dict(k=60), "only 50 candidates"),
                                     (dict(k=50, exclude_self=True), "only 49 candidates")])
def test_nearest_neighbours_rejects(kw, msg):
    x = torch.randn(50, 8)
    with pytest.raises(ValueError, match=msg):
        evaluate.nearest_neighbours(x, x, **kw)
    with pytest.raises(ValueError, match="share D"):
        evaluate.nearest_neighbours(x, torch.randn(5, 3), k=1)


# -------------------------------------------------------------------------- fine-tuning

def test_last_block_of_each_backbone():
    conv = ConvNet(1, width=8)
    assert finetune.last_block(conv) is conv.features[3]
    res = ResNet18CIFAR(3)
    assert finetune.last_block(res) is res.net.layer4
    with pytest.raises(ValueError, match="last_block"):
        finetune.last_block(torch.nn.Linear(3, 3))


def test_partial_classifier_freezes_parameters_and_batchnorm():
    enc = ConvNet(1, width=8)
    m = finetune.PartialClassifier(enc, 10, "last").train()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in m.named_parameters() if n.startswith(("encoder.features.3.", "head."))}
    assert not enc.features[0].training and enc.features[3].training  # frozen BN keeps its statistics
    none = finetune.PartialClassifier(ConvNet(1, width=8), 10, "none").train()
    assert {n for n, p in none.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    assert not none.encoder.training
    with pytest.raises(ValueError, match="valid trainables: all, last, none"):
        finetune.PartialClassifier(ConvNet(1, width=8), 10, "first")


def test_fine_tune_all_equals_train_supervised():
    """trainable="all" is the loop and recipe of sslkit.finetune.train_supervised, step for step."""
    cfg = tiny()
    idx = torch.arange(0, 256, 2)  # 128 labelled images, 4 steps per epoch
    ref = finetune.train_supervised(cfg, train_idx=idx, progress=False)["model"]
    _, images, labels = train._prepare(cfg)
    enc = train.build_model(cfg).encoder
    before = state(enc)
    out = finetune.fine_tune(enc, images[idx], labels[idx], cfg, steps=8, warmup=0.25, num_classes=10)
    a, b = state(ref), state(out["model"])
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    for k, v in state(enc).items():  # copy=True: the caller's encoder is untouched
        assert torch.equal(v, before[k]), k
    assert out["history"]["epochs"][-1]["step"] == 8
    assert out["trainable_params"] == out["total_params"]


def test_fine_tune_last_moves_only_the_last_block():
    cfg = tiny()
    _, images, labels = train._prepare(cfg)
    enc = train.build_model(cfg).encoder
    before = state(enc)
    out = finetune.fine_tune(enc, images, labels, cfg, trainable="last", steps=3)
    after = {k[len("encoder."):]: v for k, v in state(out["model"]).items() if k.startswith("encoder.")}
    for k, v in before.items():
        moved = not torch.equal(v, after[k])
        if k.startswith("features.3.") and not k.endswith("num_batches_tracked"):
            assert moved, k
        elif not k.startswith("features.3."):
            assert not moved, k  # frozen weights AND frozen BatchNorm statistics
    assert out["trainable_params"] < out["total_params"]


def test_fine_tune_learns_and_predicts():
    cfg = tiny(lr=3e-3)
    _, images, labels = train._prepare(cfg)
    out = finetune.fine_tune(train.build_model(cfg).encoder, images, labels, cfg, steps=40)
    from sslkit.augment import for_dataset

    pred = evaluate.predict(out["model"], images, for_dataset("fashion-mnist").normalize)
    assert pred.shape == labels.shape and pred.dtype == torch.long
    assert evaluate.accuracy(labels, pred) > 0.4  # chance is 0.1


def test_fine_tune_rejects_bad_input():
    cfg = tiny()
    enc = ConvNet(1, width=8)
    x = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match="uint8"):
        finetune.fine_tune(enc, x.float(), torch.zeros(4, dtype=torch.long), cfg)
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        finetune.fine_tune(enc, x, torch.zeros(3, dtype=torch.long), cfg)
    with pytest.raises(ValueError, match="trainable"):
        finetune.fine_tune(enc, x, torch.zeros(4, dtype=torch.long), cfg, trainable="half")


def test_accuracy():
    assert evaluate.accuracy([1, 2, 3, 4], torch.tensor([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError, match="shape"):
        evaluate.accuracy([1, 2], [1, 2, 3])


# --------------------------------------------------------------------- label efficiency

def test_label_efficiency_budgets_are_exact_and_nested():
    labels = torch.arange(5).repeat(40)  # 5 classes x 40
    seen = []

    def record(idx):
        seen.append(idx)
        return len(idx) / 200

    res = evaluate.label_efficiency({"a": record, "b": lambda idx: 0.5}, labels, budgets=(1, 4, None),
                                    progress=False)
    assert res["n_labels"] == [5, 20, 200]
    assert res["acc"]["a"] == [0.025, 0.1, 1.0] and res["acc"]["b"] == [0.5] * 3
    assert set(seen[0].tolist()) <= set(seen[1].tolist())  # nested subsets
    assert torch.bincount(labels[seen[1]]).tolist() == [4] * 5
    assert len(res["seconds"]["a"]) == 3
    with pytest.raises(ValueError, match="methods is empty"):
        evaluate.label_efficiency({}, labels)


# ------------------------------------------------------------------------------ plots

def fake_history(knn=True):
    steps = [{"step": s, "loss": 5 - s / 10, "lr": 1e-3} for s in range(1, 21)]
    epochs = [{"epoch": e, "step": 10 * e, "loss": 5 - e, "lr": 1e-3, **({"knn_acc": 0.5 + e / 10} if knn else {})}
              for e in (1, 2)]
    return {"kind": "simclr", "steps": steps, "epochs": epochs}


def test_plot_training_panels():
    assert len(viz.plot_training(fake_history(), baseline={"random init": 0.4}).axes) == 3
    assert len(viz.plot_training(fake_history(knn=False)).axes) == 2
    with pytest.raises(ValueError, match="no logged"):
        viz.plot_training({"steps": [], "epochs": []})


def test_plot_embeddings():
    xy = np.random.RandomState(0).randn(30, 2)
    y = np.arange(30) % 3
    fig = viz.plot_embeddings({"before": xy, "after": xy * 2}, y, ["a", "b", "c"])
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.plot_embedding(np.zeros((30, 3)), y)


def test_show_retrieval_frames_mismatches():
    q = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    nb = torch.zeros(2, 3, 1, 8, 8, dtype=torch.uint8)
    fig = viz.show_retrieval(q, nb, [0, 1], [[0, 1, 0], [1, 1, 1]], ["x", "y"], similarities=torch.ones(2, 3))
    assert len(fig.axes) == 8
    frame = fig.axes[2].spines["left"].get_edgecolor()  # row 0, top-2 is class 1 != 0: red
    assert matplotlib.colors.same_color(frame, "tab:red")
    assert matplotlib.colors.same_color(fig.axes[1].spines["left"].get_edgecolor(), "tab:green")
    with pytest.raises(ValueError, match="2 queries but neighbours for 1"):
        viz.show_retrieval(q, nb[:1])


def test_plot_confusion_matrix():
    cm = evaluate.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3)
    fig = viz.plot_confusion_matrix(cm, ["a", "b", "c"])
    assert fig.axes[0].images[0].get_array()[1, 1] == 0.5  # row-normalised
    with pytest.raises(ValueError, match="3 classes but 2"):
        viz.plot_confusion_matrix(cm, ["a", "b"])
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(np.zeros((2, 3)))


def test_plot_label_efficiency():
    res = {"budgets": [1, 10, None], "n_labels": [10, 100, 1000], "acc": {"a": [0.3, 0.5, 0.8], "b": [0.2, 0.6, 0.9]}}
    fig = viz.plot_label_efficiency(res, chance=0.1)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1/class\n10", "10/class\n100", "all\n1,000"]


def test_fine_tune_probe_head_starts_at_the_linear_probe():
    """head_init="probe" folds the probe's standardisation into the head: with a frozen encoder and
    a negligible learning rate the fine-tuned classifier predicts what the linear probe predicts."""
    from sslkit.augment import for_dataset

    cfg = tiny(lr=1e-12)
    images, labels = train.pretraining_images(cfg)
    assert images.shape == (256, 1, 28, 28) and labels.shape == (256,)
    enc = train.build_model(cfg).encoder
    norm = for_dataset("fashion-mnist").normalize
    feats = evaluate.extract_features(enc, images, norm)
    probe = evaluate.linear_probe(feats, labels, feats, weight_decay=1e-3)
    out = finetune.fine_tune(enc, images, labels, cfg, trainable="none", steps=2, head_init="probe",
                             probe_weight_decay=1e-3, num_classes=10)
    pred = evaluate.predict(out["model"], images, norm)
    assert (pred == probe["pred"]).float().mean() > 0.99
