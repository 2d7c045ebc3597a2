"""The method zoo and the pretext tasks: training smoke tests, collapse, exact resume, names everywhere, and
the method as the unit of extension (a new class is all a new method needs)."""
import inspect
import math

import pytest
import torch

import sslkit.train as train
from sslkit.augment import for_dataset
from sslkit.tools.cli import build_parser, main
from sslkit.config import resolve
from sslkit.data import load
from sslkit.evaluate import collapse_diagnostics
from sslkit.io import load_checkpoint
from sslkit.methods import (DCGAN, DINO, METHODS, MaskedAutoencoder, Method, MoCo, RelativePosition, Rotation, SimCLR,
                            SimSiam, build_method, cosine_momentum)
from sslkit.models import build_backbone
from test_train import tiny  # one tiny run for every loop test: 256 images, width 8, 8 steps/epoch


def small_queue(monkeypatch, size=64):
    """MoCo with a queue of one step's keys: its loss is then comparable from step 2 on (a fresh
    queue of random vectors holds easy negatives, so with 4096 slots the loss first RISES while the
    queue fills with real keys)."""
    real = MoCo.config_hparams.__func__
    monkeypatch.setattr(MoCo, "config_hparams", classmethod(lambda cls, cfg: {**real(cls, cfg), "queue_size": size}))


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ------------------------------------------------------------------------------ smoke per method

# DCGAN's and DINO's losses do not fall steadily: a GAN's tracks the game; DINO's is the cross-entropy to a
# teacher that sharpens as it learns. They have their own tests below.
@pytest.mark.parametrize("name", [m for m in METHODS if m not in ("dcgan", "dino")])
def test_a_few_steps_lower_the_loss(name, monkeypatch):
    if name == "moco":
        small_queue(monkeypatch)
    res = train.pretrain(tiny(method=name, epochs=4), progress=False)
    losses = [s["loss"] for s in res["history"]["steps"]]
    assert len(losses) == 32 and all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[1:7]) / 6, sum(losses[-6:]) / 6
    assert last < first - 0.02 * abs(first), (name, first, last)
    assert all(torch.isfinite(p).all() for p in res["method"].parameters())


def test_dcgan_trains_both_networks_without_nan():
    res = train.pretrain(tiny(method="dcgan", epochs=2), progress=False)
    model = res["method"]
    init = train.build_model(tiny(method="dcgan"))
    losses = [s["loss"] for s in res["history"]["steps"]]
    assert all(torch.isfinite(torch.tensor(losses)))
    for part in ("encoder", "generator", "disc_head"):
        a, b = getattr(model, part).state_dict(), getattr(init, part).state_dict()
        assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point()), part
    assert set(model.last_losses) == {"d", "g"}


def test_dcgan_each_network_gets_only_its_own_gradient():
    """loss_d + loss_g in one backward == the two separate updates of a two-optimiser GAN."""
    torch.manual_seed(0)
    m = DCGAN(build_backbone("convnet", 1, width=8), image_size=28, channels=1, mean=(0.3,), std=(0.35,))
    x = torch.randn(16, 1, 28, 28)
    m(x, generator=torch.Generator().manual_seed(1)).backward()
    got = {n: p.grad.clone() for n, p in m.named_parameters()}

    m.zero_grad()
    fake = m.sample(16, torch.Generator().manual_seed(1))
    ones = torch.ones(16)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    (bce(m.discriminate(x), ones) + bce(m.discriminate(fake.detach()), 0 * ones)).backward()  # D's step
    d_grads = {n: p.grad.clone() for n, p in m.named_parameters() if not n.startswith("generator.")}
    m.zero_grad()
    for n, p in m.named_parameters():
        p.requires_grad_(n.startswith("generator."))
    bce(m.discriminate(m.sample(16, torch.Generator().manual_seed(1))), ones).backward()  # G's step
    for n, p in m.named_parameters():
        want = p.grad if n.startswith("generator.") else d_grads[n]
        assert torch.allclose(got[n], want, atol=1e-5, rtol=1e-4), n


