"""Every exercise check: a right answer passes, wrong answers fail with the hint that names the mistake;
and every notebook's exercises follow the one layout (markdown, `solution` cell, check cell)."""
import math

import nbformat
import pytest
import torch
import torch.nn.functional as F

from sslkit import augment
from sslkit.teach.classroom import exercises, layout_problems
from sslkit.teach.exercises import CHECKS, ExerciseError
from sslkit.teach.exercises import nb01, nb02, nb03, nb05
from sslkit.teach.notebooks import NOTEBOOK_DIR


def wrong(check, *args, match):
    with pytest.raises(ExerciseError, match=match):
        check(*args)


# ------------------------------------------------------------------------------------ 01

def test_paradigm():
    right = {k: v for k, (v, _) in nb01.PARADIGM_SCENARIOS.items()}
    assert nb01.check_paradigm(right)
    assert nb01.check_paradigm({**right, "SimCLR": " Self-Supervised"})  # spelling is forgiven
    wrong(nb01.check_paradigm, {**right, "next word": "supervised"}, match="next word.*already in the text")
    wrong(nb01.check_paradigm, {**right, "k-means": "clustering"}, match="not a kind of learning")
    wrong(nb01.check_paradigm, {"SimCLR": "self-supervised"}, match="no answer for")
    wrong(nb01.check_paradigm, ["supervised"], match="expected a dict")


def test_ssl_family():
    right = {k: v for k, (v, _) in nb01.METHOD_FAMILIES.items()}
    assert nb01.check_ssl_family(right)
    assert nb01.check_ssl_family({**right, "MAE": "Masked modelling", "BYOL": "self-distillation"})
    wrong(nb01.check_ssl_family, {**right, "BYOL": "contrastive"}, match="BYOL has no negatives")
    wrong(nb01.check_ssl_family, {**right, "DCGAN": "magic"}, match="not one of the five families")


def _preset_views(dataset):
    p, (mean, std) = augment.PRESETS[dataset], augment.STATS[dataset]
    aug = augment.SimCLRAugment(p["size"], p["channels"], crop_scale=(0.2, 1.0), mean=mean, std=std)
    return aug


@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10"])
def test_two_views_right(dataset):
    aug = _preset_views(dataset)
    assert nb01.check_two_views(lambda x, generator: (aug(x, generator=generator), aug(x, generator=generator)),
                                dataset)


def test_two_views_wrong():
    aug = _preset_views("fashion-mnist")
    raw = augment.SimCLRAugment(28, 1, crop_scale=(0.2, 1.0))  # no normalisation

    def reseeded(x, generator):
        return aug(x, generator=torch.Generator().manual_seed(0)), aug(x, generator=torch.Generator().manual_seed(0))

    def one_crop_for_all(x, generator):  # augment the first image, copy its parameters to the batch
        v1 = aug(x[:1], generator=generator).expand(len(x), -1, -1, -1)
        return v1 + 0 * x.float(), aug(x, generator=generator)

    def global_rng(x, generator):
        return aug(x), aug(x)

    wrong(nb01.check_two_views, reseeded, "fashion-mnist", match="identical.*re-seeding")
    wrong(nb01.check_two_views, one_crop_for_all, "fashion-mnist", match="whole batch shares one crop")
    wrong(nb01.check_two_views, global_rng, "fashion-mnist", match="same generator seed gave different views")
    wrong(nb01.check_two_views, lambda x, generator: (raw(x, generator=generator), raw(x, generator=generator)),
          "fashion-mnist", match="normalise with the dataset's statistics")
    wrong(nb01.check_two_views, lambda x, generator: (x, x), "fashion-mnist", match="float32")
    wrong(nb01.check_two_views, lambda x, generator: aug(x, generator=generator), "fashion-mnist",
          match="pair of tensors")

    def stub(x, generator):
        raise NotImplementedError("Exercise: write your answer here")

    wrong(nb01.check_two_views, stub, "fashion-mnist", match="not written yet")


# ------------------------------------------------------------------------------------ 02

def nt_xent_right(z1, z2, tau):
    n = len(z1)
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    s = (u @ u.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))


