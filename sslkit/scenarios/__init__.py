"""Scenarios: self-supervised learning applied to a problem, with its data and baselines.

    text          text encoders (TF-IDF, SimCSE trained here, pretrained MiniLM), few-label curves, zero-shot
    textdata      the offline text corpora (chatbot intents, human-rated sentiment)
    monitor       streaming alarms on a rate (EWMA, CUSUM), calibrated on a quiet period
    recsys        leave-last-out evaluation, popularity, implicit ALS, contrastive item embeddings
    recsys_data   MovieLens loaders
    lifecycle     parameter-efficient fine-tuning, few-shot prototypes, continual learning and replay

Layer: scenarios. May import the core (``sslkit.<module>``, ``sslkit.methods``) and each other;
never ``sslkit.teach`` or ``sslkit.tools``. A scenario whose packages come from an extra checks
for them on import (:func:`sslkit.checks.require_extra`), so a missing one fails with the pip command
that adds it.
"""
