import json

import pytest

from sslkit.tools.results import SCHEMA, build_result, load_results, main, results_table, slug, write_result

CONFIG = {"dataset": "cifar10", "method": "simclr", "backbone": "resnet18", "epochs": 3, "width": 32,
          "device": "cuda"}
HISTORY = {"kind": "simclr", "config": CONFIG,
           "epochs": [{"epoch": 1, "seconds": 30.0, "loss": 6.0, "lr": 0.1, "images_per_s": 1e4},
                      {"epoch": 2, "seconds": 1.5, "loss": 5.5, "lr": 0.1, "images_per_s": 3e4},
                      {"epoch": 3, "seconds": 1.4, "loss": 5.2, "lr": 0.0, "images_per_s": 3e4, "knn_acc": 0.61}],
           "steps": []}
METRICS = {"knn_acc": 0.6234, "linear_probe_acc": 0.7012, "pretrain_seconds": 42.0}
ENV = {"gpu": "NVIDIA H200", "torch": "2.11.0", "cpu": "x", "cpu_threads": 16}


def test_slug():
    assert slug("NVIDIA H200") == "nvidia-h200"
    assert slug("  A/B  c ") == "a-b-c"


def test_build_result_fields():
    r = build_result(history=HISTORY, metrics=METRICS, command="bash scripts/gpu_check.sh", env=ENV,
                     bench={"device": "cuda", "ratio": 6.0})
    assert r["schema"] == SCHEMA and r["dataset"] == "cifar10" and r["epochs"] == 3
    assert r["seconds_per_epoch"] == pytest.approx(1.45)  # the first epoch (compilation) is left out
    assert r["first_epoch_seconds"] == 30.0 and r["pretrain_seconds"] == 42.0
    assert [e["seconds"] for e in r["per_epoch"]] == [30.0, 1.5, 1.4]
    assert r["knn_acc"] == 0.6234 and r["hardware"] == "NVIDIA H200" and r["bench"]["ratio"] == 6.0
    with pytest.raises(ValueError, match="config"):
        build_result(history={}, env=ENV)
    with pytest.raises(ValueError, match="overwrite"):
        build_result(history=HISTORY, env=ENV, extra={"knn_acc": 1.0})


def test_table_renders_only_from_files(tmp_path):
    assert results_table(tmp_path) == ""
    assert results_table(tmp_path / "missing") == ""
    (tmp_path / "other.json").write_text(json.dumps({"not": "a result"}))
    assert results_table(tmp_path) == ""
    p1 = write_result(tmp_path, history=HISTORY, metrics=METRICS, command="bash scripts/gpu_check.sh", env=ENV)
    p2 = write_result(tmp_path, history=HISTORY, metrics=METRICS, command="bash scripts/gpu_check.sh", env=ENV)
    assert p1.name.endswith("-nvidia-h200.json") and p2.name.endswith("-nvidia-h200-2.json")  # never overwritten
    table = results_table(tmp_path)
    lines = table.splitlines()
    assert lines[0] == "| dataset | model | epochs | kNN | linear probe | time | GPU | command |"
    assert len(lines) == 4
    assert lines[2] == ("| cifar10 | SimCLR, ResNet-18 | 3 | 0.623 | 0.701 | 42 s (1.45 s/epoch) | NVIDIA H200 "
                        "| `bash scripts/gpu_check.sh` |")
    assert len(load_results(tmp_path)) == 2


def test_table_marks_unfinished_runs_and_cpu(tmp_path):
    hist = {**HISTORY, "config": {**CONFIG, "epochs": 200, "backbone": "convnet"}}
    write_result(tmp_path, history=hist, metrics={}, env={"cpu": "AMD EPYC", "cpu_threads": 2})
    row = results_table(tmp_path).splitlines()[2]
    assert "| 3 of 200 |" in row and "ConvNet (width 32)" in row and "CPU: AMD EPYC (2 threads)" in row
    assert "| – | – |" in row  # no accuracies measured


def test_bad_json_is_an_error(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json"):
        results_table(tmp_path)


def test_command_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text(json.dumps(HISTORY))
    (run / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "bench.json").write_text(json.dumps({"device": "cpu", "ratio": 2.0}))
    out = tmp_path / "results"
    assert main(["write", "--run", str(run), "--bench", str(tmp_path / "bench.json"), "--command", "make x",
                 "--dir", str(out), "--set", "tests_rc", "0", "--set", "note", "dry run"]) == 0
    path = capsys.readouterr().out.strip()
    record = json.loads(open(path).read())
    assert record["tests_rc"] == 0 and record["note"] == "dry run" and record["versions"]["torch"]
    assert record["device"] == "cpu" and "-cpu" in path
    assert main(["table", str(out)]) == 0
    assert "`make x`" in capsys.readouterr().out
    assert main(["write", "--run", str(tmp_path / "nothing"), "--dir", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