def test_nt_xent():
    assert nb02.check_nt_xent(nt_xent_right)

    def no_mask(z1, z2, tau):
        n = len(z1)
        u = F.normalize(torch.cat([z1, z2]), dim=1)
        return F.cross_entropy(u @ u.T / tau, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))

    def not_normalised(z1, z2, tau):
        n = len(z1)
        u = torch.cat([z1, z2])
        s = (u @ u.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        return F.cross_entropy(s, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))

    wrong(nb02.check_nt_xent, no_mask, match="anchor was not masked")
    wrong(nb02.check_nt_xent, not_normalised, match="not normalised")
    wrong(nb02.check_nt_xent, lambda z1, z2, tau: nt_xent_right(z1, z2, 1.0), match="temperature was left out")
    wrong(nb02.check_nt_xent, lambda z1, z2, tau: 2 * len(z1) * nt_xent_right(z1, z2, tau), match="summed")
    wrong(nb02.check_nt_xent, lambda z1, z2, tau: nt_xent_right(z1, z2, tau).detach(), match="no gradient")
    wrong(nb02.check_nt_xent, lambda z1, z2, tau: nt_xent_right(z1, z2, tau) + 0.1, match="section 1")
    wrong(nb02.check_nt_xent, lambda z1, z2, tau: torch.zeros(3), match="scalar")


def alignment_right(u1, u2):
    return (u1 - u2).pow(2).sum(1).mean().item()


def uniformity_right(u, t=2.0):
    sq = torch.pdist(u).pow(2)
    return (torch.logsumexp(-t * sq, dim=0) - math.log(len(sq))).item()


def test_alignment_uniformity():
    assert nb02.check_alignment_uniformity(alignment_right, uniformity_right)
    wrong(nb02.check_alignment_uniformity, lambda a, b: (a - b).norm(dim=1).mean(), uniformity_right,
          match="not squared")
    wrong(nb02.check_alignment_uniformity, alignment_right,
          lambda u, t=2.0: torch.exp(-t * torch.pdist(u).pow(2)).mean(), match="log was left out")
    wrong(nb02.check_alignment_uniformity, alignment_right,
          lambda u, t=2.0: torch.exp(-t * torch.cdist(u, u).pow(2)).mean().log(), match="paired with itself")
    wrong(nb02.check_alignment_uniformity, alignment_right, lambda u, t=2.0: uniformity_right(u, 2.0),
          match="another t")


def sigmoid_grad_right(logits, y):
    return (torch.sigmoid(logits) - (y > 0).to(logits.dtype)) / len(logits)


def test_sigmoid_grad():
    assert nb02.check_sigmoid_grad(sigmoid_grad_right)
    wrong(nb02.check_sigmoid_grad, lambda l, y: len(l) * sigmoid_grad_right(l, y), match="1/N was left out")
    wrong(nb02.check_sigmoid_grad, lambda l, y: (torch.sigmoid(l) - y) / len(l), match="y was used as the target")
    wrong(nb02.check_sigmoid_grad, lambda l, y: -sigmoid_grad_right(l, y), match="sign is flipped")


# ------------------------------------------------------------------------------------ 03

def rotations_right(x):
    return (torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]),
            torch.arange(4).repeat_interleave(len(x)))


def test_rotation_labels():
    assert nb03.check_rotation_labels(rotations_right)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    assert nb03.check_rotation_labels(lambda x: tuple(t[perm] for t in rotations_right(x)))  # any order
    wrong(nb03.check_rotation_labels, lambda x: (rotations_right(x)[0], (-rotations_right(x)[1]) % 4),
          match="count clockwise")
    wrong(nb03.check_rotation_labels, lambda x: (rotations_right(x)[0], rotations_right(x)[1].int()),
          match="int64")
    wrong(nb03.check_rotation_labels, lambda x: rotations_right(x.flip(-1)), match="not a rotation")  # mirrored
    wrong(nb03.check_rotation_labels, lambda x: (torch.cat([x, x, x, x]), torch.zeros(4 * len(x), dtype=torch.long)),
          match="appear twice")


def masked_right(recon, x, mask):
    hidden = (1 - mask).expand_as(x)
    return ((recon - x) ** 2 * hidden).sum() / hidden.sum()


def test_masked_loss():
    assert nb03.check_masked_loss(masked_right)
    wrong(nb03.check_masked_loss, lambda r, x, m: ((r - x) ** 2).mean(), match="every pixel was scored")
    wrong(nb03.check_masked_loss, lambda r, x, m: masked_right(r, x, 1 - m), match="visible pixels were scored")
    wrong(nb03.check_masked_loss, lambda r, x, m: ((r - x) ** 2 * (1 - m)).sum() / (1 - m).sum(),
          match="not expanded over the channels")


def test_chance_losses():
    assert nb03.check_chance_losses(math.log(4), math.log(8))
    wrong(nb03.check_chance_losses, 0.25, math.log(8), match="chance accuracy")
    wrong(nb03.check_chance_losses, math.log(4), math.log(9), match="centre cell")
    wrong(nb03.check_chance_losses, 2.0, 3.0, match="base 2")
    wrong(nb03.check_chance_losses, math.log(4), None, match="relative_position")


# ------------------------------------------------------------------------------------ 05

