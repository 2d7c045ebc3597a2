"""What every exercise check shares: the verdict and a tolerant comparison."""
from __future__ import annotations


class ExerciseError(AssertionError):
    """A learner's answer is not right yet; the message says what differs and gives a hint."""


def passed(name: str) -> bool:
    print(f"✓ {name}: correct")
    return True


def close(name: str, answer, expected, hint: str, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Check ``answer`` against ``expected`` (numbers, arrays or tensors) and report.

    Raises ExerciseError naming the exercise, the shape or value mismatch and ``hint``.
    """
    import numpy as np

    def as_array(v):
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        return np.asarray(v, dtype=float)

    if answer is None:
        raise ExerciseError(f"{name}: the answer is None — did the solution cell return or assign it? Hint: {hint}")
    a, e = as_array(answer), as_array(expected)
    if a.shape != e.shape:
        raise ExerciseError(f"{name}: expected shape {e.shape}, got {a.shape}. Hint: {hint}")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e))) if a.size else 0.0
        raise ExerciseError(f"{name}: values differ from the reference (largest difference {worst:.4g}). Hint: {hint}")
    return passed(name)
