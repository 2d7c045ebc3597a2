"""Tests for sslkit.data: real Fashion-MNIST, small CIFAR-format fixtures written to tmp_path,
splits and the device loader. Nothing here touches the network or writes into the repo."""
import gzip
import socket
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image

from sslkit import data

torch.set_num_threads(1)
# The offline copy of CIFAR-10 that sits beside this checkout on the machines the tests run on (if any).
SHARED_TARBALL = data.REPO_DIR.parent / "shared" / "datasets" / data.CIFAR10_TARBALL


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Point every default location at empty tmp dirs: caches go to tmp, real copies are not found."""
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(data, "REPO_DIR", tmp_path / "repo")
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST", tmp_path / "system")
    monkeypatch.setattr(data, "_online", lambda *a, **k: False)  # download=None never tries the network
    return tmp_path / "data"


def _image(path, h=32, w=32, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def _cifar_tree(root):
    """train: 2 images (png + jpg) of airplane, cat, truck; test: 1 png each. Returns root."""
    for split, n in (("train", 2), ("test", 1)):
        for c, cls in enumerate(("truck", "airplane", "cat")):  # written out of order on purpose
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                _image(d / f"{i:04d}.{'png' if i == 0 else 'jpg'}", seed=10 * c + i)
    return root


def _tar(tree, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(tree / split, arcname=split)
    return path


# --- fashion-mnist (the embedded real data) --------------------------------------------------

@pytest.fixture(scope="module")
def fmnist():
    return data.load("fashion-mnist", "train"), data.load("fashion-mnist", "test")


def test_fashion_mnist_shapes_and_balance(fmnist):
    (x, y), (xt, yt) = fmnist
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert x.dtype == torch.uint8 and y.dtype == torch.int64 and x.is_contiguous()
    assert y.min() == 0 and y.max() == 9
    assert y.bincount().tolist() == [6000] * 10 and yt.bincount().tolist() == [1000] * 10
    assert x.float().mean() > 50  # real images, not zeros
    assert len(data.class_names("fashion-mnist")) == 10


def test_fashion_mnist_deterministic(fmnist):
    x2, y2 = data.load("fashion-mnist", "test")
    assert torch.equal(x2, fmnist[1][0]) and torch.equal(y2, fmnist[1][1])


def test_fashion_mnist_missing(isolated, tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as e:
        data.load("fashion-mnist", root=tmp_path, download=False)
    assert "dataset-fashion-mnist" in str(e.value) and "download=True" in str(e.value)


def test_idx_corrupt(tmp_path):
    good = tmp_path / "ok-idx1-ubyte.gz"
    with gzip.open(good, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3]))
    assert data.read_idx(good).tolist() == [1, 2, 3]
    short = tmp_path / "short.gz"
    with gzip.open(short, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes([1, 2, 3]))
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(short)
    magic = tmp_path / "magic.gz"
    with gzip.open(magic, "wb") as f:
        f.write(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="not a uint8 IDX"):
        data.read_idx(magic)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good.read_bytes()[:-6])  # gzip stream cut off
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.read_idx(cut)


# --- cifar10: folder tree, tarball + cache, torchvision paths ------------------------------

def test_cifar10_tree(isolated, tmp_path):
    tree = _cifar_tree(tmp_path / "tree")
    x, y = data.load("cifar10", "train", root=tree, download=False)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.uint8
    assert y.tolist() == [0, 0, 3, 3, 9, 9]  # canonical CIFAR-10 indices, not folder order
    png = np.array(Image.open(tree / "train" / "airplane" / "0000.png"))
    assert torch.equal(x[0], torch.from_numpy(png).permute(2, 0, 1))  # lossless PNG read exactly
    xt, yt = data.load("cifar10", "test", root=tree, download=False)
    assert xt.shape == (3, 3, 32, 32) and yt.tolist() == [0, 3, 9]
    assert not (isolated / "cache").exists()  # a tree is read, not cached


def test_cifar10_tarball_decoded_once(isolated, tmp_path, monkeypatch):
    tree = _cifar_tree(tmp_path / "tree")
    tar = _tar(tree, tmp_path / "dl" / data.CIFAR10_TARBALL)
    want = data.load("cifar10", "train", root=tree)
    x, y = data.load("cifar10", "train", root=tar.parent, download=False)
    assert torch.equal(x, want[0]) and torch.equal(y, want[1])
    assert sorted(p.name for p in (isolated / "cache").iterdir()) == ["cifar10-test.pt", "cifar10-train.pt"]

    def no_tar(*a, **k):
        raise AssertionError("tarball opened again instead of using the cache")
    monkeypatch.setattr(tarfile, "open", no_tar)
    x2, y2 = data.load("cifar10", "train", download=False)  # no root: the cache alone
    xt, yt = data.load("cifar10", "test", download=False)   # both splits cached in one pass
    assert torch.equal(x2, x) and torch.equal(y2, y) and yt.tolist() == [0, 3, 9]


def test_cifar10_tarball_in_the_cache_dir_and_as_file(isolated, tmp_path):
    tree = _cifar_tree(tmp_path / "tree")
    _tar(tree, data.cache_dir() / data.CIFAR10_TARBALL)
    assert data.load("cifar10", "test", download=False)[0].shape == (3, 3, 32, 32)
    for p in (isolated / "cache").iterdir():
        p.unlink()
    other = _tar(tree, tmp_path / "elsewhere" / "my-copy.tar.gz")  # root may name the file itself
    assert data.load("cifar10", "train", root=other, download=False)[0].shape == (6, 3, 32, 32)


def test_cifar10_corrupt_tarball_and_cache(isolated, tmp_path):
    tree = _cifar_tree(tmp_path / "tree")
    good = _tar(tree, tmp_path / "a" / data.CIFAR10_TARBALL)
    bad = tmp_path / "b" / data.CIFAR10_TARBALL
    bad.parent.mkdir()
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.load("cifar10", root=bad.parent, download=False)
    assert not (isolated / "cache" / "cifar10-train.pt").exists()
    (isolated / "cache").mkdir(parents=True, exist_ok=True)
    (isolated / "cache" / "cifar10-train.pt").write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable cache"):
        x, _ = data.load("cifar10", root=good.parent, download=False)
    assert x.shape == (6, 3, 32, 32)
    assert data.load("cifar10", download=False)[0].shape == (6, 3, 32, 32)  # rebuilt


def _fake_torchvision(monkeypatch, cifar10_cls):
    tv = types.SimpleNamespace(datasets=types.SimpleNamespace(CIFAR10=cifar10_cls))
    monkeypatch.setattr(data, "_torchvision", lambda: tv)


class _FakeCIFAR10:
    calls = []

    def __init__(self, root, train=True, download=False):
        _FakeCIFAR10.calls.append((Path(root), train, download, socket.getdefaulttimeout()))
        self.data = np.full((4, 32, 32, 3), 7, np.uint8)
        self.targets = [1, 2, 3, 4]


def test_cifar10_torchvision_batches_and_download(isolated, tmp_path, monkeypatch):
    _fake_torchvision(monkeypatch, _FakeCIFAR10)
    _FakeCIFAR10.calls.clear()
    (tmp_path / "tv" / "cifar-10-batches-py").mkdir(parents=True)
    x, y = data.load("cifar10", "test", root=tmp_path / "tv", download=False)
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [1, 2, 3, 4]
    assert _FakeCIFAR10.calls[-1][:3] == (tmp_path / "tv", False, False)
    before = socket.getdefaulttimeout()
    data.load("cifar10", "train", download=True)
    root, train, download, timeout = _FakeCIFAR10.calls[-1]
    assert (root, train, download) == (isolated / "cache", True, True)  # downloads go to the ignored cache
    assert timeout == data.NET_TIMEOUT and socket.getdefaulttimeout() == before


def test_download_failure_names_every_option(isolated, monkeypatch):
    class Offline(_FakeCIFAR10):
        def __init__(self, *a, **k):
            raise OSError("no route to host")
    _fake_torchvision(monkeypatch, Offline)
    before = socket.getdefaulttimeout()
    for download, reason in ((True, "no route to host"), (None, "unreachable"), (False, "download=False")):
        with pytest.raises(data.DatasetNotFoundError) as e:
            data.load("cifar10", download=download)
        msg = str(e.value)
        assert reason in msg and data.CIFAR10_TARBALL in msg and "download=True" in msg
        assert "ImageFolder" in msg and "cifar-10-batches-py" in msg
    assert socket.getdefaulttimeout() == before
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(ValueError, match="download"):
        data.load("cifar10", download="yes")


def test_stl10_missing(isolated):
    with pytest.raises(data.DatasetNotFoundError, match="download=True"):
        data.load("stl10", "unlabeled", download=False)


# --- image-folder: tests/test_image_folder.py -------------------------------------------


# --- names, splits, info, digits ---------------------------------------------------------

def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="fashion-mnist, cifar10, stl10, digits, image-folder"):
        data.load("mnist")
    with pytest.raises(ValueError, match="valid splits: train, test"):
        data.load("cifar10", "val")
    with pytest.raises(ValueError, match="unlabeled"):
        data.load("stl10", "extra")
    with pytest.raises(ValueError, match="size"):
        data.load("digits", size=(8, 8, 8))
    for name in data.DATASETS:
        i = data.info(name)
        assert {"channels", "size", "num_classes", "splits", "description", "obtain"} <= set(i)


def test_digits():
    x, y = data.load("digits", "train")
    xt, yt = data.load("digits", "test")
    assert x.shape == (1437, 1, 8, 8) and xt.shape == (360, 1, 8, 8)
    assert x.max() == 255 and x.min() == 0 and set(yt.tolist()) == set(range(10))
    assert data.load("digits", "test", size=16)[0].shape == (360, 1, 16, 16)


# --- subsets -----------------------------------------------------------------------------

Y = torch.arange(10).repeat_interleave(torch.tensor([50, 40, 30, 30, 30, 30, 30, 30, 30, 20]))


def test_train_val_split():
    tr, va = data.train_val_split(Y, 0.1, seed=0)
    assert len(set(tr.tolist()) & set(va.tolist())) == 0 and len(tr) + len(va) == len(Y)
    assert Y[va].bincount(minlength=10).tolist() == [5, 4, 3, 3, 3, 3, 3, 3, 3, 2]  # stratified
    assert torch.equal(tr, tr.sort().values)
    again = data.train_val_split(Y, 0.1, seed=0)
    assert torch.equal(again[1], va) and not torch.equal(data.train_val_split(Y, 0.1, seed=1)[1], va)
    with pytest.raises(ValueError, match="val_fraction"):
        data.train_val_split(Y, 1.0)


def test_k_per_class_and_label_fraction():
    idx = data.k_per_class(Y, 20, seed=3)
    assert Y[idx].bincount().tolist() == [20] * 10 and len(idx.unique()) == 200
    assert torch.equal(idx, idx.sort().values) and torch.equal(idx, data.k_per_class(Y, 20, seed=3))
    assert set(data.k_per_class(Y, 5, seed=3).tolist()) <= set(idx.tolist())  # nested
    with pytest.raises(ValueError, match="class 9 has only 20 examples"):
        data.k_per_class(Y, 21)
    with pytest.raises(ValueError, match="k"):
        data.k_per_class(Y, 0)
    sub = data.label_fraction(Y, 0.01)
    assert Y[sub].bincount().tolist() == [1] * 10  # at least one per class
    sub = data.label_fraction(Y, 0.5, seed=1)
    assert Y[sub].bincount().tolist() == [25, 20, 15, 15, 15, 15, 15, 15, 15, 10]
    assert torch.equal(data.k_per_class(torch.tensor([-1, 0, -1, 0]), 2), torch.tensor([1, 3]))  # -1 = unlabelled


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.floats(0.05, 0.95), st.integers(0, 2**31))
def test_train_val_split_property(labels, frac, seed):
    y = torch.tensor(labels)
    tr, va = data.train_val_split(y, frac, seed)
    assert sorted(tr.tolist() + va.tolist()) == list(range(len(y)))
    assert set(y[tr].tolist()) == set(labels)  # every class keeps a training example


# --- DeviceLoader ------------------------------------------------------------------------

def _loader(n=103, **kw):
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return data.DeviceLoader(x, torch.arange(n), **kw)


def test_device_loader_epochs():
    dl = _loader(batch_size=10, seed=5)
    assert len(dl) == 10
    batches = list(dl.epoch(0))
    assert len(batches) == 10 and all(x.shape == (10, 1, 2, 2) and x.dtype == torch.uint8 for x, _ in batches)
    seen = torch.cat([y for _, y in batches])
    assert len(seen.unique()) == 100  # each index at most once, 3 dropped
    assert all(torch.equal(x[:, 0, 0, 0].long(), y) for x, y in batches)  # images and labels stay paired
    full = torch.cat([y for _, y in _loader(batch_size=10, seed=5, drop_last=False).epoch(0)])
    assert sorted(full.tolist()) == list(range(103))  # every index exactly once
    assert torch.equal(seen, torch.cat([y for _, y in _loader(batch_size=10, seed=5).epoch(0)]))  # same run or not
    assert not torch.equal(seen, torch.cat([y for _, y in dl.epoch(1)]))
    assert not torch.equal(seen, torch.cat([y for _, y in _loader(batch_size=10, seed=6).epoch(0)]))
    resumed = list(dl.epoch(0, start=7))
    assert len(resumed) == 3 and all(torch.equal(a[1], b[1]) for a, b in zip(resumed, batches[7:]))
    assert torch.equal(torch.cat([y for _, y in dl]), seen)  # iter = epoch 0


def test_device_loader_options_and_errors():
    dl = _loader(batch_size=10, shuffle=False, drop_last=False)
    ys = [y for _, y in dl.epoch(4)]
    assert len(dl) == 11 and len(ys[-1]) == 3 and torch.equal(torch.cat(ys), torch.arange(103))
    unlabeled = data.DeviceLoader(torch.zeros(8, 3, 4, 4, dtype=torch.uint8), batch_size=4)
    assert all(y is None for _, y in unlabeled.epoch(0))
    with pytest.raises(ValueError, match="batch_size=200.*103"):
        _loader(batch_size=200)
    assert len(_loader(batch_size=200, drop_last=False)) == 1
    with pytest.raises(ValueError, match="uint8"):
        data.DeviceLoader(torch.zeros(8, 3, 4, 4))
    with pytest.raises(ValueError, match="uint8"):
        data.DeviceLoader(torch.zeros(8, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="labels"):
        data.DeviceLoader(torch.zeros(8, 3, 4, 4, dtype=torch.uint8), torch.arange(7), batch_size=4)
    with pytest.raises(ValueError, match="start"):
        _loader(batch_size=10).epoch(0, start=11)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_loader_cuda_same_order_as_cpu():
    cpu = [y for _, y in _loader(batch_size=10, seed=2).epoch(3)]
    gpu = [(x, y) for x, y in _loader(batch_size=10, seed=2, device="cuda").epoch(3)]
    assert all(x.is_cuda and x.dtype == torch.uint8 for x, _ in gpu)
    assert all(torch.equal(a, b.cpu()) for a, (_, b) in zip(cpu, gpu))


# --- the real CIFAR-10 tarball next to the repo (skipped when absent) ---------------------

@pytest.mark.slow
@pytest.mark.skipif(not SHARED_TARBALL.is_file(), reason=f"{SHARED_TARBALL} not present")
def test_shared_cifar10_tarball(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)  # cache into tmp, not the repo
    x, y = data.load("cifar10", "train", root=SHARED_TARBALL, download=False)
    xt, yt = data.load("cifar10", "test", download=False)  # from the cache just written
    assert x.shape == (50000, 3, 32, 32) and xt.shape == (10000, 3, 32, 32)
    assert y.bincount().tolist() == [5000] * 10 and yt.bincount().tolist() == [1000] * 10
