"""Checks for notebook 01 (concepts): the three kinds of learning signal, the SSL families, and a
SimCLR view pipeline."""
from __future__ import annotations

import torch

from sslkit.teach.exercises._core import call, fail, normalise_word, passed

# --------------------------------------------------------------- supervised / unsupervised / SSL

PARADIGMS = ("supervised", "unsupervised", "self-supervised")

# scenario -> (answer, why): the "why" is the hint a wrong answer gets.
PARADIGM_SCENARIOS = {
    "pixel classifier": ("supervised", "section 1.1's logistic regression reads a human label for every "
                                       "training image"),
    "k-means": ("unsupervised", "k-means only groups similar images; it has no target to predict, "
                                "manufactured or human"),
    "SimCLR": ("self-supervised", "the target (which view is the partner) is made from the images "
                                  "themselves; no human label is read"),
    "next word": ("self-supervised", "the next word is already in the text; the data labels itself"),
    "spam filter": ("supervised", "the 'spam' flags were given by people, one per mail: human labels"),
    "customer groups": ("unsupervised", "grouping customers by similarity has no target at all"),
}


def _aliases(text, aliases: dict, valid) -> str:
    word = normalise_word(text)
    return aliases.get(word, word) if word not in valid else word


def _check_table(name: str, answers, table: dict, valid, aliases: dict, *, item: str, kind: str,
                 no_answer: str, invalid: str, invalid_hint: str, ask: str) -> bool:
    """``answers`` {key: label} against ``table`` {key: (right label, why)}; every wrong entry is
    listed with its why. ``item``/``kind`` name a key and a label, ``no_answer``/``invalid`` finish
    the messages for a missing key and for a label outside ``valid``."""
    if not isinstance(answers, dict):
        fail(name, f"expected a dict {{{item}: {kind}}}, got {type(answers).__name__}.",
             f"one entry per {item}: {', '.join(table)}.")
    missing = [k for k in table if k not in answers]
    if missing:
        fail(name, f"{no_answer} {', '.join(missing)}.", f"use one of {', '.join(valid)}.")
    wrong = []
    for key, (right, why) in table.items():
        given = _aliases(answers[key], aliases, valid)
        if given not in valid:
            fail(name, f"{key!r}: {answers[key]!r} {invalid}.", invalid_hint)
        if given != right:
            wrong.append(f"{key!r} is not {given}: {why}")
    if wrong:
        fail(name, f"{len(wrong)} of {len(table)} wrong.", "; ".join(wrong) + ". " + ask)
    return passed(name)


def check_paradigm(answers: dict) -> bool:
    """``answers``: {scenario: "supervised" | "unsupervised" | "self-supervised"} for every key of
    ``PARADIGM_SCENARIOS``. A wrong entry gets the reason as its hint."""
    aliases = {"self-supervision": "self-supervised", "ssl": "self-supervised", "selfsupervised": "self-supervised",
               "supervision": "supervised", "unsupervision": "unsupervised"}
    return _check_table("paradigm", answers, PARADIGM_SCENARIOS, PARADIGMS, aliases, item="scenario",
                        kind="kind", no_answer="no answer for",
                        invalid="is not a kind of learning", invalid_hint=f"use one of {', '.join(PARADIGMS)}.",
                        ask="Ask: who made the target, a person, the data itself, or is there none?")


# ------------------------------------------------------------------------------- SSL families

FAMILIES = ("pretext", "contrastive", "non-contrastive", "generative", "masked")
_FAMILY_ALIASES = {
    "pretext-task": "pretext", "pretext-tasks": "pretext", "puzzle": "pretext",
    "non-contrastive-/-self-distillation": "non-contrastive", "self-distillation": "non-contrastive",
    "distillation": "non-contrastive", "noncontrastive": "non-contrastive",
    "redundancy-reduction": "non-contrastive",
    "masked-modelling": "masked", "masked-modeling": "masked", "masked-prediction": "masked",
    "generation": "generative", "reconstruction": "generative",
}

# method -> (family, why): the "why" is the hint a wrong answer gets.
METHOD_FAMILIES = {
    "SimCLR": ("contrastive", "SimCLR pulls two views together and pushes the batch's other views away: "
                              "it needs negatives"),
    "CLIP": ("contrastive", "CLIP contrasts each image with every caption of the batch (InfoNCE over "
                            "image-text pairs)"),
    "BYOL": ("non-contrastive", "BYOL has no negatives: a momentum teacher and a predictor with "
                                "stop-gradient keep it from collapsing"),
    "VICReg": ("non-contrastive", "VICReg has no negatives: variance and covariance terms keep the "
                                  "embeddings from collapsing"),
    "rotation": ("pretext", "predicting which of 4 rotations was applied is a hand-designed puzzle "
                            "with a free label"),
    "MAE": ("masked", "MAE hides patches of the image and predicts the hidden pixels"),
    "BERT": ("masked", "BERT hides 15% of the tokens and predicts them from both sides"),
    "DCGAN": ("generative", "a GAN learns to generate images; its discriminator's features are the "
                            "by-product"),
}


