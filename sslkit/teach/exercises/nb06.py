"""Checks for notebook 06 (customer service): a TF-IDF vector by hand, zero-shot routing by cosine
similarity, and balanced accuracy."""
from __future__ import annotations

import numpy as np

from sslkit.teach.exercises._core import call, describe, fail, mistake_hint, passed, same

TFIDF_SENTENCES = ("can you write a python function to sort a list?",
                   "do you play soccer or basketball?",
                   "Who wrote Frankenstein? Who wrote it, really?")


def check_tfidf_vector(fn, tfidf) -> bool:
    """``fn(sentence) -> (V,)`` array: the sentence's TF-IDF vector under the fitted
    :class:`sslkit.scenarios.text.TfidfEncoder` ``tfidf``: for each vocabulary word w of the sentence,
    (1 + log count(w)) * idf(w), then the vector divided by its L2 norm."""
    from sslkit.scenarios.text import words

    name = "tfidf_vector"
    vec = tfidf.vectorizer
    vocab, idf = vec.vocabulary_, vec.idf_
    for sentence in TFIDF_SENTENCES:
        got = call(name, fn, sentence, what="your tfidf_vector")
        ref = tfidf.encode([sentence]).toarray()[0]
        if same(got, ref, atol=1e-6):
            continue
        counts = np.zeros(len(vocab))
        for w in words(sentence):
            if w in vocab:
                counts[vocab[w]] += 1
        sub = np.where(counts > 0, 1 + np.log(np.maximum(counts, 1)), 0.0)

        def unit(v):
            return v / (np.linalg.norm(v) or 1.0)

        hint = mistake_hint(got, {
            "the vector was not L2-normalised": (sub * idf, "divide by np.linalg.norm of the vector at the end."),
            "raw counts were used instead of 1 + log(count)": (unit(counts * idf),
                                                               "the encoder uses sublinear tf: 1 + log(count) "
                                                               "for words that occur (a repeated word counts less)."),
            "the IDF weights were left out": (unit(sub), "multiply each word's tf by tfidf.vectorizer.idf_[index]."),
        }) or ("tokenise with sslkit.scenarios.text.words(sentence), skip words missing from tfidf.vectorizer.vocabulary_, "
               "and return a dense vector of length len(vocabulary_).")
        fail(name, f"got {describe(got)} for {sentence!r}; expected a vector of shape {ref.shape}.", hint)
    return passed(name)


def check_route(fn, message_feats, description_feats) -> bool:
    """``fn(message_feats, description_feats) -> (N,)`` intent indices: for each message (row of an
    (N, D) tensor), the description (row of a (K, D) tensor) with the highest cosine similarity."""
    import torch

    from sslkit.scenarios.text import zero_shot

    name = "route"
    m, d = torch.as_tensor(message_feats).float(), torch.as_tensor(description_feats).float()
    # rescale rows so that an un-normalised dot product picks differently from the cosine
    scale = torch.linspace(0.2, 5.0, len(d)).unsqueeze(1)
    for msgs, descs in ((m, d), (m, d * scale)):
        got = call(name, fn, msgs.clone(), descs.clone(), what="your route")
        ref = zero_shot(msgs, descs)
        if same(got, ref):
            continue
        dot = (msgs @ descs.T).argmax(1).numpy()
        hint = mistake_hint(got, {
            "the rows were not normalised (a plain dot product)": (
                dot, "cosine = dot product of unit vectors; a long description vector must not win for its length."),
            "the argmax ran over the messages (dim 0)": (
                (torch.nn.functional.normalize(msgs, dim=1) @ torch.nn.functional.normalize(descs, dim=1).T)
                .argmax(0).numpy(), "one answer per message: argmax over the descriptions, dim=1."),
        }) or "normalise both with torch.nn.functional.normalize(x, dim=1), multiply m @ d.T, take argmax(dim=1)."
        fail(name, f"got {describe(got)}, expected {len(ref)} intent indices.", hint)
    return passed(name)


def check_balanced_accuracy(fn) -> bool:
    """``fn(y_true, y_pred) -> float``: the mean over classes (those present in ``y_true``) of the
    fraction of that class's examples predicted correctly (the recall of each class)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    name = "balanced_accuracy"
    rng = np.random.default_rng(6)
    y_true = np.array([0] * 30 + [1] * 5 + [2] * 5)
    cases = [(y_true, np.zeros(40, dtype=int)), (y_true, rng.integers(0, 3, 40)),
             (rng.integers(0, 4, 50), rng.integers(0, 4, 50))]
    for t, p in cases:
        got = call(name, fn, t.copy(), p.copy(), what="your balanced_accuracy")
        ref = balanced_accuracy_score(t, p)
        if same(got, ref):
            continue
        hint = mistake_hint(got, {
            "this is the plain accuracy": (accuracy_score(t, p), "average the per-class recalls, so that each class "
                                                                 "counts equally however many examples it has."),
        }) or "for each class c in np.unique(y_true): mean(y_pred[y_true == c] == c); then the mean of those."
        fail(name, f"got {describe(got)}, expected {ref:.4f} (on {len(t)} examples).", hint)
    return passed(name)
