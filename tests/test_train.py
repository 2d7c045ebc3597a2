import os
import signal

import pytest
import torch

import sslkit.train as train
from sslkit import finetune
from sslkit.config import resolve
from sslkit.io import CheckpointError, load_checkpoint


def tiny(tmp_path=None, **kw):
    """A run small enough for a unit test: 256 images, width 8, 8 steps per epoch."""
    base = dict(width=8, batch_size=32, train_subset=256, epochs=2, proj_hidden=32, proj_dim=16,
                log_every=1, device="cpu", channels_last=False, warmup_epochs=0.5)
    base.update(kw)
    if tmp_path is not None:
        base["out"] = str(tmp_path)
    return resolve("quick", **base)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_lr_schedule():
    assert train.lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert train.lr_at(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert train.lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert train.lr_at(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert train.lr_at(100, 100, 10, 1.0) == pytest.approx(0.0, abs=1e-12)


def test_lars_minimises_a_quadratic():
    w = torch.nn.Parameter(torch.ones(4, 4) * 3)
    opt = train.LARS([w], lr=1.0, eta=0.01)
    for _ in range(200):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    assert w.abs().max() < 1.0


def test_lars_trust_ratio_and_its_clipping():
    """A layer with a large weight and a tiny gradient: LARS scales the step by eta ||w|| / ||g|| (here 10);
    with clip the factor is capped at 1, i.e. plain SGD at lr."""
    def step(clip):
        w = torch.nn.Parameter(torch.full((2, 2), 10.0))
        opt = train.LARS([w], lr=0.1, momentum=0.0, eta=0.02, clip=clip)
        w.grad = torch.full((2, 2), 0.02)
        opt.step()
        return (10.0 - w.detach()).mean().item()

    assert step(clip=False) == pytest.approx(0.1 * 10 * 0.02, rel=1e-4)  # trust = 0.02 * 20 / 0.04 = 10
    assert step(clip=True) == pytest.approx(0.1 * 0.02, rel=1e-4)
    opt = train.build_optimizer(torch.nn.Linear(2, 2), resolve("quick", optimizer="lars", lars_eta=0.02,
                                                                 lars_clip=True))
    assert opt.param_groups[0]["eta"] == 0.02 and opt.param_groups[0]["clip"] is True


def test_step_budget():
    cfg = resolve("quick", batch_size=128)
    assert train.step_budget(cfg, 1000, 100) == {"max_steps": 100, "epochs": 15}  # 7 steps an epoch
    assert train.step_budget(cfg, 100, 10, warmup=0.1) == {"max_steps": 10, "epochs": 10, "warmup_epochs": 1.0}


def test_loss_falls(tmp_path):
    hist = train.pretrain(tiny(epochs=4), progress=False)["history"]
    losses = [s["loss"] for s in hist["steps"]]
    assert len(losses) == 32
    assert sum(losses[-6:]) / 6 < sum(losses[:6]) / 6 - 0.1
    assert [e["epoch"] for e in hist["epochs"]] == [1, 2, 3, 4]


def test_outputs_written(tmp_path):
    train.pretrain(tiny(tmp_path, epochs=1), progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 8 and state["kind"] == "simclr"
    assert (tmp_path / "history.json").exists()


def test_resume_after_kill_equals_uninterrupted(tmp_path, crash_at):
    full = train.pretrain(tiny(tmp_path / "full"), progress=False)

    # Simulate a crash in the middle of epoch 2: the process dies, nothing is saved after epoch 1.
    disarm = crash_at(12)
    with pytest.raises(SystemExit):
        train.pretrain(tiny(tmp_path / "cut"), progress=False)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 8
    disarm()
    resumed = train.pretrain(tiny(tmp_path / "cut"), resume=True, progress=False)
    assert_same(weights(full["method"]), weights(resumed["method"]))
    assert [s["loss"] for s in full["history"]["steps"]] == [s["loss"] for s in resumed["history"]["steps"]]


def test_ctrl_c_saves_mid_epoch_and_resume_is_exact(tmp_path, crash_at):
    full = train.pretrain(tiny(tmp_path / "full"), progress=False)
    disarm = crash_at(11, action=lambda: os.kill(os.getpid(), signal.SIGINT))  # honoured at the step's end
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
        train.pretrain(tiny(tmp_path / "cut"), progress=False)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 12
    disarm()
    resumed = train.pretrain(tiny(tmp_path / "cut"), resume=True, progress=False)
    assert_same(weights(full["method"]), weights(resumed["method"]))


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    train.pretrain(tiny(tmp_path, epochs=1), progress=False)
    good = load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(train.TrainingDivergedError, match="Lower the learning rate"):
        train.pretrain(tiny(tmp_path, epochs=3, lr=1e12), resume=True, progress=False)
    after = load_checkpoint(tmp_path / "checkpoint.pt")
    assert after["step"] == good["step"] == 8


def test_resume_refuses_other_architecture(tmp_path):
    train.pretrain(tiny(tmp_path, epochs=1), progress=False)
    with pytest.raises(CheckpointError, match="width=8 but this run has width=16"):
        train.pretrain(tiny(tmp_path, width=16), resume=True, progress=False)


def test_load_pretrained_roundtrip(tmp_path):
    res = train.pretrain(tiny(tmp_path, epochs=1), progress=False)
    model, cfg = train.load_pretrained(tmp_path / "checkpoint.pt")
    assert cfg.width == 8
    assert_same(weights(res["method"]), weights(model))


def test_supervised_baseline_learns(tmp_path):
    from sslkit.data import load

    cfg = tiny(epochs=6, train_subset=1024, batch_size=64, lr=3e-3)
    model = finetune.train_supervised(cfg, progress=False)["model"]
    x, y = load("fashion-mnist", "test")
    from sslkit.augment import for_dataset

    with torch.no_grad():
        acc = (model(for_dataset("fashion-mnist").normalize(x[:1000])).argmax(1) == y[:1000]).float().mean()
    assert acc > 0.5  # chance is 0.1
