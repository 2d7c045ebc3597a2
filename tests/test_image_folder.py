"""Your own images: folders as people have them, the augmentation that follows them, and the arc on them.

Every folder here is written by the test (small PNG / JPEG files), so the real reading code runs.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sslkit.train as train
from sslkit import data, image_folder
from sslkit.augment import for_dataset, recipe
from sslkit.config import resolve
from sslkit.tools.cli import main

REPO = Path(__file__).resolve().parent.parent


def write(path: Path, side=16, mode="L", seed=0, fmt=None, pattern=None):
    """A small image: noise, or a class pattern (a bright bar whose position is the class) plus noise."""
    rng = np.random.default_rng(seed)
    shape = (side, side) if mode == "L" else (side, side, 3)
    a = rng.integers(0, 60, shape)
    if pattern is not None:
        a[pattern * side // 4:(pattern + 1) * side // 4] += 180
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a.astype(np.uint8), mode).save(path, format=fmt)
    return path


def labelled(root: Path, classes=3, train=40, test=12, side=16, mode="L", ext=".png"):
    for split, n in (("train", train), ("test", test)):
        for c in range(classes):
            for i in range(n):
                write(root / split / f"class{c}" / f"{i}{ext}", side, mode, seed=1000 * c + i + (split == "test"),
                      pattern=c)
    return root


# ------------------------------------------------------------------------------------ reading

def test_grayscale_folder_loads_as_one_channel_with_its_own_statistics(tmp_path):
    root = labelled(tmp_path / "gray", side=20)
    x, y = data.load("image-folder", "train", root=root)
    assert x.shape == (120, 1, 20, 20) and x.dtype == torch.uint8 and y.bincount().tolist() == [40, 40, 40]
    spec = data.describe("image-folder", root)
    assert (spec.size, spec.channels, spec.num_classes) == (20, 1, 3)
    assert spec.mean[0] == pytest.approx(x.double().mean().item() / 255, abs=1e-3)  # from the images themselves
    assert "120 of its images" in spec.stats and "grayscale" in spec.summary()
    assert data.class_names("image-folder", root) == ["class0", "class1", "class2"]


@pytest.mark.parametrize("side, channels, blur, name", [(20, 1, 0.0, "small"), (32, 3, 0.0, "small"),
                                                         (48, 3, 0.5, "medium"), (160, 3, 0.5, "large")])
def test_the_augmentation_follows_the_images(tmp_path, side, channels, blur, name):
    root = tmp_path / "f"
    for c in range(2):
        for i in range(3):
            write(root / "train" / f"c{c}" / f"{i}.jpg", side, "L" if channels == 1 else "RGB", seed=i + 10 * c)
    aug = for_dataset("image-folder", root=root)
    assert (aug.size, aug.channels, aug.blur_p) == (side, channels, blur)  # its own size: never upsampled to 224
    assert recipe("image-folder", root)[0].startswith(name)
    if channels == 1:
        assert aug.jitter[2:] == (0.0, 0.0) and aug.gray_p == 0.0  # no saturation / hue / grayscale for gray images
    assert for_dataset("image-folder", root=root).crop_scale[0] == (0.2 if side <= 32 else 0.08)
    out = aug(data.load("image-folder", "train", root=root)[0], generator=torch.Generator().manual_seed(0))
    assert out.shape == (6, channels, side, side)


def test_image_size_resizes_a_mixed_folder_and_the_views_follow(tmp_path):
    root = tmp_path / "mixed"
    write(root / "train" / "a" / "0.png", 20)
    write(root / "train" / "b" / "0.png", 30)
    with pytest.raises(ValueError, match="2 different sizes.*size=.*--image-size"):
        data.load("image-folder", "train", root=root)
    x, _ = data.load("image-folder", "train", root=root, size=24)
    assert x.shape == (2, 1, 24, 24)
    assert data.describe("image-folder", root, 24).size == 24


def test_unlabelled_folders_pretrain_and_evaluation_is_skipped(tmp_path, capsys):
    loose = tmp_path / "loose"
    for i in range(40):
        write(loose / "train" / f"{i}.png", 16, seed=i)
    x, y = data.load("image-folder", "train", root=loose)
    assert x.shape == (40, 1, 16, 16) and (y == -1).all()
    assert data.describe("image-folder", loose).num_classes is None
    only = tmp_path / "only-unlabelled"
    for i in range(40):
        write(only / "unlabelled" / "batch1" / f"{i}.png", 16, seed=i)
    assert data.pretraining_split("image-folder", only) == "unlabelled"
    out = tmp_path / "run"
    code = main(["pretrain", "--dataset", "image-folder", "--data-dir", str(only), "--width", "4", "--batch-size",
                 "16", "--max-steps", "2", "--device", "cpu", "--no-progress", "--out", str(out)])
    assert code == 0 and (out / "checkpoint.pt").exists()
    assert "evaluation skipped: image-folder has no labelled train or test split" in capsys.readouterr().out


@pytest.mark.parametrize("build, message", [
    (lambda r: [write(r / "train" / "only" / f"{i}.png") for i in range(3)], "one class folder \\('only'\\)"),
    (lambda r: ([write(r / "train" / c / "0.png") for c in "ab"], (r / "train" / "c").mkdir()),
     "class folder\\(s\\) train/c hold no images"),
    (lambda r: ([write(r / "train" / c / "0.png") for c in "ab"], write(r / "test" / "z" / "0.png")),
     "test/ has class\\(es\\) z that the training classes \\(a, b\\) lack"),
    (lambda r: ([write(r / "train" / c / "0.png") for c in "ab"], write(r / "train" / "loose.png")),
     "train/ mixes class folders \\(a, b\\) with 1 loose images"),
])
def test_layout_errors_come_before_any_work(tmp_path, build, message):
    root = tmp_path / "bad"
    build(root)
    with pytest.raises(image_folder.FolderLayoutError, match=message):
        data.load("image-folder", "train", root=root)
    with pytest.raises(image_folder.FolderLayoutError, match=message):  # pretraining refuses before building
        train.pretrain(resolve("quick", dataset="image-folder", data_dir=str(root), width=4, batch_size=2,
                               max_steps=1, device="cpu"), progress=False)


def test_a_corrupt_image_is_named_and_can_be_skipped(tmp_path):
    root = tmp_path / "corrupt"
    for c in "ab":
        for i in range(4):
            write(root / "train" / c / f"{i}.jpg", fmt="JPEG", seed=i)
    (root / "train" / "a" / "cut.jpg").write_bytes((root / "train" / "a" / "0.jpg").read_bytes()[:200])
    (root / "train" / "b" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="notes.txt"), \
            pytest.raises(ValueError, match="cannot decode image .*cut.jpg.*skip_bad=True / --skip-bad-images"):
        data.load("image-folder", "train", root=root)
    with pytest.warns(UserWarning) as seen:
        x, y = data.load("image-folder", "train", root=root, skip_bad=True)
    assert len(x) == 8 and y.tolist() == [0] * 4 + [1] * 4
    messages = " ".join(str(w.message) for w in seen)
    assert "skipped 1 image(s) that do not decode, e.g." in messages and "cut.jpg" in messages
    assert "skipped 1 file(s)" in messages and "notes.txt" in messages  # a non-image file is named too


def test_missing_folder_and_root_say_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="needs root=.*--data-dir"):
        data.load("image-folder", "train")
    with pytest.raises(data.DatasetNotFoundError):
        data.load("image-folder", "train", root=tmp_path / "nope")
    (tmp_path / "x" / "val").mkdir(parents=True)
    with pytest.raises(image_folder.FolderLayoutError, match="no train/ or unlabelled/ folder"):
        data.describe("image-folder", tmp_path / "x")


# ------------------------------------------------------------------------------ training on it

def test_pretrain_on_a_folder_tells_the_setup_and_the_time(tmp_path, capsys):
    root = labelled(tmp_path / "gray", side=16)
    cfg = resolve("quick", dataset="image-folder", data_dir=str(root), width=4, batch_size=16, max_steps=6,
                  device="cpu", channels_last=False)
    result = train.pretrain(cfg)
    text = capsys.readouterr().out
    assert "data: 120 images of image-folder" in text and "16x16 grayscale images, 3 classes" in text
    assert "small-image recipe" in text and "6 steps of batch 16" in text
    assert "time: ~" in text and "steps left" in text and "s/step on this machine" in text
    assert result["method"].encoder.features[0][0].in_channels == 1  # one channel in: a grayscale folder


def test_a_long_cpu_run_gets_advice_without_refusing():
    cfg = resolve("quick", backbone="resnet18", device="cpu")
    spec = data.DataSpec("image-folder", 224, 3, (0.5,) * 3, (0.25,) * 3, 10, "test")
    note = train._pace_note(cfg, spec, torch.device("cpu"), seconds_per_step=30.0, steps_left=1000)
    assert note.startswith("time: ~8.3 h for the 1000 steps left")
    assert "--image-size 64" in note and "--backbone convnet" in note and "--max-steps" in note
    assert "long" not in train._pace_note(cfg, spec, torch.device("cpu"), 0.1, 100)


def test_the_cli_trains_evaluates_and_draws_neighbours_on_a_folder(tmp_path, capsys):
    root = labelled(tmp_path / "rgb", side=16, mode="RGB", ext=".jpg")
    out = tmp_path / "run"
    assert main(["pretrain", "--dataset", "image-folder", "--data-dir", str(root), "--width", "4", "--batch-size",
                 "16", "--max-steps", "3", "--device", "cpu", "--protocols", "knn,linear", "--no-progress",
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["knn_acc"] <= 1 and "random_init_linear_probe_acc" in metrics
    png = tmp_path / "neighbours.png"
    assert main(["neighbours", "--checkpoint", str(out / "checkpoint.pt"), "--out", str(png), "--queries", "3",
                 "-k", "4", "--device", "cpu"]) == 0
    assert png.stat().st_size > 1000 and "3 queries x 4 neighbours among 120 train images" in capsys.readouterr().out


def test_neighbour_browser_widget(tmp_path):
    from sslkit.teach.widgets import NeighbourBrowser

    x = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8)
    feats = torch.randn(12, 5)
    w = NeighbourBrowser(x, feats, torch.arange(12) % 3, ["a", "b", "c"], k=4)
    before = bytes(w.image.value)
    w.index.value = 7
    assert bytes(w.image.value) != before and w.image.format == "png"
    with pytest.raises(ValueError, match="as many feature rows as images"):
        NeighbourBrowser(x, feats[:3])


@pytest.mark.slow
def test_notebook_04_runs_on_an_image_folder(tmp_path):
    """The arc on your own images: notebook 04 top to bottom with dataset="image-folder" (small budgets)."""
    root = labelled(tmp_path / "mine", classes=3, train=40, test=14, side=16)
    out = tmp_path / "04.ipynb"
    params = ["-p", "dataset", "image-folder", "-p", "data_dir", str(root), "-p", "epochs", "1", "-p", "batch_size",
              "16", "-p", "width", "4", "-y", "zoo_methods: []", "-p", "tsne_points", "40", "-p", "threads", "1"]
    r = subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / "04_contrastive_pretraining.ipynb"),
                        str(out), "--cwd", str(tmp_path), "-k", "python3", "--no-progress-bar", *params],
                       capture_output=True, text=True, timeout=900,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    text = json.dumps(json.loads(out.read_text())["cells"])
    assert "image-folder" in text and "16x16 grayscale images, 3 classes" in text