def check_ssl_family(answers: dict) -> bool:
    """``answers``: {method: family} for every key of ``METHOD_FAMILIES``; families from ``FAMILIES``
    (common spellings such as "masked modelling" or "self-distillation" are accepted)."""
    return _check_table("ssl_family", answers, METHOD_FAMILIES, FAMILIES, _FAMILY_ALIASES, item="method",
                        kind="family", no_answer="no family for",
                        invalid="is not one of the five families", invalid_hint=f"use one of {', '.join(FAMILIES)} (the table of section 2).",
                        ask="Ask where the targets come from and what stops the trivial solution.")


# ------------------------------------------------------------------------- SimCLR view pipeline

def _test_images(dataset: str, n: int, seed: int) -> torch.Tensor:
    """uint8 (n, C, S, S) noise images at the dataset's view size: every crop of them looks different."""
    from sslkit.augment import PRESETS

    c, s = PRESETS[dataset]["channels"], PRESETS[dataset]["size"]
    return torch.randint(0, 256, (n, c, s, s), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def check_two_views(two_views, dataset: str) -> bool:
    """``two_views(x, generator) -> (v1, v2)`` for a uint8 batch x (N, C, S, S) of ``dataset`` images.

    What a SimCLR view pipeline must do, each tested on its own: return two float views shaped like
    the network input (N, C, S, S); the two views differ (independent random draws); every image
    draws its own random parameters (N copies of one image give N different views); all randomness
    comes from ``generator`` (the same seed gives the same views); the views are normalised with the
    dataset's mean and std (a black image becomes (0 - mean) / std).
    """
    from sslkit.augment import PRESETS, STATS
    from sslkit.checks import check_choice

    name = "two_views"
    check_choice("dataset", dataset, PRESETS)
    c, s = PRESETS[dataset]["channels"], PRESETS[dataset]["size"]
    x = _test_images(dataset, 8, seed=0)

    def views(batch, seed):
        out = call(name, two_views, batch, torch.Generator().manual_seed(seed), what="two_views")
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(v, torch.Tensor) for v in out)):
            fail(name, f"expected a pair of tensors (v1, v2), got {type(out).__name__}.",
                 "end with `return aug(x, generator=generator), aug(x, generator=generator)`.")
        for v in out:
            if v.shape != (len(batch), c, s, s) or not v.is_floating_point():
                fail(name, f"a view is {v.dtype} {tuple(v.shape)}; the network takes float32 {(len(batch), c, s, s)}.",
                     f"augment.SimCLRAugment({s}, {c}, ...) turns uint8 images into float views of that shape.")
        return out

    v1, v2 = views(x, seed=0)
    if torch.allclose(v1, v2):
        fail(name, "the two views are identical.",
             "draw the second view with the same generator *after* the first (it has moved on); re-seeding "
             "or creating a new seeded generator per view repeats the same draws, and matching identical views "
             "teaches nothing.")
    w1, _ = views(x[:1].expand(8, -1, -1, -1).contiguous(), seed=0)
    if all(torch.allclose(w1[0], w) for w in w1[1:]):
        fail(name, "eight copies of one image got eight identical views: the whole batch shares one crop.",
             "each image must draw its own random parameters; SimCLRAugment does that in one call "
             "(don't pick one crop box and apply it to every image).")
    again, _ = views(x, seed=0)
    if not torch.allclose(v1, again):
        fail(name, "the same generator seed gave different views.",
             "pass generator=generator to every random call (the augmentation's __call__ takes it); "
             "randomness from the global RNG makes runs unrepeatable.")
    black, _ = views(torch.zeros_like(x), seed=1)
    mean, std = STATS[dataset]
    expected = torch.tensor([(0.0 - m) / sd for m, sd in zip(mean, std)]).view(1, c, 1, 1).expand_as(black)
    if not torch.allclose(black, expected, atol=1e-3):
        got = black.mean().item()
        fail(name, f"a black image gives views with mean {got:.3f}, not (0 - mean) / std = "
                   f"{expected.mean().item():.3f}.",
             f"normalise with the dataset's statistics: SimCLRAugment(..., mean={mean}, std={std}) "
             "(augment.STATS[dataset]); the network was trained on normalised inputs.")
    return passed(name)


__all__ = ["check_paradigm", "check_ssl_family", "check_two_views", "PARADIGMS", "PARADIGM_SCENARIOS",
           "FAMILIES", "METHOD_FAMILIES"]
