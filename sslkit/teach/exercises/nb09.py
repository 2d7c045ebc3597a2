"""Checks for notebook 09 (lifecycle): LoRA parameter count, nearest class mean, forgetting."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sslkit.teach.exercises._core import ExerciseError, call, close, passed


def check_lora_parameter_count(fn) -> bool:
    """``fn(layer, rank) -> int``: the trainable parameters :class:`sslkit.scenarios.lifecycle.LoRA` adds to an
    ``nn.Linear`` or ``nn.Conv2d``; checked against the real wrapper on several layers."""
    from sslkit.scenarios.lifecycle import LoRA, count_parameters

    layers = [(nn.Linear(128, 10), 4), (nn.Conv2d(32, 64, 3), 4), (nn.Conv2d(1, 16, 3), 1), (nn.Conv2d(64, 128, 5), 8)]
    for layer, rank in layers:
        expected = count_parameters(LoRA(layer, rank))
        got = call("lora_parameter_count", fn, layer, rank)
        if got != expected:
            raise ExerciseError(
                f"lora_parameter_count: for {layer} with rank {rank} expected {expected:,}, got {got!r}. Hint: A is "
                f"(r, fan_in) with fan_in = in_channels * kh * kw for a convolution, B is (out, r); the frozen "
                f"base weight does not count.")
    return passed("lora_parameter_count")


def check_nearest_class_mean(fn) -> bool:
    """``fn(support_feats, support_labels, query_feats) -> predictions``: nearest class mean by cosine
    similarity to the mean of the L2-normalised support features of each class."""
    from sslkit.scenarios.lifecycle import prototype_predict

    g = torch.Generator().manual_seed(9)
    support = torch.randn(30, 8, generator=g) + 0.5
    labels = torch.arange(3).repeat(10)
    queries = torch.randn(200, 8, generator=g) + 0.5
    got = call("nearest_class_mean", fn, support, labels, queries)
    return close("nearest_class_mean", torch.as_tensor(got), prototype_predict(support, labels, queries),
                 hint="normalise each support feature to length 1, average per class, normalise the means, "
                      "then give each query the class of the largest dot product (cosine similarity).")


def check_forgetting(fn) -> bool:
    """``fn(R) -> float``: the average forgetting of a (T, T) accuracy matrix (Chaudhry et al. 2018)."""
    from sslkit.scenarios.lifecycle import forgetting

    rng = np.random.default_rng(9)
    hint = ("for every task j but the last: its best accuracy in rows 0..T-2 (before the final task) minus its "
            "accuracy in the last row; then the mean over those T-1 tasks.")
    for T in (2, 3, 5):
        R = np.tril(rng.uniform(0.2, 1.0, (T, T)))
        got, expected = call("forgetting", fn, R.copy()), forgetting(R)
        try:
            ok = np.isclose(float(got), expected, rtol=1e-6, atol=1e-9)
        except (TypeError, ValueError):
            raise ExerciseError(f"forgetting: return one number, got {type(got).__name__}. Hint: {hint}") from None
        if not ok:
            raise ExerciseError(f"forgetting: for this {T}x{T} matrix expected {expected:.4f}, got {float(got):.4f}."
                                f"\n{np.round(R, 2)}\nHint: {hint}")
    return passed("forgetting")
