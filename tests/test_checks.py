"""sslkit.checks: the one validation module every layer uses; each message says what was wrong and what is valid."""
import numpy as np
import pytest

from sslkit.checks import (check_betas, check_bool, check_choice, check_fraction, check_number, check_positive,
                           check_prob, check_range, require_extra, resolve_device)


@pytest.mark.parametrize("call, msg", [
    (lambda: check_choice("method", "swav", ["simclr", "moco"]), "unknown method 'swav'; valid methods: simclr, moco"),
    (lambda: check_positive("steps", 0), "steps must be > 0, got 0"),
    (lambda: check_positive("seed", -1, allow_zero=True), "seed must be >= 0"),
    (lambda: check_positive("steps", 2.5), "steps must be a positive integer, got 2.5"),
    (lambda: check_positive("steps", True), "positive integer"),
    (lambda: check_number("lam", 0.0, 0, 1, low_open=True), r"lam must be in \(0, 1\], got 0.0"),
    (lambda: check_number("momentum", 1.0, 0, 1, high_open=True), r"momentum must be in \[0, 1\), got 1.0"),
    (lambda: check_number("k", -1, 0), "k must be >= 0, got -1"),
    (lambda: check_number("t", 0, 0, low_open=True), "t must be > 0, got 0"),
    (lambda: check_number("x", 2, high=1), "x must be <= 1, got 2"),
    (lambda: check_number("x", float("nan")), "x must be a finite number"),
    (lambda: check_number("x", "1"), "x must be a finite number, got '1' \\(str\\)"),
    (lambda: check_prob("flip_p", 1.5), r"flip_p must be in \[0, 1\], got 1.5"),
    (lambda: check_fraction("val_fraction", 0), r"val_fraction must be in \(0, 1\]"),
    (lambda: check_bool("stop_gradient", "no"), "stop_gradient must be True or False, got 'no'"),
    (lambda: check_range("crop_scale", (0.5, 0.2), 0, 1, strict_lo=True), "crop_scale must satisfy 0 < lo <= hi <= 1"),
    (lambda: check_betas((0.9, 1.0)), r"betas must be two numbers in \[0, 1\)"),
    (lambda: resolve_device("gpu"), "device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
])
def test_bad_values_say_what_is_valid(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_good_values_come_back_normalised():
    assert check_number("x", np.float32(0.5), 0, 1) == 0.5 and isinstance(check_number("x", 1, 0), float)
    assert check_positive("n", np.int64(3)) == 3
    assert check_betas([0.5, 0.99]) == (0.5, 0.99)
    assert check_range("r", [0.2, 1], 0, 1, strict_lo=True) == (0.2, 1.0)
    assert resolve_device("cpu").type == "cpu"


def test_require_extra_names_the_extra_and_the_command(monkeypatch):
    require_extra("notebooks", "json")  # installed: nothing happens
    monkeypatch.setitem(__import__("sys").modules, "a_blocked_package", None)
    with pytest.raises(ImportError, match=r"needs the 'text' extra \(a_blocked_package, no_such_package_xyz not "
                                          r"installed\): pip install -e '\.\[text\]'"):
        require_extra("text", "a_blocked_package", "no_such_package_xyz")
