import numpy as np
import pytest
import torch

from sslkit.evaluate import (classification_report, confusion_matrix, evaluate_features, extract_features,
                             knn_predict, linear_probe)


def blobs(n_per_class=50, classes=4, dim=16, spread=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=g) * 3
    x = torch.cat([centers[c] + spread * torch.randn(n_per_class, dim, generator=g) for c in range(classes)])
    y = torch.arange(classes).repeat_interleave(n_per_class)
    return x, y


def test_knn_on_clusters_is_perfect():
    x, y = blobs()
    xt, yt = blobs(seed=0)  # same centres, same points: each query's nearest neighbours share its class
    assert (knn_predict(x, y, xt, k=20) == yt).all()


def test_knn_weighting_by_hand():
    # Query [1, 0]: one very close neighbour of class 1, two mediocre ones of class 0.
    bank = torch.tensor([[1.0, 0.05], [0.6, 0.8], [0.6, -0.8]])
    labels = torch.tensor([1, 0, 0])
    q = torch.tensor([[1.0, 0.0]])
    # weights exp(cos/0.1): class 1 ~ exp(9.99) ~ 21800, class 0 ~ 2*exp(6) ~ 807 -> class 1
    assert knn_predict(bank, labels, q, k=3, temperature=0.1).item() == 1
    # a high temperature flattens the weights and the majority wins
    assert knn_predict(bank, labels, q, k=3, temperature=100.0).item() == 0


def test_linear_probe_separable():
    x, y = blobs(spread=1.0)
    xt, yt = blobs(spread=1.0, seed=0)
    out = linear_probe(x, y, xt, yt)
    assert out["acc"] > 0.95 and out["weight"].shape == (4, 16)


def test_linear_probe_is_not_fooled_by_noise_features():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 32, generator=g), torch.randint(0, 4, (400,), generator=g)
    xt, yt = torch.randn(400, 32, generator=g), torch.randint(0, 4, (400,), generator=g)
    assert linear_probe(x, y, xt, yt)["acc"] < 0.4  # chance 0.25: random labels cannot be predicted


def test_reports():
    y_true, y_pred = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0])
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    rep = classification_report(y_true, y_pred, ["a", "b", "c"], as_dict=True)
    assert rep["c"]["support"] == 3 and rep["a"]["recall"] == pytest.approx(0.5)


def test_evaluate_features_and_bad_protocol():
    x, y = blobs(n_per_class=20, classes=10)
    out = evaluate_features(x, y, x, y, protocols=("knn", "linear", "linear-k10"))
    assert set(out) == {"knn_acc", "linear_probe_acc", "linear_probe_k10_acc"}
    assert all(v > 0.9 for v in out.values())
    with pytest.raises(ValueError, match="valid protocols: knn, linear, linear-k10"):
        evaluate_features(x, y, x, y, protocols=("svm",))


def test_extract_features_restores_mode():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(4))
    net.train()
    f = extract_features(net, torch.randint(0, 255, (10, 1, 2, 2), dtype=torch.uint8), lambda x: x.float(),
                         batch_size=3)
    assert f.shape == (10, 4) and net.training