def test_curve_support():
    y = torch.arange(10).repeat(30)
    ev = torch.randperm(300, generator=torch.Generator().manual_seed(0))[:57]
    assert nb05.check_curve_support(torch.bincount(y[ev], minlength=10), y, ev, 10)
    wrong(nb05.check_curve_support, torch.bincount(y, minlength=10), y, ev, 10, match="every test image")
    wrong(nb05.check_curve_support, torch.bincount(y[ev]).tolist()[:9], y, ev, 10, match="minlength=10")


def macro_f1_right(y_true, y_pred, num_classes):
    from sslkit.evaluate import confusion_matrix

    c = torch.as_tensor(confusion_matrix(y_true, y_pred, num_classes), dtype=torch.float64)
    tp = c.diag()
    f1 = 2 * tp / (2 * tp + (c.sum(0) - tp) + (c.sum(1) - tp)).clamp_min(1)
    return f1.mean().item()


def test_macro_f1():
    assert nb05.check_macro_f1(macro_f1_right)
    wrong(nb05.check_macro_f1, lambda t, p, k: (t == p).double().mean().item(), match="accuracy")

    def weighted(t, p, k):
        from sklearn.metrics import f1_score
        return f1_score(t, p, average="weighted", zero_division=0)

    def seen_only(t, p, k):
        from sklearn.metrics import f1_score
        return f1_score(t, p, labels=sorted(set(p.tolist())), average="macro", zero_division=0)

    wrong(nb05.check_macro_f1, weighted, match="weighted by their support")
    wrong(nb05.check_macro_f1, seen_only, match="never predicted were left out")


def test_scored_split():
    assert nb05.check_scored_split("test")
    assert nb05.check_scored_split(" Test ")
    wrong(nb05.check_scored_split, "train", match="500 images per class")
    wrong(nb05.check_scored_split, "validation", match="not a split")


def test_every_check_is_tested_here():
    tested = {"check_paradigm", "check_ssl_family", "check_two_views", "check_nt_xent", "check_alignment_uniformity",
              "check_sigmoid_grad", "check_rotation_labels", "check_masked_loss", "check_chance_losses",
              "check_curve_support", "check_macro_f1", "check_scored_split"}
    mine = {n for n, f in CHECKS.items() if f.__module__.rsplit(".", 1)[-1] in ("nb01", "nb02", "nb03", "nb05")}
    assert mine == tested


# ------------------------------------------------------------------------- notebooks' layout

BOOKS = {p.name[:2]: p for p in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))}
ARC = ("01", "02", "03", "04", "05", "06", "07", "08", "09")   # every notebook after 00 has 2-4 exercises


def _check_notebook(prefix):
    nb = nbformat.read(BOOKS[prefix], as_version=4)
    problems = layout_problems(nb)
    assert not problems, f"{BOOKS[prefix].name}: " + "; ".join(problems)
    found = exercises(nb)
    assert 2 <= len(found) <= 4, f"{BOOKS[prefix].name} has {len(found)} exercises; each notebook needs 2-4"
    for ex in found:
        assert ex.check in CHECKS, f"{BOOKS[prefix].name}: {ex.title!r} calls {ex.check}, not in sslkit.teach.exercises"
    return found


@pytest.mark.parametrize("prefix", ARC)
def test_exercise_layout(prefix):
    assert prefix in BOOKS, f"notebook {prefix} is missing"
    _check_notebook(prefix)


def test_executed_checks_passed():
    """The committed (instructor) notebooks ran every check, and every check printed its verdict."""
    for prefix in ARC:
        nb = nbformat.read(BOOKS[prefix], as_version=4)
        for ex in exercises(nb):
            text = "".join(o.get("text", "") for o in nb.cells[ex.check_cell].outputs if o.output_type == "stream")
            assert "✓" in text and ": correct" in text, f"{BOOKS[prefix].name}: {ex.title!r} check did not pass"


def test_notebook_04_checks_accept_right_and_name_wrong_answers():
    import math

    import torch.nn.functional as F

    from sslkit.teach.exercises import ExerciseError, check_effective_rank, check_gather_bound

    assert check_gather_bound(math.log(511), math.log(4095))
    with pytest.raises(ExerciseError, match="images, not views"):
        check_gather_bound(math.log(255), math.log(4095))

    def entropy_only(z):
        u = F.normalize(z.double(), dim=1)
        s = torch.linalg.svdvals(u)
        p = s / s.sum()
        return -(p * torch.log(p)).sum().item()

    assert check_effective_rank(lambda z: math.exp(entropy_only(z)))
    with pytest.raises(ExerciseError, match="not its exponential"):
        check_effective_rank(entropy_only)
