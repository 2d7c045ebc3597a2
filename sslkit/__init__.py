"""sslkit: self-supervised learning, taught by doing it for real.

The package is four layers; each imports only the ones before it (tests/test_architecture.py):

    core (this folder)   checks, paths, config, data, image_folder, augment, models, losses, methods/ (one
                         module per family, the registry), distributed, train, evaluate, finetune, io, progress
    scenarios/           text, recommendation, streaming monitors, the model lifecycle
    teach/               what the notebooks use: setup, figures, widgets, exercises, classroom copies
    tools/               the command line (python -m sslkit ...), benchmarks, comparisons, result tables

Start with ``sslkit.train.pretrain(sslkit.config.resolve("quick"))`` or ``python -m sslkit --help``.
"""

__version__ = "0.1.0"
