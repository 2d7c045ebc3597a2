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