# ---------------------------------------------------------------------------------- collapse

def test_collapse_diagnostics_extremes():
    g = torch.Generator().manual_seed(0)
    healthy = collapse_diagnostics(torch.randn(2000, 64, generator=g))
    assert healthy["std"] == pytest.approx(1 / 64 ** 0.5, rel=0.05)
    assert healthy["effective_rank"] > 55
    point = collapse_diagnostics(torch.ones(100, 64) + 1e-6 * torch.randn(100, 64, generator=g))
    assert point["std"] < 1e-4 and point["effective_rank"] < 1.01
    line = collapse_diagnostics(torch.randn(500, 1, generator=g) @ torch.randn(1, 64, generator=g))
    assert line["effective_rank"] < 1.01  # two antipodal directions: rank 1
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        collapse_diagnostics(torch.ones(1, 4))


def _train_simsiam(stop_gradient: bool, steps: int = 100):
    torch.manual_seed(0)
    x, _ = load("fashion-mnist", "train")
    x = x[:512]
    aug = for_dataset("fashion-mnist")
    m = SimSiam(build_backbone("convnet", 1, width=8), proj_hidden=64, stop_gradient=stop_gradient)
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for step in range(steps):
        b = x[(step * 64) % 512:][:64]
        loss = m(aug(b, generator=g), aug(b, generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    m.eval()
    with torch.no_grad():
        z = m.projector(m.encoder(aug.normalize(x)))
    return sum(losses[-10:]) / 10, collapse_diagnostics(z)


def test_simsiam_without_stop_gradient_collapses():
    loss_sg, healthy = _train_simsiam(True)
    loss_no, collapsed = _train_simsiam(False)
    # Without sg the loss runs towards its minimum -1 ...
    assert loss_no < loss_sg - 0.03
    # ... by squeezing the embeddings into a few directions. (SimSiam's projector ends in a
    # BatchNorm, which keeps every dimension's batch variance at 1, so the collapse shows as a
    # loss of effective rank rather than as a zero std.)
    assert collapsed["effective_rank"] < 0.65 * healthy["effective_rank"], (collapsed, healthy)


# ------------------------------------------------------------------------------- exact resume

@pytest.mark.parametrize("name", ["byol", "moco", "dino"])
def test_resume_after_kill_equals_uninterrupted(name, tmp_path, monkeypatch, crash_at):
    if name == "moco":
        small_queue(monkeypatch, size=96)  # wraps around mid-run: the pointer must resume too
    full = train.pretrain(tiny(tmp_path / "full", method=name), progress=False)
    state = full["method"].state_dict()
    extra = {"byol": ("target_encoder.", "target_projector."), "moco": ("key_encoder.", "key_projector.", "queue"),
             "dino": ("teacher_encoder.", "teacher_head.", "center")}
    for prefix in extra[name]:
        assert any(k.startswith(prefix) for k in state), prefix  # EMA nets and queue are in the checkpoint

    disarm = crash_at(12)
    with pytest.raises(SystemExit):
        train.pretrain(tiny(tmp_path / "cut", method=name), progress=False)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 8
    disarm()
    resumed = train.pretrain(tiny(tmp_path / "cut", method=name), resume=True, progress=False)
    assert_same(weights(full["method"]), weights(resumed["method"]))
    assert [s["loss"] for s in full["history"]["steps"]] == [s["loss"] for s in resumed["history"]["steps"]]


def test_byol_target_follows_the_cosine_schedule():
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_momentum(100, 100, 0.99) == pytest.approx(1.0)
    torch.manual_seed(0)
    m = build_method("byol", build_backbone("convnet", 1, width=8), proj_hidden=16, proj_dim=8)
    online = [p.detach().clone() for p in m.encoder.parameters()]
    with torch.no_grad():
        for p in m.encoder.parameters():
            p.add_(1.0)
    m.on_step(0, 100)  # tau = 0.99: target moves 1 % of the way
    for t, o in zip(m.target_encoder.parameters(), online):
        assert torch.allclose(t, o + 0.01)
    assert not any(p.requires_grad for p in m.target_encoder.parameters())


def test_moco_queue_is_a_fifo_of_normalised_keys():
    torch.manual_seed(0)
    m = MoCo(build_backbone("convnet", 1, width=8), proj_hidden=16, proj_dim=8, queue_size=40, bn_splits=2)
    x = torch.randn(8, 1, 28, 28)
    m(x, x)
    assert int(m.queue_ptr) == 16
    assert torch.allclose(m.queue[:16].norm(dim=1), torch.ones(16))
    m(x, x), m(x, x)
    assert int(m.queue_ptr) == 48 % 40
    with pytest.raises(ValueError, match="queue_size=40 must be >= 2 \\* batch_size"):
        m(torch.randn(24, 1, 28, 28), torch.randn(24, 1, 28, 28))


# ------------------------------------------------------------------------- pretext mechanics

def test_rotation_labels_undo_the_rotation():
    x1, x2 = torch.randn(10, 1, 6, 6), torch.randn(10, 1, 6, 6)
    rotated, labels = Rotation.rotate(x1, x2)
    assert rotated.shape == (20, 1, 6, 6) and labels.bincount().tolist() == [5, 5, 5, 5]
    originals = torch.cat([x1[r::4] for r in range(4)] + [x2[r::4] for r in range(4)])
    for img, k, orig in zip(rotated, labels, originals):
        assert torch.equal(torch.rot90(img, -int(k), dims=(1, 2)), orig)


def test_relative_position_grid_and_patches():
    assert RelativePosition.grid(28) == (8, 2)
    assert RelativePosition.grid(32) == (9, 2)
    assert RelativePosition.grid(96) == (28, 6)
    x = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28)
    tiles = RelativePosition.patches(x)
    assert tiles.shape == (1, 9, 1, 8, 8)
    assert torch.equal(tiles[0, 4], x[0, :, 10:18, 10:18])  # the centre
    assert torch.equal(tiles[0, 8], x[0, :, 20:28, 20:28])  # bottom right
    with pytest.raises(ValueError, match="too small"):
        RelativePosition.grid(5)


def test_mae_masks_are_reproducible_and_on_patches():
    m = MaskedAutoencoder(build_backbone("convnet", 1, width=8), image_size=28, channels=1, patch=4,
                          mask_ratio=0.5)
    a = m.mask(64, "cpu", torch.Generator().manual_seed(3))
    b = m.mask(64, "cpu", torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (64, 1, 28, 28)
    assert abs(1 - a.mean().item() - 0.5) < 0.05
    assert torch.equal(a, a[..., ::4, ::4].repeat_interleave(4, -1).repeat_interleave(4, -2))
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedAutoencoder(build_backbone("convnet", 1, width=8), mask_ratio=1.0)


def test_pretrain_trains_on_the_views_the_method_asks_for(monkeypatch):
    seen = []
    real = Method.views

    def spy(self, dataset):
        views = real(self, dataset)
        seen.append(views)
        return views

    monkeypatch.setattr(Method, "views", spy)
    train.pretrain(tiny(method="rotation", max_steps=1), progress=False)
    (views,) = seen
    assert len(views) == 2 and all(a.crop_scale == (0.6, 1.0) and a.jitter_p == 0.0 for a in views.augments)


def test_views_of_byol_dino_and_dcgan():
    backbone = build_backbone("convnet", 1, width=8)
    byol = build_method("byol", backbone).views("cifar10")
    assert [(a.blur_p, a.solarize_p) for a in byol.augments] == [(0.0, 0.0), (0.0, 0.2)]  # CIFAR: no blur
    assert [(a.blur_p, a.solarize_p) for a in build_method("byol", backbone).views("stl10").augments] == \
        [(1.0, 0.0), (0.1, 0.2)]
    dino = DINO(build_backbone("convnet", 1, width=8), local_crops=3).views("fashion-mnist")
    assert dino.sizes == [28, 28, 16, 16, 16] and len(dino.groups) == 3  # the 3 local crops: one call
    assert dino.augments[0].crop_scale == (0.4, 1.0) and dino.augments[2].crop_scale == (0.05, 0.4)
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    v = dino(x, generator=torch.Generator().manual_seed(0))
    assert [t.shape for t in v] == [(5, 1, 28, 28)] * 2 + [(5, 1, 16, 16)] * 3
    assert not torch.equal(v[2], v[3])  # each local crop draws its own parameters
    assert len(build_method("dcgan", backbone).views("fashion-mnist")) == 1


def test_dino_trains_without_either_collapse():
    """The two ways DINO can fail (paper, Sec. 5.3 / Fig. 7): every image uniform over the K prototypes
    (per-image entropy log K), or every image with the same distribution (the marginal over images no
    wider than each image's: their difference, the information the output carries about the image, 0).
    Centring and sharpening keep the trained teacher away from both."""
    res = train.pretrain(tiny(method="dino", epochs=4), progress=False)
    m = res["method"]
    assert all(torch.isfinite(torch.tensor([s["loss"] for s in res["history"]["steps"]])))
    x, _ = load("fashion-mnist", "test")
    with torch.no_grad():
        t = m.teacher_head(m.teacher_encoder(for_dataset("fashion-mnist").normalize(x[:256])))
        p = torch.softmax((t - m.center) / m.teacher_temp, dim=1)
    log_k = math.log(p.shape[1])
    per_image = -(p * p.clamp_min(1e-12).log()).sum(1).mean().item()
    marginal = -(p.mean(0) * p.mean(0).clamp_min(1e-12).log()).sum().item()
    assert per_image < log_k - 1 and marginal - per_image > 1, (per_image, marginal, log_k)
    assert m.center.abs().sum() > 0  # the centre has followed the teacher


def test_dino_centre_and_teacher():
    torch.manual_seed(0)
    m = DINO(build_backbone("convnet", 1, width=8), proj_hidden=16, proj_dim=8, prototypes=32, local_crops=2)
    g = torch.Generator().manual_seed(0)
    views = m.views("fashion-mnist")(torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8), generator=g)
    with torch.no_grad():
        teacher = m.teacher_head(m.teacher_encoder(torch.cat(views[:2])))
    loss = m(*views)
    assert torch.isfinite(loss) and loss > 0
    torch.testing.assert_close(m.center, 0.1 * teacher.mean(0, keepdim=True))  # 0.9 * 0 + 0.1 * batch mean
    loss.backward()
    assert m.teacher_encoder.features[0][0].weight.grad is None  # the teacher takes no gradient
    assert all(p.grad is not None for p in m.head.parameters())
    with pytest.raises(ValueError, match="2 global views"):
        m(views[0])


def test_a_new_method_is_one_class(monkeypatch, tmp_path):
    """Defining the class registers it; config, the loop, compare and the tables then use it unchanged."""
    from sslkit.tools.compare import compare
    from sslkit.tools.results import results_table, write_result

    monkeypatch.setitem(METHODS, "simclr-3", None)  # the registry is restored after the test

    class ThreeViewSimCLR(Method):
        """A method defined outside the package: SimCLR on three views, every pair a positive pair."""

        name, display_name, family, paper = "simclr-3", "SimCLR x3", "contrastive", "a test"
        HPARAMS = ("proj_hidden", "proj_dim", "temperature")
        full_recipe, recipe_source = {"lr": 0.24}, "the test"
        n_views = 3

        def __init__(self, encoder, proj_hidden=64, proj_dim=16, temperature=0.5):
            super().__init__(encoder)
            self.inner = SimCLR(encoder, proj_hidden, proj_dim, temperature)

        def forward(self, x1, x2, x3):
            return (self.inner(x1, x2) + self.inner(x2, x3) + self.inner(x1, x3)) / 3

    assert METHODS["simclr-3"] is ThreeViewSimCLR  # defining the class registered it
    assert resolve("full", method="simclr-3").lr == 0.24
    res = train.pretrain(tiny(method="simclr-3", max_steps=2), progress=False)
    assert len(res["history"]["steps"]) == 2 and res["method"].name == "simclr-3"
    rows = compare("quick", ["simclr-3"], max_steps=1, width=8, batch_size=32, train_subset=256, eval_train=200,
                   eval_test=100, protocols=("knn",), device="cpu", progress=False, log=lambda *a: None)["rows"]
    assert rows[-1]["method"] == "simclr-3" and rows[-1]["family"] == "contrastive"
    write_result(tmp_path, config=res["config"].to_dict(), env={}, history=res["history"], command="test")
    assert "SimCLR x3, ConvNet (width 8)" in results_table(tmp_path)
    with pytest.raises(ValueError, match="is taken by"):
        type("Other", (Method,), {"name": "simclr"})
    assert METHODS["simclr"] is SimCLR


# -------------------------------------------------------------------- names, hparams, the CLI

@pytest.mark.parametrize("name", list(METHODS))
def test_every_name_works_in_config_cli_and_build_model(name):
    assert resolve("quick", method=name).method == name
    assert build_parser().parse_args(["pretrain", "--method", name]).method == name
    cfg = tiny(method=name)
    hp = train.method_hparams(cfg)
    accepted = inspect.signature(METHODS[name].__init__).parameters
    assert set(hp) <= set(accepted), (name, hp)  # only what the constructor takes
    model = train.build_model(cfg)
    assert model.name == name and hasattr(model.encoder, "feature_dim")


def test_simclr_first_and_unknown_names_list_the_valid_ones(capsys):
    assert list(METHODS)[0] == "simclr"
    with pytest.raises(ValueError, match="valid methods: simclr, moco, byol, simsiam, barlowtwins, vicreg, "
                                         "dino, rotation, relative-position, mae, dcgan"):
        resolve("quick", method="swav")
    with pytest.raises(SystemExit):
        main(["pretrain", "--method", "swav"])
    assert "invalid choice: 'swav'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown method 'swav'; valid methods: simclr"):
        build_method("swav", build_backbone("convnet", 1, width=8))


