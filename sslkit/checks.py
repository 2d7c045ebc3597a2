"""Argument validation: every check raises ``ValueError`` saying what was wrong and what is valid.

    check_choice("method", "swav", METHODS)       # unknown method 'swav'; valid methods: simclr, moco, ...
    check_positive("batch_size", 0)               # batch_size must be > 0, got 0
    check_number("momentum", 1.0, 0, 1, high_open=True)   # momentum must be in [0, 1), got 1.0
    device = resolve_device("auto")               # cuda when available, else cpu

So a typo in a notebook's parameter cell or on the command line fails at once, with the valid
values in the message. The one module every layer uses for this; it imports nothing of sslkit.
"""
from __future__ import annotations

import importlib.util
import math
import numbers
import sys
from typing import Any, Iterable


def check_choice(what: str, value: Any, valid: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``valid``; otherwise raise a ValueError listing them."""
    valid = list(valid)
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid {what}s: {', '.join(map(str, valid))}")
    return value


def check_positive(what: str, value: Any, *, integer: bool = True, allow_zero: bool = False) -> Any:
    """Return ``value`` if it is a positive number (an int when ``integer``; >= 0 with ``allow_zero``)."""
    kind = "integer" if integer else "number"
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok_type:
        raise ValueError(f"{what} must be a {'non-negative' if allow_zero else 'positive'} {kind}, "
                         f"got {value!r} ({type(value).__name__})")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


def check_number(what: str, value: Any, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number within [low, high] (an end is excluded when
    ``low_open`` / ``high_open``; None: unbounded); else a ValueError that states the interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r} ({type(value).__name__})")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        if high is None:
            bound = f"{'>' if low_open else '>='} {low:g}"
        elif low is None:
            bound = f"{'<' if high_open else '<='} {high:g}"
        else:
            bound = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{what} must be {bound}, got {value!r}")
    return float(value)


def check_prob(what: str, p: Any) -> float:
    """A probability: a number in [0, 1]."""
    return check_number(what, p, 0.0, 1.0)


def check_fraction(what: str, value: Any, *, inclusive_high: bool = True) -> float:
    """A fraction of something: 0 < value <= 1 (< 1 unless ``inclusive_high``)."""
    return check_number(what, value, 0.0, 1.0, low_open=True, high_open=not inclusive_high)


def check_bool(what: str, value: Any) -> bool:
    """True or False, nothing else (a string 'no' is truthy, so it would silently mean yes)."""
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be True or False, got {value!r}")
    return value


def check_range(what: str, r: Any, lo_min: float, hi_max: float, *, strict_lo: bool) -> tuple[float, float]:
    """A pair (lo, hi) with lo_min (< or <=) lo <= hi <= hi_max, e.g. a crop-scale range."""
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (lo, hi) of numbers, got {r!r}") from None
    ok_lo = lo > lo_min if strict_lo else lo >= lo_min
    if not (ok_lo and lo <= hi <= hi_max):
        rel = "<" if strict_lo else "<="
        raise ValueError(f"{what} must satisfy {lo_min:g} {rel} lo <= hi <= {hi_max:g}, got {r!r}")
    return lo, hi


def check_betas(betas: Any) -> tuple:
    """AdamW's (beta1, beta2) as a tuple of floats in [0, 1) (JSON and papermill hand over lists)."""
    if (isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2
            or not all(isinstance(b, numbers.Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise ValueError(f"betas must be two numbers in [0, 1) (AdamW's beta1, beta2), e.g. (0.9, 0.999); "
                         f"got {betas!r}")
    return tuple(float(b) for b in betas)


def resolve_device(device: str = "auto"):
    """'auto' -> cuda when available, else cpu; 'cpu', 'cuda', 'cuda:N' as given. An unavailable or
    malformed request fails with a message that says what works here."""
    import torch

    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use device='cpu' or 'auto'")
    return torch.device(device)


def require_extra(extra: str, *modules: str) -> None:
    """ImportError naming ``pip install 'sslkit[<extra>]'`` unless every one of ``modules`` is installed
    (checked without importing them: their import can take seconds). For modules whose packages come
    from an optional extra of pyproject.toml."""
    missing = [m for m in modules if not _installed(m)]
    if missing:
        raise ImportError(f"this part of sslkit needs the '{extra}' extra ({', '.join(missing)} not installed): "
                          f"pip install -e '.[{extra}]' in the sslkit checkout (`make install` installs every extra)")


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None  # None: an import that is blocked
    return importlib.util.find_spec(module) is not None
