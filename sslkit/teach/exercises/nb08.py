"""Checks for notebook 08 (recommendation): ranking metrics for one user, and a top-K that never
recommends what the user has already seen. Each check runs the learner's function on a few
hand-made cases and compares it with ``sslkit.scenarios.recsys``."""
from __future__ import annotations

import numpy as np
import torch

from sslkit.scenarios import recsys
from sslkit.teach.exercises._core import ExerciseError, passed

# (ranked list best first, relevant items, k)
_CASES = [([3, 1, 2], {1}, 3), ([3, 1, 2], {1}, 1), ([0, 5, 4, 9], {7}, 4), ([7, 8, 9], {7}, 3),
          ([1, 2, 3, 4], {2, 4, 9}, 4), ([5, 6, 7, 8, 9], {9, 5}, 5), ([5, 6, 7, 8, 9], {9, 5}, 2)]


def _check_metric(name, fn, reference, hint):
    if not callable(fn):
        raise ExerciseError(f"{name}: pass your function itself (got {type(fn).__name__}). Hint: {hint}")
    for ranked, relevant, k in _CASES:
        expected = float(reference([ranked[:k]], [relevant])[0])
        try:
            got = float(fn(list(ranked), set(relevant), k))
        except Exception as e:  # the learner's code failed: say on which input
            raise ExerciseError(f"{name}: your function raised {type(e).__name__}: {e} on ranked={ranked}, "
                                f"relevant={sorted(relevant)}, k={k}. Hint: {hint}") from e
        if not np.isclose(got, expected, atol=1e-6):
            raise ExerciseError(f"{name}: for ranked={ranked}, relevant={sorted(relevant)}, k={k} you return "
                                f"{got:.4f}, expected {expected:.4f}. Hint: {hint}")
    return passed(name)


def check_recall_at_k(fn) -> bool:
    """``fn(ranked, relevant, k)`` -> Recall@k of one user: ranked item ids (best first), a set of relevant ids."""
    return _check_metric("recall_at_k", fn, recsys.recall_at_k,
                         "count the relevant items among ranked[:k] and divide by len(relevant)")


def check_ndcg_at_k(fn) -> bool:
    """``fn(ranked, relevant, k)`` -> NDCG@k of one user."""
    return _check_metric("ndcg_at_k", fn, recsys.ndcg_at_k,
                         "a hit at rank r (1-based) adds 1 / log2(r + 1); divide by the same sum for a "
                         "perfect list, which has its min(k, len(relevant)) hits at ranks 1, 2, ...")


def check_recommend(fn) -> bool:
    """``fn(scores, seen, k)`` -> the k best item indices (best first) for one user, none of them in ``seen``."""
    name, hint = "recommend", ("set the scores of the seen items to -inf (on a copy), then take the k largest; "
                               "torch.topk or torch.argsort(descending=True) both work")
    g = torch.Generator().manual_seed(8)
    cases = [(torch.tensor([0.9, 0.8, 0.1, 0.5]), [0], 2), (torch.tensor([0.0, 0.3, 0.2, 0.4, 1.0]), [4, 3], 3)]
    cases += [(torch.randn(50, generator=g), torch.randperm(50, generator=g)[:20].tolist(), 10)]
    for scores, seen, k in cases:
        before = scores.clone()
        try:
            got = torch.as_tensor(fn(scores, list(seen), k)).flatten().tolist()
        except Exception as e:
            raise ExerciseError(f"{name}: your function raised {type(e).__name__}: {e}. Hint: {hint}") from e
        if not torch.equal(scores, before):
            raise ExerciseError(f"{name}: your function changed the scores it was given; work on a copy "
                                "(scores.clone()). Hint: " + hint)
        expected = recsys.top_k(scores.unsqueeze(0), k, exclude=[seen])[0].tolist()
        if set(got) & set(seen):
            raise ExerciseError(f"{name}: you recommend already-seen item(s) {sorted(set(got) & set(seen))}. "
                                f"Hint: {hint}")
        if got != expected:
            raise ExerciseError(f"{name}: for scores={[round(s, 2) for s in scores.tolist()][:8]}..., seen={seen}, "
                                f"k={k} you return {got}, expected {expected}. Hint: {hint}")
    return passed(name)