def test_build_method_simclr_keeps_its_signature():
    m = build_method("simclr", build_backbone("convnet", 1, width=8), proj_hidden=16, proj_dim=8, temperature=0.2)
    assert m.temperature == 0.2 and m.projector.out_dim == 8
    loss = m(torch.randn(4, 1, 28, 28), torch.randn(4, 1, 28, 28))
    assert loss.dim() == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("name,kw,msg", [
    ("moco", {"momentum": 1.0}, "momentum must be in \\[0, 1\\)"),
    ("moco", {"queue_size": 0}, "queue_size must be > 0"),
    ("byol", {"momentum": -0.1}, "momentum"),
    ("simsiam", {"stop_gradient": "no"}, "stop_gradient must be True or False"),
    ("barlowtwins", {"lambd": -1.0}, "lambd must be >= 0"),
    ("vicreg", {"cov": -1.0}, "cov must be >= 0"),
    ("dino", {"teacher_temp": 0}, "teacher_temp must be > 0"),
    ("dino", {"local_crops": -1}, "local_crops must be >= 0"),
    ("dino", {"local_scale": (0.5, 0.2)}, "local_scale must satisfy"),
])
def test_bad_method_arguments(name, kw, msg):
    with pytest.raises(ValueError, match=msg):
        build_method(name, build_backbone("convnet", 1, width=8), **kw)
