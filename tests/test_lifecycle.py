"""sslkit.scenarios.lifecycle: LoRA, freezing, fine-tuning variants, prototypes, replay, continual-learning metrics."""
import numpy as np
import pytest
import torch
from torch import nn

from sslkit.config import resolve
from sslkit.scenarios.lifecycle import (LoRA, ReplayBuffer, adapt, add_lora, average_accuracy, backward_transfer,
                              class_incremental_tasks, continual_learning, count_parameters, few_shot, forgetting,
                              freeze, merge_lora, peft_encoder, prototype_predict, prototypes, variant_classifier)
from sslkit.models import ConvNet


def trained_like(module, seed=0):
    """Give BatchNorm non-trivial statistics and affine parameters, as a trained network has."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            for t in (m.weight, m.bias, m.running_mean):
                t.data = torch.randn(t.shape, generator=g)
            m.running_var.data = torch.rand(m.running_var.shape, generator=g) + 0.5
    return module.eval()


# ------------------------------------------------------------------------------------------ LoRA

@pytest.mark.parametrize("base", [nn.Linear(12, 7), nn.Conv2d(3, 8, 3, stride=2, padding=1),
                                  nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False)], ids=["linear", "conv", "grouped"])
def test_lora_equals_base_at_init_and_trains_only_a_b(base):
    torch.manual_seed(0)
    layer = LoRA(base, rank=2, alpha=4)
    x = torch.randn(5, 12) if isinstance(base, nn.Linear) else torch.randn(5, base.in_channels, 9, 9)
    assert torch.equal(layer(x), base(x))
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["lora_A", "lora_B"]
    out_dim, fan_in = base.weight.shape[0], base.weight[0].numel()
    assert count_parameters(layer) == 2 * (fan_in + out_dim)
    assert torch.all(layer.lora_B == 0) and layer.lora_A.abs().sum() > 0
    # the base weight is a buffer: even asking for gradients everywhere leaves it frozen
    layer.requires_grad_(True)
    layer(x).sum().backward()
    assert layer.lora_A.grad is not None and layer.lora_B.grad is not None
    assert not layer.base.weight.requires_grad and layer.base.weight.grad is None


@pytest.mark.parametrize("base", [nn.Linear(12, 7), nn.Conv2d(3, 8, 3, stride=2, padding=1)], ids=["linear", "conv"])
def test_lora_merged_layer_equals_wrapped_forward(base):
    torch.manual_seed(1)
    layer = LoRA(base, rank=3, alpha=6)
    with torch.no_grad():
        layer.lora_B.normal_()  # an adapter that has moved away from zero
    x = torch.randn(4, 12) if isinstance(base, nn.Linear) else torch.randn(4, 3, 10, 10)
    merged = layer.merge()
    assert type(merged) is type(base)
    delta = layer.scale * (layer.lora_B @ layer.lora_A).view(base.weight.shape)
    torch.testing.assert_close(merged.weight, base.weight + delta)
    torch.testing.assert_close(merged(x), layer(x))
    assert not torch.allclose(layer(x), base(x))  # the adapter does change the function


def test_lora_bad_arguments():
    with pytest.raises(ValueError, match="wraps nn.Linear or nn.Conv2d"):
        LoRA(nn.BatchNorm2d(3))
    with pytest.raises(ValueError, match="rank must be > 0"):
        LoRA(nn.Linear(3, 3), rank=0)
    with pytest.raises(ValueError, match="exceeds"):
        LoRA(nn.Linear(3, 3), rank=4)


def test_add_and_merge_lora_on_a_network():
    torch.manual_seed(0)
    net = trained_like(ConvNet(1, width=4))
    x = torch.randn(3, 1, 28, 28)
    ref = net(x)
    add_lora(net, rank=2)
    assert sum(isinstance(m, LoRA) for m in net.modules()) == 4
    torch.testing.assert_close(net(x), ref)
    for m in net.modules():
        if isinstance(m, LoRA):
            m.lora_B.data.normal_()
    adapted = net(x)
    merge_lora(net)
    assert not any(isinstance(m, LoRA) for m in net.modules())
    torch.testing.assert_close(net(x), adapted, rtol=1e-4, atol=1e-5)


# -------------------------------------------------------------------------------------- freezing

def test_freeze_turns_parameters_into_buffers_with_the_same_keys():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    keys = set(net.state_dict())
    x = torch.randn(5, 3)
    ref = net(x)
    kept = freeze(net, keep=lambda name, p: name.startswith("2."))
    assert kept == ["2.weight", "2.bias"]
    assert [n for n, _ in net.named_parameters()] == ["2.weight", "2.bias"]
    assert set(net.state_dict()) == keys
    torch.testing.assert_close(net(x), ref)


def test_batchnorm_variant_trains_exactly_the_batchnorm_affine_parameters():
    enc = trained_like(ConvNet(1, width=4))
    bn = peft_encoder(enc, "batchnorm")
    expected = {f"features.{i}.1.{p}" for i in range(4) for p in ("weight", "bias")}
    assert {n for n, _ in bn.named_parameters()} == expected
    assert count_parameters(bn) == 2 * (4 + 8 + 16 + 32)
    assert count_parameters(enc) > count_parameters(bn)  # the original is untouched (a copy was made)
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(bn.eval()(x), enc(x))


def test_lora_variant_freezes_batchnorm_statistics_and_weights():
    enc = trained_like(ConvNet(1, width=4))
    lo = peft_encoder(enc, "lora", rank=2)
    names = {n for n, _ in lo.named_parameters()}
    assert names and all(n.endswith(("lora_A", "lora_B")) for n in names)
    x = torch.randn(8, 1, 28, 28)
    before = {k: v.clone() for k, v in lo.state_dict().items()}
    lo.train()(x)  # a training-mode forward must not move any statistic
    assert all(torch.equal(before[k], v) for k, v in lo.state_dict().items())
    torch.testing.assert_close(lo(x), enc.eval()(x))  # equal to the base at init, in train mode too


@pytest.mark.parametrize("variant", ["head", "batchnorm", "lora", "last-block"])
def test_adapt_moves_only_the_trainable_part(variant):
    torch.manual_seed(0)
    enc = trained_like(ConvNet(1, width=4))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.arange(64) % 4
    cfg = resolve("quick", width=4, device="cpu", channels_last=False)
    out = adapt(enc, variant, x, y, cfg, steps=3, batch_size=16, num_classes=4)
    model = out["model"]
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert out["trainable_params"] == count_parameters(model)
    assert {"head.weight", "head.bias"} <= trained
    assert out["trainable_params"] == count_parameters(variant_classifier(enc, variant, 4))
    if variant == "head":
        assert trained == {"head.weight", "head.bias"}
    start = enc.state_dict()
    for name, t in model.encoder.state_dict().items():
        before = start.get(name.replace(".base.", "."))  # a LoRA layer keeps the base weights under .base
        moved = before is None or not torch.equal(t, before)
        trains = f"encoder.{name}" in trained
        if variant == "lora":
            assert moved == trains, name  # nothing frozen moves, not even BatchNorm statistics
        elif trains:
            assert moved, name


# -------------------------------------------------------------------------------------- few-shot

def test_prototypes_classify_a_separable_set():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    y = torch.arange(3).repeat_interleave(20)
    f = centres[y] + 0.5 * torch.randn(60, 3, generator=g)
    support = torch.tensor([0, 20, 40, 1, 21, 41])
    assert torch.equal(prototype_predict(f[support], y[support], f), y)
    protos = prototypes(f[support], y[support])
    torch.testing.assert_close(protos.norm(dim=1), torch.ones(3))
    assert prototypes(f, y).argmax(1).tolist() == [0, 1, 2]


def test_prototypes_centre_and_errors():
    # two classes along one ray: only centring tells them apart by cosine
    f = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    y = torch.tensor([0, 0, 1, 1])
    centre = f.mean(0)
    assert torch.equal(prototype_predict(f, y, f, center=centre), y)
    with pytest.raises(ValueError, match="no support example for class"):
        prototypes(f[:2], torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="must match"):
        prototypes(f, y[:3])


def test_few_shot_returns_one_accuracy_per_seed():
    y = torch.arange(4).repeat(10)
    f = nn.functional.one_hot(y, 4).float() + 0.01
    res = few_shot(f, y, f, y, ks=(1, 3), seeds=range(3))
    assert list(res) == [1, 3] and all(len(v) == 3 for v in res.values())
    assert all(a == 1.0 for v in res.values() for a in v)


# ----------------------------------------------------------------------------- continual learning

def test_forgetting_and_average_accuracy_on_a_hand_made_matrix():
    R = np.array([[0.9, 0.0, 0.0],
                  [0.5, 0.8, 0.0],
                  [0.3, 0.6, 0.7]])
    assert average_accuracy(R) == pytest.approx((0.3 + 0.6 + 0.7) / 3)
    # task 0: best 0.9, now 0.3 -> 0.6; task 1: best 0.8, now 0.6 -> 0.2
    assert forgetting(R) == pytest.approx((0.6 + 0.2) / 2)
    assert backward_transfer(R) == pytest.approx(((0.3 - 0.9) + (0.6 - 0.8)) / 2)
    # forgetting uses the best accuracy before the end, not the one just after learning the task
    R2 = np.array([[0.5, 0.0, 0.0], [0.9, 0.9, 0.0], [0.6, 0.9, 0.8]])
    assert forgetting(R2) == pytest.approx((0.3 + 0.0) / 2)
    assert backward_transfer(R2) == pytest.approx((0.1 + 0.0) / 2)
    assert forgetting([[0.5, 0.0], [0.9, 0.9]]) == pytest.approx(-0.4)  # later training improved the task
    assert forgetting([[0.7]]) == 0.0
    with pytest.raises(ValueError, match="square"):
        forgetting(np.zeros((2, 3)))


def test_class_incremental_tasks():
    assert class_incremental_tasks(10, 2) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    shuffled = class_incremental_tasks(6, 3, seed=1)
    assert sorted(c for t in shuffled for c in t) == list(range(6)) and len(shuffled) == 2
    with pytest.raises(ValueError, match="do not split"):
        class_incremental_tasks(10, 3)


def test_replay_buffer_reservoir_keeps_its_size_and_the_stream_proportions():
    buf = ReplayBuffer(200, seed=0)
    for task in range(5):  # 5 tasks x 2 classes, 1,000 examples each, in order
        for _ in range(10):
            y = torch.full((100,), 2 * task) + torch.arange(100) % 2
            buf.add(y.view(-1, 1, 1, 1).to(torch.uint8), y)
            assert len(buf) == min(buf.seen, 200)
    assert buf.seen == 5000 and len(buf) == 200
    assert torch.equal(buf.images.view(-1).long(), buf.labels)  # images stay paired with their labels
    counts = torch.bincount(buf.labels, minlength=10)
    assert counts.sum() == 200 and counts.min() >= 5  # every class survives; expected 20 each
    x, y = buf.sample(50, torch.Generator().manual_seed(0))
    assert x.shape == (50, 1, 1, 1) and torch.equal(x.view(-1).long(), y)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(3).sample(1)


def test_replay_buffer_uniform_over_the_stream():
    # each of 1,000 streamed items should be kept with probability 100/1000; average over repeats
    kept = torch.zeros(1000)
    for s in range(40):
        buf = ReplayBuffer(100, seed=s)
        items = torch.arange(1000)
        buf.add(items.view(-1, 1), items)
        kept[buf.labels] += 1
    first, last = kept[:500].mean() / 40, kept[500:].mean() / 40
    assert abs(first - 0.1) < 0.02 and abs(last - 0.1) < 0.02


def test_continual_learning_matrices():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat(32)
    x = (torch.rand(len(y), 1, 28, 28, generator=g) * 60).to(torch.uint8)
    x[:, :, :14][y < 2] += 150  # a learnable difference between the tasks
    cfg = resolve("quick", width=4, device="cpu", channels_last=False)
    tasks = class_incremental_tasks(4, 2)
    out = continual_learning(ConvNet(1, width=4), x, y, x, y, tasks, cfg, steps_per_task=2, batch_size=16,
                             replay=20, progress=False)
    for key in ("class_il", "task_il"):
        R = out[key]
        assert R.shape == (2, 2) and ((0 <= R) & (R <= 1)).all()
    assert (out["task_il"] >= out["class_il"] - 1e-9).all()  # fewer candidates can only help
    assert len(out["buffer"]) == 20 and out["buffer"].seen == 2 * 2 * 16
    with pytest.raises(ValueError, match="distinct classes"):
        continual_learning(ConvNet(1, width=4), x, y, x, y, [(0, 1), (1, 2)], cfg, progress=False)


# ------------------------------------------------------------------------------ notebook 09 checks

def test_exercise_checks_accept_right_and_reject_wrong_answers():
    from sslkit.teach.exercises import ExerciseError, check_forgetting, check_lora_parameter_count, check_nearest_class_mean

    assert check_lora_parameter_count(lambda layer, r: count_parameters(LoRA(layer, r)))
    with pytest.raises(ExerciseError, match="fan_in"):
        check_lora_parameter_count(lambda layer, r: r * (layer.weight.shape[1] + layer.weight.shape[0]))
    assert check_nearest_class_mean(lambda s, y, q: prototype_predict(s, y, q))
    with pytest.raises(ExerciseError, match="normalise"):
        check_nearest_class_mean(lambda s, y, q: torch.cdist(q, torch.stack([s[y == c].mean(0) for c in range(3)])).argmax(1))
    assert check_forgetting(forgetting)
    with pytest.raises(ExerciseError, match="best accuracy"):
        check_forgetting(backward_transfer)
