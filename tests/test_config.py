import pytest

from sslkit.config import PROFILES, resolve


def test_profiles_resolve():
    for name in PROFILES:
        cfg = resolve(name)
        assert cfg.profile == name


def test_override_and_unknown():
    assert resolve("quick", epochs=3).epochs == 3
    with pytest.raises(ValueError, match="unknown parameter.*epoch.*valid parameters"):
        resolve("quick", epoch=3)
    with pytest.raises(ValueError, match="valid profiles: quick, full"):
        resolve("fast")


@pytest.mark.parametrize("kw,msg", [
    ({"dataset": "mnist"}, "valid datasets: fashion-mnist, cifar10"),
    ({"method": "clip"}, "valid methods: .*simclr"),
    ({"epochs": -1}, "epochs must be > 0"),
    ({"epochs": 2.5}, "epochs must be a positive integer"),
    ({"batch_size": "64"}, "batch_size must be a positive integer"),
    ({"batch_size": 1}, "batch_size must be >= 2"),
    ({"lr": -0.1}, "lr must be > 0"),
    ({"device": "tpu"}, "device must be"),
    ({"compile": "yes"}, "compile must be True or False"),
])
def test_bad_values(kw, msg):
    with pytest.raises(ValueError, match=msg):
        resolve("quick", **kw)


def test_full_profile_applies_each_methods_recipe_under_user_overrides():
    from sslkit.config import PROFILES
    from sslkit.methods import METHODS

    byol = resolve("full", method="byol")
    assert (byol.lr, byol.proj_hidden, byol.proj_dim) == (0.24, 1024, 256)
    assert resolve("full", method="moco").temperature == 0.1
    assert resolve("full", method="simsiam").lr == 0.06
    # the caller's value wins over the recipe; quick ignores the recipes
    assert resolve("full", method="byol", lr=0.1).lr == 0.1
    assert resolve("quick", method="byol").proj_hidden == PROFILES["quick"].get("proj_hidden", 512)
    # pretext tasks: their papers' optimisers
    rot = resolve("full", method="rotation")
    assert (rot.optimizer, rot.lr, rot.batch_size) == ("sgd", 0.1, 256)
    dcgan = resolve("full", method="dcgan")
    assert (dcgan.optimizer, dcgan.lr, dcgan.betas, dcgan.weight_decay, dcgan.batch_size, dcgan.warmup_epochs) == \
        ("adamw", 2e-4, (0.5, 0.999), 0.0, 128, 0.0)
    mae = resolve("full", method="mae")
    assert (mae.optimizer, mae.lr, mae.betas, mae.weight_decay) == ("adamw", 3e-4, (0.9, 0.95), 0.05)
    assert resolve("quick", method="dcgan").betas == (0.9, 0.999)
    dino = resolve("full", method="dino")
    assert (dino.optimizer, dino.lr, dino.lars_eta, dino.lars_clip, dino.batch_size) == ("lars", 0.3, 0.02, True, 256)
    for name, cls in METHODS.items():  # every method documents its recipe and where it comes from
        assert cls.full_recipe and cls.recipe_source and cls.family and cls.display_name and cls.paper, name
        cfg = resolve("full", method=name)
        assert all(getattr(cfg, k) == (tuple(v) if isinstance(v, list) else v) for k, v in cls.full_recipe.items())


@pytest.mark.parametrize("betas", [(0.9,), (0.9, 1.0), (-0.1, 0.9), "0.9,0.99", (0.9, None), (True, 0.9)])
def test_bad_betas(betas):
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
        resolve("quick", betas=betas)


def test_betas_from_json_or_papermill_become_the_tuple_adamw_gets():
    import torch

    from sslkit.train import build_optimizer

    cfg = resolve("quick", betas=[0.5, 0.99])  # a list, as JSON and papermill hand it over
    assert cfg.betas == (0.5, 0.99)
    opt = build_optimizer(torch.nn.Linear(2, 2), cfg)
    assert all(g["betas"] == (0.5, 0.99) for g in opt.param_groups)
