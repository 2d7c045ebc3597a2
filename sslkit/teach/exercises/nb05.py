"""Checks for notebook 05 (fine-tuning and evaluation): the support of a scored subset, macro-F1 from
scratch, and reading a report's support to tell which split was scored."""
from __future__ import annotations

import torch

from sslkit.teach.exercises._core import call, describe, fail, mistake_hint, normalise_word, passed, same


def check_curve_support(support, test_y, ev, num_classes: int) -> bool:
    """``support``: the number of images of each class among the test images that scored the
    label-efficiency curve, ``test_y[ev]`` (length ``num_classes``, class order)."""
    name = "curve_support"
    ref = torch.bincount(test_y[ev], minlength=num_classes)
    if not same(support, ref, rtol=0, atol=0):
        hint = mistake_hint(support, {
            "every test image was counted": (torch.bincount(test_y, minlength=num_classes),
                                             "the curve is scored on the subset ev only: count test_y[ev]."),
            "the indices were counted, not their labels": (
                torch.bincount(ev, minlength=num_classes)[:num_classes],
                "count the labels of the chosen images, test_y[ev], not the indices ev."),
        }, rtol=0, atol=0) or (f"one count per class, {num_classes} numbers: torch.bincount(labels, minlength={num_classes}) "
                               "of the labels of the scored images.")
        fail(name, f"got {describe(support)}; the curve's images have {ref.sum().item():,} labels over "
                   f"{num_classes} classes.", hint)
    return passed(name)


def check_macro_f1(fn) -> bool:
    """``fn(y_true, y_pred, num_classes) -> float``: the unweighted mean over classes of
    F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c) (0 for a class with TP_c = 0), checked against
    scikit-learn's ``f1_score(average="macro", zero_division=0)`` on two fixed cases, one with a
    class that is never predicted."""
    from sklearn.metrics import f1_score, precision_score

    name = "macro_f1"
    g = torch.Generator().manual_seed(0)
    k = 4
    y_true = torch.cat([torch.full((n,), c) for c, n in enumerate((40, 25, 10, 5))])   # imbalanced
    y_pred = torch.where(torch.rand(len(y_true), generator=g) < 0.7, y_true,
                         torch.randint(0, k, (len(y_true),), generator=g))
    y_pred[y_pred == 3] = 0                                                           # class 3 never predicted
    cases = [(y_true, y_pred), (y_pred.flip(0), y_true.flip(0) % 3)]
    for t, p in cases:
        labels = list(range(k))
        ref = f1_score(t, p, labels=labels, average="macro", zero_division=0)
        got = call(name, fn, t.clone(), p.clone(), k, what="your macro_f1")
        if same(got, ref):
            continue
        hint = mistake_hint(got, {
            "that is the accuracy (= micro-averaged F1)": (
                (t == p).double().mean().item(), "macro-F1 averages the per-class F1 scores, each class counting once."),
            "the classes were weighted by their support": (
                f1_score(t, p, labels=labels, average="weighted", zero_division=0),
                "macro means unweighted: a rare class counts as much as a frequent one."),
            "classes that were never predicted were left out": (
                f1_score(t, p, labels=sorted(set(p.tolist())), average="macro", zero_division=0),
                "average over all num_classes classes; a class never predicted has F1 = 0 and pulls the mean down."),
            "precision was averaged, not F1": (
                precision_score(t, p, labels=labels, average="macro", zero_division=0),
                "F1_c = 2 P_c R_c / (P_c + R_c) = 2 TP / (2 TP + FP + FN)."),
        }) or ("per class c: TP = C[c, c], FP = column sum - TP, FN = row sum - TP of the confusion matrix C; "
               "F1_c = 2 TP / (2 TP + FP + FN) (0 when TP = 0); then the plain mean over the classes.")
        fail(name, f"got {describe(got)}, expected {ref:.5f}.", hint)
    return passed(name)


def check_scored_split(answer) -> bool:
    """An STL-10 classification report shows a support of 800 in every class: which split was scored,
    "train" or "test"? (``sslkit.data.info("stl10")`` lists the split sizes.)"""
    from sslkit.data import info

    name = "scored_split"
    sizes = info("stl10")["num_images"]
    per_class = {s: sizes[s] // 10 for s in ("train", "test")}
    given = normalise_word(answer)
    if given not in per_class:
        fail(name, f"{answer!r} is not a split.", 'answer "train" or "test".')
    if per_class[given] != 800:
        fail(name, f"STL-10's {given} split has {per_class[given]:,} images per class, not 800.",
             'the support counts the scored images of each class: compare it with data.info("stl10")["num_images"] '
             "divided by the 10 classes.")
    return passed(name)
