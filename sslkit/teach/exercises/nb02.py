"""Checks for notebook 02 (contrastive math): NT-Xent from scratch, alignment and uniformity, and the
gradient of the pairwise sigmoid loss.

Each check runs the learner's function on fixed inputs and compares it with a reference
(``sslkit.losses.nt_xent``, autograd, Wang & Isola's definitions). When the answer is wrong, the
check also computes what the usual mistakes give (diagonal not masked, no normalisation, the
positive left out of the denominator, ...) and names the one the answer reproduces.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sslkit.teach.exercises._core import call, describe, fail, mistake_hint, passed, same

# ------------------------------------------------------------------------------------ NT-Xent


def _nt_xent_variant(z1, z2, tau, *, normalise=True, mask=True, positive_in_denominator=True, anchors="both",
                     reduce="mean"):
    """NT-Xent with one step of the recipe switched off: the usual mistakes, as values."""
    n = len(z1)
    u = torch.cat([z1, z2]).double()
    if normalise:
        u = F.normalize(u, dim=1)
    s = u @ u.T / tau
    if mask:
        s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    s_pos = s[torch.arange(2 * n), pos]
    if not positive_in_denominator:
        s = s.masked_fill(F.one_hot(pos, 2 * n).bool(), float("-inf"))
    per_anchor = -s_pos + torch.logsumexp(s, dim=1)
    if anchors == "first":
        per_anchor = per_anchor[:n]
    return per_anchor.sum() if reduce == "sum" else per_anchor.mean()


def _nt_xent_mistakes(z1, z2, tau) -> dict:
    v = lambda **kw: _nt_xent_variant(z1, z2, tau, **kw)  # noqa: E731
    return {
        "the anchor was not masked out of its own denominator": (
            v(mask=False), "set the diagonal of the similarity matrix to -inf before the log-sum-exp (k != a)."),
        "the embeddings were not normalised": (
            v(normalise=False), "divide every z by its L2 norm first: the similarities are cosines."),
        "the temperature was left out": (
            _nt_xent_variant(z1, z2, 1.0), "divide the similarities by tau."),
        "the similarities were multiplied by tau": (
            _nt_xent_variant(z1, z2, 1.0 / tau), "divide by tau, don't multiply."),
        "the positive was left out of the denominator": (
            v(positive_in_denominator=False), "the softmax runs over all 2N-1 other views, the positive included."),
        "only the first view's anchors were averaged": (
            v(anchors="first"), "both views of every image are anchors: average over all 2N."),
        "the per-anchor losses were summed": (
            v(reduce="sum"), "take the mean over the 2N anchors, not the sum."),
    }


def check_nt_xent(fn) -> bool:
    """``fn(z1, z2, tau) -> scalar tensor``: NT-Xent of two (N, D) batches of projections, checked
    against ``sslkit.losses.nt_xent`` on three fixed cases (including unnormalised, large inputs)
    and for a gradient (it must be differentiable to be trained)."""
    from sslkit.losses import nt_xent

    name = "nt_xent"
    g = torch.Generator().manual_seed(0)
    cases = [(torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g), 0.5),
             (torch.randn(5, 3, generator=g) * 7.0, torch.randn(5, 3, generator=g), 0.1),
             (torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g), 1.0)]
    default = ("l_a = -s_a,p(a)/tau + log sum_{k != a} exp(s_ak/tau) with cosine similarities s, "
               "averaged over all 2N anchors (section 1, steps 1-3).")
    for z1, z2, tau in cases:
        out = call(name, fn, z1.clone(), z2.clone(), tau, what="your NT-Xent")
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            fail(name, f"expected a scalar tensor, got {type(out).__name__}"
                       f"{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}.",
                 "reduce the 2N per-anchor losses to one number with .mean().")
        ref = nt_xent(z1, z2, tau)
        if not same(out.reshape(()), ref, rtol=1e-4, atol=1e-5):
            hint = mistake_hint(out.reshape(()), _nt_xent_mistakes(z1, z2, tau), rtol=1e-4, atol=1e-5) or default
            fail(name, f"N={len(z1)}, D={z1.shape[1]}, tau={tau}: got {out.item():.5f}, "
                       f"sslkit.losses.nt_xent gives {ref.item():.5f}.", hint)
    z1, z2, tau = cases[0]
    z1 = z1.clone().requires_grad_(True)
    out = call(name, fn, z1, z2.clone(), tau, what="your NT-Xent")
    if not out.requires_grad:
        fail(name, "the result carries no gradient.",
             "compute it with torch operations only (no .item(), .numpy() or .detach()), so autograd can train with it.")
    return passed(name)


# --------------------------------------------------------------------- alignment and uniformity

def _sphere_pairs(n=64, d=8, noise=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    u1 = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    u2 = F.normalize(u1 + noise * torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    return u1, u2


def check_alignment_uniformity(alignment, uniformity) -> bool:
    """``alignment(u1, u2)`` = E ||u1_i - u2_i||^2 and ``uniformity(u, t=2.0)`` =
    log E_{i != j} exp(-t ||u_i - u_j||^2) (Wang & Isola 2020) on unit vectors (N, D), checked on fixed
    points, on a collapsed set (every point the same: alignment 0, uniformity 0) and with t=1."""
    from sslkit.teach.widgets import _uniformity

    name = "alignment_uniformity"
    u1, u2 = _sphere_pairs()
    d2 = (u1 - u2).pow(2).sum(1)
    pair_d2 = torch.pdist(u1).pow(2)
    ref_align = d2.mean().item()
    got = call(name, alignment, u1, u2, what="alignment")
    if not same(got, ref_align):
        hint = mistake_hint(got, {
            "the distances were not squared": (d2.sqrt().mean().item(), "square the L2 distance: ||u1 - u2||^2."),
            "the squared distances were summed, not averaged": (d2.sum().item(), "average over the N pairs."),
            "the cosine was used": ((u1 * u2).sum(1).mean().item(),
                                    "alignment is a squared distance (for unit vectors 2 - 2 cos), lower = closer."),
        }) or "the mean over positive pairs of the squared L2 distance between their unit vectors."
        fail(name, f"alignment: got {describe(got)}, expected {ref_align:.5f}.", hint)
    ref_unif = _uniformity(u1)
    got = call(name, uniformity, u1, what="uniformity")
    if not same(got, ref_unif):
        n = len(u1)
        with_self = math.log((n + 2 * torch.exp(-2 * pair_d2).sum().item()) / n**2)
        hint = mistake_hint(got, {
            "the log was left out": (math.exp(ref_unif), "take the log of the mean: log E exp(-t d^2)."),
            "the distances were not squared": (
                (torch.logsumexp(-2 * pair_d2.sqrt(), 0) - math.log(len(pair_d2))).item(),
                "use the squared distance ||u_i - u_j||^2."),
            "each point was paired with itself too": (with_self, "average over pairs i != j only (torch.pdist)."),
            "t = 1 was used": (_uniformity(u1, t=1.0), "the default is t = 2: exp(-2 ||u_i - u_j||^2)."),
        }) or "log of the mean over all pairs i != j of exp(-t ||u_i - u_j||^2), with t = 2."
        fail(name, f"uniformity: got {describe(got)}, expected {ref_unif:.5f}.", hint)
    if not same(call(name, uniformity, u1, t=1.0, what="uniformity(u, t=1.0)"), _uniformity(u1, t=1.0)):
        fail(name, "uniformity(u, t=1.0) gives the value for another t.", "use the t argument instead of a fixed 2.")
    one = F.normalize(torch.ones(16, 8, dtype=torch.float64), dim=1)
    collapsed = [float(call(name, alignment, one, one, what="alignment")),
                 float(call(name, uniformity, one, what="uniformity"))]
    if not same(collapsed, [0.0, 0.0]):
        fail(name, f"a collapsed set (every point the same) gives alignment, uniformity = {collapsed}.",
             "a collapsed encoder is perfectly aligned (0) and maximally non-uniform (0): check the edge case.")
    return passed(name)


# ------------------------------------------------------------ gradient of the pairwise sigmoid loss

def check_sigmoid_grad(fn) -> bool:
    """``fn(logits, y) -> (N, N)``: dL/dl_ij of L = -(1/N) sum_ij log sigmoid(y_ij l_ij), checked
    against autograd on fixed float64 logits with y = +1 on the diagonal and -1 elsewhere."""
    name = "sigmoid_grad"
    g = torch.Generator().manual_seed(5)
    n = 6
    logits = torch.randn(n, n, generator=g, dtype=torch.float64, requires_grad=True)
    y = 2 * torch.eye(n, dtype=torch.float64) - 1
    auto = torch.autograd.grad(-F.logsigmoid(y * logits).sum() / n, logits)[0]
    got = call(name, fn, logits.detach().clone(), y.clone(), what="your gradient")
    if not same(got, auto, rtol=1e-6, atol=1e-9):
        l = logits.detach()
        hint = mistake_hint(got, {
            "the 1/N was left out": (auto * n, "the loss is divided by N, so is its gradient."),
            "the sign is flipped": (-auto, "d/dx log sigma(x) = sigma(-x) > 0, and the loss has a minus sign."),
            "y was used as the target instead of [y = +1]": (
                (torch.sigmoid(l) - y) / n, "the binary target is 1 for positives and 0 (not -1) for negatives."),
            "sigma(x) was used for the derivative of log sigma(x)": (
                -y * torch.sigmoid(y * l) / n, "d/dx log sigma(x) = sigma(-x) = 1 - sigma(x)."),
        }, rtol=1e-6, atol=1e-9) or "d/dl [-log sigma(y l)] = -y sigma(-y l), which equals sigma(l) - [y = +1]; divide by N."
        fail(name, "the gradient differs from autograd's.", hint)
    return passed(name)
