import csv

import pytest

from sslkit.tools.cli import main
from sslkit.tools.compare import RANDOM_INIT, compare, markdown_table
from sslkit.methods import METHODS

TINY = dict(width=8, batch_size=32, train_subset=256, proj_hidden=32, proj_dim=16, device="cpu",
            channels_last=False, log_every=1)


def test_compare_writes_one_row_per_method(tmp_path):
    result = compare("quick", max_steps=2, out=tmp_path, eval_train=300, eval_test=100, progress=False,
                     log=lambda *a: None, **TINY)
    names = [r["method"] for r in result["rows"]]
    assert names == [RANDOM_INIT, *METHODS]
    for name in ("results.md", "results.csv", "results.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"

    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert [r["method"] for r in rows] == names
    for r in rows[1:]:
        assert int(r["steps"]) == 2  # the same budget for everyone
        assert float(r["images_per_s"]) > 0 and float(r["pretrain_s"]) > 0
        for key in ("knn_acc", "linear_probe_acc", "linear_probe_k10_acc"):
            assert 0.0 <= float(r[key]) <= 1.0

    md = (tmp_path / "results.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + len(names)  # header + one row per method and random init
    assert "linear probe" in table[0] and "images/s" in table[0]
    assert "optimizer" not in table[0]  # quick: one recipe for all, said once above the table
    assert set(result["encoders"]) == set(METHODS)


def test_markdown_table_formats_missing_values():
    row = {"method": RANDOM_INIT, "family": "baseline", "steps": 0, "knn_acc": 0.51234, "linear_probe_acc": None,
           "linear_probe_k10_acc": 0.5, "pretrain_s": 0.0, "images_per_s": None, "final_loss": None}
    line = markdown_table([row]).splitlines()[-1]
    assert "0.512" in line and "| - |" in line


def test_compare_cli(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--methods", "simclr,rotation", "--max-steps", "2", "--width", "8", "--batch-size", "32",
                 "--train-subset", "256", "--eval-train", "300", "--eval-test", "100", "--protocols", "knn",
                 "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["method"] for r in rows] == [RANDOM_INIT, "simclr", "rotation"]
    assert "| simclr |" in capsys.readouterr().out


@pytest.mark.parametrize("args,msg", [
    (["--methods", "simclr,swav"], "unknown method 'swav'; valid methods: simclr"),
    (["--protocols", "svm"], "valid protocols"),
    (["--max-steps", "0"], "max_steps must be > 0"),
])
def test_compare_cli_rejects_bad_values_before_training(args, msg, tmp_path, capsys):
    assert main(["compare", "--device", "cpu", "--out", str(tmp_path), *args]) == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "results.md").exists()


def _stub_training(monkeypatch):
    """Replace pretraining and evaluation by stubs that record the configs; returns that list."""
    import sslkit.tools.compare as compare_module

    seen = {"cfgs": [], "data": []}

    def fake_pretrain(cfg, progress=True):
        seen["cfgs"].append(cfg)
        hist = {"steps": [{"step": cfg.max_steps or 1, "loss": 1.0}], "epochs": [{"seconds": 2.0}]}
        return {"method": compare_module.build_model(cfg), "history": hist, "config": cfg}

    def fake_evaluate(encoder, dataset, protocols, device=None, seed=0, data=None, **kw):
        seen["data"].append(tuple(len(d) for d in data))
        return {"knn_acc": 0.5, "linear_probe_acc": 0.5, "linear_probe_k10_acc": 0.5}

    monkeypatch.setattr(compare_module, "pretrain", fake_pretrain)
    monkeypatch.setattr(compare_module, "evaluate_encoder", fake_evaluate)
    return seen


def test_full_profile_trains_each_method_with_its_recipe(monkeypatch, tmp_path):
    """In `full` every method gets its class's full_recipe (the caller's overrides still win) and the
    same number of epochs; the table then shows each method's batch, optimiser and lr."""
    seen = _stub_training(monkeypatch)
    result = compare("full", methods="simclr,moco,simsiam,dcgan", dataset="fashion-mnist", backbone="convnet",
                     width=8, device="cpu", weight_decay=1e-4, eval_train=100, eval_test=50, out=tmp_path,
                     log=lambda *a: None, progress=False)
    cfgs = {c.method: c for c in seen["cfgs"]}
    assert (cfgs["simclr"].lr, cfgs["simclr"].temperature) == (0.24, 0.5)
    assert (cfgs["moco"].lr, cfgs["moco"].temperature) == (0.24, 0.1)
    assert (cfgs["simsiam"].lr, cfgs["simsiam"].proj_hidden) == (0.06, 2048)
    assert (cfgs["dcgan"].optimizer, cfgs["dcgan"].betas, cfgs["dcgan"].batch_size) == ("adamw", (0.5, 0.999), 128)
    assert {c.weight_decay for c in cfgs.values()} == {1e-4}    # the override beats the recipes
    assert {c.epochs for c in cfgs.values()} == {200}
    assert [r["lr"] for r in result["rows"][1:]] == [0.24, 0.24, 0.06, 2e-4]
    header = (tmp_path / "results.md").read_text().split("| method |")[1].splitlines()[0]
    assert "batch | optimizer | lr" in header


def test_quick_budget_defaults_and_capped_warmup(monkeypatch):
    """`compare --profile quick` alone: 100 steps of batch 128, width 16, warm-up <= 10 steps,
    evaluation on 5000 / 2000 images (the training and evaluation are stubbed here)."""
    seen = _stub_training(monkeypatch)
    result = compare("quick", methods="simclr,byol", device="cpu", log=lambda *a: None, progress=False)
    assert [r["method"] for r in result["rows"]] == [RANDOM_INIT, "simclr", "byol"]
    for cfg in seen["cfgs"]:
        assert (cfg.max_steps, cfg.batch_size, cfg.width) == (100, 128, 16)
        steps_per_epoch = 60000 // 128
        assert int(cfg.warmup_epochs * steps_per_epoch) <= 10
        assert cfg.epochs * steps_per_epoch >= 100
    assert set(seen["data"]) == {(5000, 5000, 2000, 2000)}
    assert result["rows"][1]["images_per_s"] == pytest.approx(100 * 128 / 2.0)
