"""sslkit: self-supervised learning, taught by doing it for real.

Modules (one concern each):
    config    profiles and argument validation
    data      datasets -> uint8 tensors, splits, label subsets, device-resident batches
    augment   batched per-sample augmentation on CPU or GPU
    models    backbones and heads
    losses    contrastive losses
    methods   SSL methods behind one interface: loss = method(x1, x2)
    train     pretraining / supervised loops with checkpoint and resume
    evaluate  features, kNN, linear probe, reports
    io        atomic writes and safe checkpoint loading
    cli       python -m sslkit ...
"""

__version__ = "0.1.0"
