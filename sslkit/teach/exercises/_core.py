"""What every exercise check shares: the verdict, a tolerant comparison, and named mistakes.

    from sslkit.teach.exercises._core import ExerciseError, close, passed, fail, call, mistake_hint

``close`` compares numbers/arrays/tensors; ``call`` runs a learner's function and turns its
crash into a verdict; ``mistake_hint`` recognises a known wrong answer (e.g. "the diagonal was not
masked") by computing what that mistake gives, so the hint says what went wrong, not just that
something did.
"""
from __future__ import annotations


class ExerciseError(AssertionError):
    """A learner's answer is not right yet; the message says what differs and gives a hint."""


def passed(name: str) -> bool:
    print(f"✓ {name}: correct")
    return True


def fail(name: str, message: str, hint: str) -> None:
    """Raise the verdict for a wrong answer: what is wrong, then the hint."""
    raise ExerciseError(f"{name}: {message} Hint: {hint}")


def _as_array(v):
    import numpy as np

    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=float)


def same(answer, expected, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """True when ``answer`` has ``expected``'s shape and values (within the tolerances); never raises."""
    import numpy as np

    try:
        a, e = _as_array(answer), _as_array(expected)
    except (TypeError, ValueError):
        return False
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol))


def close(name: str, answer, expected, hint: str, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Check ``answer`` against ``expected`` (numbers, arrays or tensors) and report.

    Raises ExerciseError naming the exercise, the shape or value mismatch and ``hint``.
    """
    import numpy as np

    if answer is None:
        raise ExerciseError(f"{name}: the answer is None — did the solution cell return or assign it? Hint: {hint}")
    try:
        a = _as_array(answer)
    except (TypeError, ValueError):
        raise ExerciseError(f"{name}: expected numbers, got {type(answer).__name__}. Hint: {hint}") from None
    e = _as_array(expected)
    if a.shape != e.shape:
        raise ExerciseError(f"{name}: expected shape {e.shape}, got {a.shape}. Hint: {hint}")
    if not np.all(np.isfinite(a)) and np.all(np.isfinite(e)):
        raise ExerciseError(f"{name}: the answer contains nan or inf. Hint: {hint}")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e))) if a.size else 0.0
        raise ExerciseError(f"{name}: values differ from the reference (largest difference {worst:.4g}). Hint: {hint}")
    return passed(name)


def call(name: str, fn, *args, what: str = "your function", **kwargs):
    """``fn(*args, **kwargs)``, with a learner's crash turned into an ExerciseError that names the call."""
    if not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__}. Hint: pass the function "
                            f"itself (its name, without parentheses).")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError(f"{name}: {what} is not written yet (it raises NotImplementedError). "
                            f"Hint: replace the stub in the solution cell with your answer.") from None
    except Exception as e:  # any crash of the learner's code is a verdict, with the original error kept
        shapes = ", ".join(str(tuple(a.shape)) if hasattr(a, "shape") else type(a).__name__ for a in args)
        raise ExerciseError(f"{name}: {what} raised {type(e).__name__}: {e} (called with {shapes}). "
                            f"Hint: run it on the inputs shown and read the traceback above.") from e


def mistake_hint(answer, mistakes: dict, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """The hint of the first known mistake whose result ``answer`` reproduces, else None.

    ``mistakes``: {description: (value the mistake gives, hint)}; the hint returned starts with the
    description ("it looks like <description>: <hint>").
    """
    for description, (value, hint) in mistakes.items():
        if same(answer, value, rtol=rtol, atol=atol):
            return f"it looks like {description}: {hint}"
    return None


def describe(v) -> str:
    """A short rendering of an answer for a message: '0.12346' for one number, else its type and shape."""
    try:
        a = _as_array(v)
    except (TypeError, ValueError):
        return type(v).__name__
    return f"{float(a.reshape(-1)[0]):.5g}" if a.size == 1 else f"{type(v).__name__} of shape {a.shape}"


def normalise_word(text) -> str:
    """'Self-Supervised ' -> 'self-supervised': case, surrounding space and inner spaces/underscores."""
    return "-".join(str(text).strip().lower().replace("_", " ").split())
