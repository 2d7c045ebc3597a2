"""Self-supervised methods behind one interface, and the registry every tool reads.

    method = build_method("byol", backbone, proj_hidden=512, proj_dim=128)
    views = method.views("fashion-mnist")    # the views it trains on (two, asymmetric, multi-crop...)
    loss = method(*views(x, generator=g))    # x: a uint8 batch (N, C, H, W)
    method.on_step(step, total)              # after each optimiser step: EMA / momentum-teacher updates
    features = method.encoder(x)             # the representation kept after pretraining

Modules, one family each: ``contrastive`` (SimCLR, MoCo), ``distillation`` (BYOL, SimSiam),
``redundancy`` (Barlow Twins, VICReg), ``dino`` (DINO, multi-crop), ``pretext`` (rotation, relative
position, masked autoencoder, DCGAN); ``base`` holds :class:`Method`, :class:`MomentumTeacher` and
:data:`METHODS`. A class registers itself when its module is imported; this file imports them all,
in the order tables list them. ``python -m sslkit methods`` prints the table of names, families,
papers and full recipes, from the classes.

Adding a method: a module here with a :class:`Method` subclass (name, display_name, family, paper,
HPARAMS, full_recipe, recipe_source, views if not two of the dataset's, forward), one import line
below, and its tests (tests/test_methods.py runs every registered method through training, the
command line and resume). Nothing else: config, compare, results and the notebooks read the class.

Layer: core. Imports the core modules below it (augment, checks, distributed, losses, models).
"""
from sslkit.methods.base import METHODS, Method, MomentumTeacher, cosine_momentum, ema_update, features_of
from sslkit.methods.contrastive import MoCo, SimCLR
from sslkit.methods.distillation import BYOL, SimSiam
from sslkit.methods.redundancy import BarlowTwins, VICReg
from sslkit.methods.dino import DINO, DINOHead
from sslkit.methods.pretext import DCGAN, MaskedAutoencoder, RelativePosition, Rotation

from sslkit.checks import check_choice as _check_choice

__all__ = ["METHODS", "Method", "MomentumTeacher", "build_method", "cosine_momentum", "ema_update", "features_of",
           "SimCLR", "MoCo", "BYOL", "SimSiam", "BarlowTwins", "VICReg", "DINO", "DINOHead", "Rotation",
           "RelativePosition", "MaskedAutoencoder", "DCGAN", "table"]


def build_method(name: str, encoder, **hparams) -> Method:
    """Method by name (see METHODS) around ``encoder``; ``hparams`` go to its constructor."""
    _check_choice("method", name, METHODS)
    return METHODS[name](encoder, **hparams)


def table(full: bool = False) -> str:
    """The registered methods as a Markdown table, from their classes: name, ``--method``, family, paper;
    ``full=True`` adds each one's full recipe (its changes to the ``full`` profile) and its source."""
    head = ["method", "`--method`", "family", "paper"]
    head += ["full recipe (changes to the `full` profile)"] if full else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name, cls in METHODS.items():
        cells = [cls.display_name, f"`{name}`", cls.family, cls.paper]
        if full:
            recipe = ", ".join(f"{k}={v}" for k, v in cls.full_recipe.items()) or "the profile's"
            cells.append(f"{recipe} ({cls.recipe_source})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
