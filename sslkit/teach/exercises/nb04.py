"""Checks for notebook 04 (contrastive pretraining): the InfoNCE bound with and without the
all-gather, and the effective rank used as a collapse diagnostic."""
from __future__ import annotations

import math

import torch

from sslkit.teach.exercises._core import call, close, describe, fail, mistake_hint, passed, same


def check_gather_bound(without_gather, with_gather, per_gpu: int = 256, gpus: int = 8) -> bool:
    """The largest value of log(K) - L (the InfoNCE bound on mutual information) for SimCLR with
    ``per_gpu`` images on each of ``gpus`` GPUs: K = 2·batch − 1 candidates per anchor (its positive
    and the 2·batch − 2 other views), batch = per_gpu without the gather, per_gpu·gpus with it."""
    name = "gather_bound"
    expected = (math.log(2 * per_gpu - 1), math.log(2 * per_gpu * gpus - 1))
    if same((without_gather, with_gather), expected, rtol=1e-3):
        return passed(name)
    for got, want, label in ((without_gather, expected[0], "without the gather"),
                             (with_gather, expected[1], "with the gather")):
        if same(got, want, rtol=1e-3):
            continue
        b = per_gpu if label == "without the gather" else per_gpu * gpus
        hint = mistake_hint(got, {
            "you counted images, not views": (math.log(b - 1), "each image gives two views, so 2·batch views"),
            "you left out the positive": (math.log(2 * b - 2), "K counts the positive too: 2·batch − 1"),
            "you counted the anchor itself": (math.log(2 * b), "an anchor is never its own candidate"),
            "you used log base 2 or 10": (math.log2(2 * b - 1), "the bound is in nats: natural log"),
        }) or "count one anchor's candidates: its positive and every other view it is compared with."
        fail(name, f"{label}: got {describe(got)}, expected {want:.4f}.", hint)
    return passed(name)


def check_effective_rank(fn) -> bool:
    """``fn(z) -> float``: exp of the entropy of p_k = s_k / Σ s, the singular values of the matrix of
    L2-normalised rows of ``z`` (N, D); checked against ``sslkit.evaluate.collapse_diagnostics``."""
    from sslkit.evaluate import collapse_diagnostics

    name = "effective_rank"
    g = torch.Generator().manual_seed(0)
    cases = {"spread out": torch.randn(64, 16, generator=g),
             "collapsed to one direction": torch.randn(1, 16, generator=g).repeat(64, 1) * torch.rand(64, 1, generator=g),
             "on a 3-d subspace": torch.randn(64, 3, generator=g) @ torch.randn(3, 16, generator=g)}
    for label, z in cases.items():
        expected = collapse_diagnostics(z)["effective_rank"]
        got = call(name, fn, z.clone())
        if same(got, expected, rtol=1e-3):
            continue
        u = torch.nn.functional.normalize(z.double(), dim=1)
        s_raw = torch.linalg.svdvals(z.double())
        s = torch.linalg.svdvals(u)
        p = s / s.sum()
        hint = mistake_hint(got, {
            "you did not normalise the rows": (
                torch.exp(-(s_raw / s_raw.sum() * torch.log(s_raw / s_raw.sum() + 1e-12)).sum()).item(),
                "divide each row by its L2 norm first (F.normalize(z, dim=1))"),
            "you returned the entropy, not its exponential": (
                -(p * torch.log(p.clamp_min(1e-12))).sum().item(), "effective rank = exp(entropy)"),
            "you normalised the squared singular values": (
                torch.exp(-((s ** 2 / (s ** 2).sum()) * torch.log(s ** 2 / (s ** 2).sum() + 1e-12)).sum()).item(),
                "p_k = s_k / Σ s (Roy & Vetterli 2007), not s_k² / Σ s²"),
        }) or "normalise the rows, take torch.linalg.svdvals, p = s / s.sum(), return exp(-Σ p log p)."
        fail(name, f"for embeddings {label} expected {expected:.4f}, got {describe(got)}.", hint)
    return passed(name)
