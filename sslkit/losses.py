"""Contrastive losses.

    loss = nt_xent(z1, z2, temperature=0.5)     # z1, z2: (N, D) projections of two views

Each loss validates its arguments and says what was wrong.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(z1: torch.Tensor, z2: torch.Tensor) -> None:
    if not (isinstance(z1, torch.Tensor) and isinstance(z2, torch.Tensor)):
        raise TypeError(f"z1 and z2 must be tensors, got {type(z1).__name__} and {type(z2).__name__}")
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both have shape (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError(f"need at least 2 pairs (negatives come from the batch), got N={z1.shape[0]}")


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (an InfoNCE loss).

    Shapes: z1, z2 (N, D), row i of z1 and row i of z2 are two views of the same image.
    The 2N vectors are L2-normalized, u = z / ||z||. For anchor a with positive p(a) (its other view):

        l(a) = -log  exp(u_a . u_p(a) / t) / sum_{k != a} exp(u_a . u_k / t)

    the denominator runs over the positive and the 2N-2 other views (negatives). The loss is the
    mean of l(a) over all 2N anchors. Its minimum is 0; for random embeddings it is about log(2N-1).

    Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020, Eq. (1); InfoNCE: van den Oord et al. 2018.
    """
    _check_pair(z1, z2)
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    n = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = u @ u.T / temperature
    logits.fill_diagonal_(float("-inf"))  # an anchor is never its own negative
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z1.device)
    return F.cross_entropy(logits, targets)
