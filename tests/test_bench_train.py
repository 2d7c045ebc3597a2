import json
import math

import pytest
import torch

from sslkit import train
from sslkit.tools.bench import bench_train, count_flops, format_bench, peak_tflops
from sslkit.tools.cli import main
from sslkit.config import resolve

TINY = dict(steps=2, batch_size=32, width=8, warmup=1, rounds=2, threads=1)


@pytest.mark.parametrize("workers", [0, 1])
def test_bench_train_measures_both_pipelines(workers):
    r = bench_train("fashion-mnist", device="cpu", workers=workers, **TINY)
    assert r["workers"] == workers and r["steps"] == 2 and r["rounds"] == 2
    assert len(r["sslkit_seconds"]) == len(r["reference_seconds"]) == 2
    for name in ("sslkit", "reference"):
        assert r[f"{name}_images_per_s"] > 0 and r[f"{name}_seconds_per_epoch"] > 0 and r[f"{name}_tflops"] > 0
        assert r[f"{name}_peak_fraction"] is None  # CPU: no peak table entry
        assert r[f"{name}_loss_finite"]
    assert r["ratio"] == pytest.approx(r["sslkit_images_per_s"] / r["reference_images_per_s"])
    assert r["steps_per_epoch"] == 60000 // 32 and r["flops_per_step"] > 0
    assert r["profile"] == "quick" and r["backbone"] == "convnet" and r["width"] == 8
    text = format_bench(r)
    assert "ratio sslkit / reference" in text and "images/s" in text and "n/a" in text


def test_flop_counter_counts_forward_and_backward():
    cfg = resolve("quick", width=8, device="cpu")
    counts = {}
    for dev in ("meta", "cpu"):
        model = train.build_model(cfg, dev)
        counts[dev] = count_flops(train.views_loss_fn(model, cfg, torch.device(dev)), model, 16, 1, [28, 28])
        assert all(p.grad is None for p in model.parameters())  # leaves no gradients behind
    assert counts["meta"] == counts["cpu"] > 0
    model = train.build_model(cfg, "meta")
    assert count_flops(train.views_loss_fn(model, cfg, torch.device("meta")), model, 32, 1, [28, 28]) > counts["meta"]


def test_peak_table():
    assert peak_tflops("cpu") is None


@pytest.mark.parametrize("kw,msg", [(dict(steps=0), "steps must be > 0"), (dict(workers=-1), "workers"),
                                    (dict(batch_size=100000), "larger than"),
                                    (dict(steps=300, rounds=1, batch_size=256), "one epoch")])
def test_bench_train_rejects_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        bench_train(**{**TINY, "workers": 0, **kw})


def test_command_line(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "train", "--device", "cpu", "--steps", "1", "--batch-size", "16", "--width", "8",
                 "--workers", "0", "--threads", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "training-step benchmark" in text and "ratio sslkit / reference" in text
    result = json.loads(out.read_text())
    assert result["batch_size"] == 16 and result["ratio"] > 0


@pytest.mark.cuda
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_sslkit_steps_on_cuda_never_sync(optimizer):
    """pretrain's step on CUDA (bf16 autocast, channels_last): no host sync inside a step; the loss is
    read back once at the end."""
    from sslkit.data import DeviceLoader, load

    cfg = resolve("full", dataset="fashion-mnist", backbone="convnet", width=8, batch_size=64, optimizer=optimizer,
                  device="cuda")
    dev = torch.device("cuda")
    model = train.build_model(cfg, dev)
    assert cfg.amp and cfg.channels_last
    assert model.encoder.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    opt = train.build_optimizer(model, cfg)
    views_loss = train.views_loss_fn(model, cfg, dev)
    views = model.views("fashion-mnist")
    x, _ = load("fashion-mnist", "train")
    loader = DeviceLoader(x[:1024], None, batch_size=64, device=dev, seed=0)
    batches = loader.epoch(0)  # the epoch's order is copied to the device here, before the steps

    def step(i):
        xb, _ = next(batches)
        g = train.step_generator(cfg.seed, i, dev)
        loss = views_loss(views(xb, generator=g), g)
        train.optimizer_step(model, opt, loss, i, 100)
        return loss.detach()

    step(0)  # first call: per-device constants, cuDNN / cuBLAS handles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [step(i) for i in range(1, 6)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    values = torch.stack(losses).tolist()  # the only read-back
    assert all(math.isfinite(v) for v in values)
    assert losses[0].dtype == torch.float32


@pytest.mark.cuda
def test_bench_train_on_cuda():
    r = bench_train("fashion-mnist", device="cuda", backbone="convnet", steps=2, batch_size=64, width=8,
                    workers=1, warmup=1)
    assert r["profile"] == "full" and r["amp_bf16"] and r["channels_last"]
    assert r["sslkit_images_per_s"] > 0 and r["reference_images_per_s"] > 0 and r["sslkit_loss_finite"]
    if "H200" in torch.cuda.get_device_name() or "H100" in torch.cuda.get_device_name():
        assert r["sslkit_peak_fraction"] is not None


@pytest.mark.parametrize("method", ["byol", "mae", "dcgan", "relative-position", "dino"])
def test_bench_train_times_other_methods(method):
    """`bench train --method M` times M's steps in both pipelines (FLOPs counted for M's passes)."""
    r = bench_train("fashion-mnist", device="cpu", workers=0, method=method, **TINY)
    assert r["method"] == method and r["sslkit_loss_finite"] and r["reference_loss_finite"]
    cfg = resolve("quick", width=TINY["width"], device="cpu")  # SimCLR, same network and batch
    simclr = train.build_model(cfg, "meta")
    simclr_flops = count_flops(train.views_loss_fn(simclr, cfg, torch.device("meta")), simclr, TINY["batch_size"], 1,
                               [28, 28])
    assert r["flops_per_step"] > 0 and r["flops_per_step"] != simclr_flops
