"""Checks for the notebooks' exercises: ``sslkit.teach.exercises.check_<name>(answer)``.

Each notebook's exercises follow one layout (tests and ``make-student-copies`` rely on it):

1. a markdown cell whose first line is ``### Exercise: <title>`` stating the task;
2. a code cell tagged ``solution`` holding the instructor's answer (student copies replace its
   body with a ``raise NotImplementedError`` stub that names the exercise);
3. a code cell calling ``sslkit.teach.exercises.check_<name>(...)`` on what the solution cell defined.

A check prints ``✓ <name>: correct`` when the answer is right and raises :class:`ExerciseError`
with a hint when it is not, so a wrong answer stops a papermill run at the exercise.

One module per topic (``nb02.py``, ``nb06.py``, ...); every public ``check_*`` function in them
is re-exported here, so notebooks only ever write ``from sslkit.teach.exercises import check_x``.
"""
from __future__ import annotations

import importlib
import pkgutil

from sslkit.teach.exercises._core import ExerciseError, close, passed  # noqa: F401


def _collect() -> dict:
    checks = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name in dir(module):
            if name.startswith("check_"):
                if name in checks and checks[name] is not getattr(module, name):
                    raise ImportError(f"two exercise modules define {name}")
                checks[name] = getattr(module, name)
    return checks


CHECKS = _collect()
globals().update(CHECKS)
__all__ = ["ExerciseError", "close", "passed", "CHECKS", *CHECKS]
