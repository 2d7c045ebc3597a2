"""Checks for notebook 03 (pretext tasks): the rotation labels, the masked reconstruction loss, and
the loss a pretext classifier starts from (chance)."""
from __future__ import annotations

import math

import torch

from sslkit.teach.exercises._core import call, describe, fail, mistake_hint, passed, same

# --------------------------------------------------------------------------- rotation labels


def check_rotation_labels(fn) -> bool:
    """``fn(x) -> (rotated, labels)``: every image of x (N, C, H, W) in all four rotations
    (RotNet, Gidaris et al. 2018), rotated (4N, C, H, W) in any order, and labels (4N,) int64 with
    label k for a rotation by k x 90 degrees counter-clockwise (``torch.rot90(img, k, dims=(-2, -1))``)."""
    name = "rotation_labels"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, 6, 6, generator=g)  # random pixels: the 20 rotated images all differ
    n = len(x)
    out = call(name, fn, x.clone(), what="your rotation function")
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        fail(name, f"expected (rotated, labels), got {type(out).__name__}.", "return torch.cat(images), torch.cat(labels).")
    rotated, labels = out
    if not isinstance(rotated, torch.Tensor) or rotated.shape != (4 * n, *x.shape[1:]):
        fail(name, f"rotated images: expected shape {(4 * n, *x.shape[1:])}, got {describe(rotated)}.",
             "all four rotations of every image, concatenated along the batch dimension (4N images).")
    if not isinstance(labels, torch.Tensor) or labels.shape != (4 * n,):
        fail(name, f"labels: expected shape {(4 * n,)}, got {describe(labels)}.", "one label per rotated image.")
    if labels.dtype != torch.long:
        fail(name, f"labels are {labels.dtype}.", "cross_entropy wants class indices as int64: dtype=torch.long.")
    # Which (image, rotation) is each output? Exact match: rotations only move pixels.
    truth = {}
    for k in range(4):
        for j in range(n):
            truth[torch.rot90(x[j], k, dims=(-2, -1)).numpy().tobytes()] = (j, k)
    found = [truth.get(img.detach().numpy().tobytes()) for img in rotated]
    if any(f is None for f in found):
        fail(name, f"{sum(f is None for f in found)} output images are not a rotation of an input image.",
             "rotate the two spatial dimensions, torch.rot90(x, k, dims=(-2, -1)); don't crop, flip or transpose.")
    if len(set(found)) != 4 * n:
        fail(name, "some (image, rotation) pairs appear twice and others never.",
             "every image must appear once in each of the 4 rotations 0, 90, 180 and 270 degrees.")
    k_true = torch.tensor([k for _, k in found])
    if not torch.equal(labels, k_true):
        hint = mistake_hint(labels, {
            "the labels count clockwise": ((-k_true) % 4, "torch.rot90 with dims=(-2, -1) turns counter-clockwise; "
                                                          "label k means k quarter turns that way."),
            "the labels are in degrees": (90 * k_true, "use the class index k in 0..3, not 90k degrees."),
            "the labels are shifted by one": ((k_true + 1) % 4, "label 0 is the unrotated image."),
        }) or "label k must be the number of counter-clockwise quarter turns applied to that image."
        fail(name, f"{int((labels != k_true).sum())} of {4 * n} labels don't match their image's rotation.", hint)
    return passed(name)


# ------------------------------------------------------------------ masked reconstruction loss

def check_masked_loss(fn) -> bool:
    """``fn(recon, x, mask) -> scalar``: the squared error on the hidden pixels only, averaged over
    them, with mask (N, 1, S, S), 1 = visible and 0 = hidden (``MaskedAutoencoder.mask``), and recon, x
    (N, C, S, S). Checked on fixed RGB inputs against the formula of ``sslkit.pretext.MaskedAutoencoder``."""
    name = "masked_loss"
    g = torch.Generator().manual_seed(0)
    x, recon = torch.rand(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)
    keep = (torch.rand(4, 1, 4, 4, generator=g) >= 0.5).float()           # one draw per 2 x 2 patch, as MAE.mask
    mask = keep.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # (4, 1, 8, 8), 1 = visible
    err = (recon - x) ** 2
    hidden = (1 - mask).expand_as(err)
    ref = (err * hidden).sum() / hidden.sum()
    got = call(name, fn, recon.clone(), x.clone(), mask.clone(), what="your loss")
    if not same(got, ref):
        hint = mistake_hint(got, {
            "every pixel was scored, the visible ones too": (err.mean(), "multiply by the hidden mask (1 - mask) first; "
                                                                         "copying visible pixels must earn nothing."),
            "the visible pixels were scored instead of the hidden ones": (
                (err * mask).sum() / mask.expand_as(err).sum(), "mask is 1 where visible: the hidden pixels are 1 - mask."),
            "the sum was divided by every pixel, not the hidden ones": (
                (err * hidden).mean(), "average over the hidden pixels: divide by (1 - mask) summed over the same elements."),
            "the mask was not expanded over the channels": (
                (err * hidden).sum() / (1 - mask).sum(), "the mask has 1 channel, the images C: count hidden values "
                                                         "with (1 - mask).expand_as(x).sum()."),
        }) or "sum((recon - x)^2 * (1 - mask)) / sum(1 - mask), with the mask broadcast over the channels."
        fail(name, f"got {describe(got)}, expected {ref.item():.5f}.", hint)
    return passed(name)


# ------------------------------------------------------------------------ chance-level losses

def check_chance_losses(rotation, relative_position) -> bool:
    """The cross-entropy loss (in nats) of a classifier that knows nothing, for the rotation task and
    for the relative-position task: where their training curves start."""
    name = "chance_losses"
    for task, got, k in (("rotation", rotation, 4), ("relative_position", relative_position, 8)):
        if same(got, math.log(k)):
            continue
        hint = mistake_hint(got, {
            "that is the chance accuracy": (1 / k, "the loss of a uniform guess is -log(1/K) = log K."),
            "the log has base 2": (math.log2(k), "cross_entropy uses the natural log (nats): math.log."),
            "the log has base 10": (math.log10(k), "cross_entropy uses the natural log (nats): math.log."),
            "the centre cell was counted as a class": (
                math.log(9), "the neighbour is never the centre: 8 possible positions."),
        }) or f"a classifier that knows nothing spreads its probability evenly over the K classes of the task " \
              f"(how many rotations? how many neighbour positions?); its loss is -log(1/K)."
        fail(name, f"{task}: got {describe(got)}.", hint)
    return passed(name)
