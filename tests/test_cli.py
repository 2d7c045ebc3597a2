import json

import pytest

from sslkit.tools.cli import main

TINY = ["--width", "8", "--batch-size", "32", "--train-subset", "256", "--epochs", "1", "--device", "cpu",
        "--no-progress"]


def test_help_lists_every_choice(capsys):
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("fashion-mnist", "cifar10", "stl10", "digits", "image-folder", "simclr", "quick", "full",
                 "convnet", "resnet18", "--resume", "--out", "--max-steps"):
        assert word in out


@pytest.mark.parametrize("args,msg", [
    (["pretrain", "--profile", "huge"], "invalid choice: 'huge'"),
    (["pretrain", "--method", "clip"], "invalid choice: 'clip'"),
    (["pretrain", "--epochs", "ten"], "invalid int value"),
])
def test_argparse_rejects(args, msg, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and msg in capsys.readouterr().err


@pytest.mark.parametrize("args,msg", [
    (["--epochs", "-1"], "epochs must be > 0"),
    (["--batch-size", "100000"], "batch"),
    (["--protocols", "svm"], "valid protocols"),
    (["--lr", "0"], "lr must be > 0"),
])
def test_bad_values_fail_before_work(args, msg, capsys, tmp_path):
    assert main(["pretrain", *TINY[:-3], "--train-subset", "50000", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and not (tmp_path / "checkpoint.pt").exists()


def test_pretrain_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", *TINY, "--out", str(out), "--protocols", "knn,linear-k10"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("knn_acc", "linear_probe_k10_acc", "random_init_knn_acc", "random_init_linear_probe_k10_acc"):
        assert 0.1 < metrics[key] <= 1.0
    history = json.loads((out / "history.json").read_text())
    assert history["epochs"][0]["images_per_s"] > 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--protocols", "knn", "--device", "cpu",
                 "--out", str(tmp_path / "m.json")]) == 0
    again = json.loads((tmp_path / "m.json").read_text())
    assert again["knn_acc"] == pytest.approx(metrics["knn_acc"])


def test_evaluate_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "c.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--checkpoint", str(bad), "--device", "cpu"]) == 2
    assert "not a readable sslkit checkpoint" in capsys.readouterr().err
