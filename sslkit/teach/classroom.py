"""Student copies of the notebooks: solutions replaced by stubs, outputs cleared.

    python -m sslkit make-student-copies --out handout/                       # every notebook
    python -m sslkit make-student-copies --out handout/ --only 02,03 --instructor key/

The committed notebooks are the instructor copies: solutions filled in, executed in the quick
profile, every check passing. A student copy is the same notebook with the body of every
``solution``-tagged cell replaced by a stub that says what to define and raises
``NotImplementedError("Exercise: <title> — write your answer here")``, every output cleared and the
execution counts reset. Run top to bottom, it stops at the first exercise; once the learner's
answer is in, the check cell below it says whether it is right (``sslkit.teach.exercises``).

The exercise layout (see ``sslkit.teach.exercises``) is validated here, and a notebook that breaks it
is refused rather than handed out with a solution left in.
"""
from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from sslkit.teach.notebooks import NOTEBOOK_DIR, select

HEADING = re.compile(r"^###\s+Exercise:\s*(?P<title>\S.*?)\s*$")
CHECK_CALL = re.compile(r"\b(?P<check>check_\w+)\s*\(")
SOLUTION_TAG = "solution"


@dataclass
class Exercise:
    title: str
    markdown_cell: int   # index of the "### Exercise: <title>" cell
    solution_cell: int   # index of the code cell tagged "solution"
    check_cell: int      # index of the code cell calling sslkit.teach.exercises.check_<name>(...)
    check: str           # "check_<name>"


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def _title(cell) -> str | None:
    if cell.cell_type != "markdown" or not cell.source.strip():
        return None
    m = HEADING.match(cell.source.strip().splitlines()[0])
    return m.group("title") if m else None


def layout_problems(nb) -> list[str]:
    """What breaks the exercise layout (markdown heading -> solution cell -> check cell), one line each."""
    problems = []
    cells = nb.cells
    for i, cell in enumerate(cells):
        title = _title(cell)
        if title is not None:
            sol = cells[i + 1] if i + 1 < len(cells) else None
            if sol is None or sol.cell_type != "code" or SOLUTION_TAG not in _tags(sol):
                problems.append(f"cell {i} ({title!r}): the next cell must be a code cell tagged {SOLUTION_TAG!r}")
                continue
            chk = cells[i + 2] if i + 2 < len(cells) else None
            if chk is None or chk.cell_type != "code" or not CHECK_CALL.search(chk.source):
                problems.append(f"cell {i + 2} ({title!r}): the cell after the solution must call "
                                f"sslkit.teach.exercises.check_<name>(...)")
        if SOLUTION_TAG in _tags(cell):
            if cell.cell_type != "code":
                problems.append(f"cell {i}: only code cells can be tagged {SOLUTION_TAG!r}")
            elif i == 0 or _title(cells[i - 1]) is None:
                buried = i > 0 and cells[i - 1].cell_type == "markdown" and "### Exercise:" in cells[i - 1].source
                problems.append(f"cell {i}: a {SOLUTION_TAG!r} cell must follow a markdown cell whose first line is "
                                f"'### Exercise: <title>'" + (f" (cell {i - 1} has the heading further down: "
                                                               "split it so the heading starts a cell)" if buried else ""))
    return problems


def exercises(nb) -> list[Exercise]:
    """The notebook's exercises in order (only complete ones; ``layout_problems`` reports the rest)."""
    found = []
    for i, cell in enumerate(nb.cells[:-2]):
        title = _title(cell)
        sol, chk = nb.cells[i + 1], nb.cells[i + 2]
        if (title is not None and sol.cell_type == "code" and SOLUTION_TAG in _tags(sol)
                and chk.cell_type == "code" and CHECK_CALL.search(chk.source)):
            found.append(Exercise(title, i, i + 1, i + 2, CHECK_CALL.search(chk.source).group("check")))
    return found


def _defines(source: str) -> list[str]:
    """What a solution cell must define: its top-level functions ('f(a, b): first docstring line'),
    or, when it defines none, its top-level names ('answer (a str)'). Helpers of a function are
    left out: they are one way to write it, not part of the task."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics or a broken cell: no description, the stub still works
        return []
    functions = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = (ast.get_docstring(node) or "").strip().splitlines()
            functions.append(f"{node.name}({ast.unparse(node.args)})" + (f": {doc[0].rstrip('.')}" if doc else ""))
    if functions:
        return functions
    kinds = {ast.Dict: "a dict", ast.List: "a list", ast.Tuple: "a tuple", ast.Lambda: "a function"}
    names = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            kind = kinds.get(type(node.value))
            if kind is None and isinstance(node.value, ast.Constant):
                kind = f"a {type(node.value.value).__name__}"
            names += [f"{n.id} ({kind})" if kind else n.id
                      for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names


def stub(title: str, solution_source: str) -> str:
    """The student's version of a solution cell: what to define, then a NotImplementedError."""
    defines = [f"# Define {d}" for d in _defines(solution_source)] or ["# Write your answer here."]
    return "\n".join([f"# Exercise: {title}", *defines,
                      "# (replace these lines; the check in the next cell tells you whether your answer is right)",
                      f'raise NotImplementedError("Exercise: {title} — write your answer here")'])


def student_copy(nb):
    """A copy of ``nb`` with solution cells stubbed, outputs and execution counts cleared, papermill and
    widget state dropped. Raises ValueError if the exercise layout is broken."""
    problems = layout_problems(nb)
    if problems:
        raise ValueError("the exercise layout is broken: " + "; ".join(problems))
    nb = nbformat.from_dict(nb)  # deep copy
    titles = {ex.solution_cell: ex.title for ex in exercises(nb)}
    cells = []
    for i, cell in enumerate(nb.cells):
        if "injected-parameters" in _tags(cell):  # a papermill artefact, not part of the lesson
            continue
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if i in titles:
                cell.source = stub(titles[i], cell.source)
        cells.append(cell)
    nb.cells = cells
    for key in ("widgets", "papermill"):
        nb.metadata.pop(key, None)
    return nb


def make_student_copies(out, only: str | None = None, instructor=None, directory: Path = NOTEBOOK_DIR,
                        log=print) -> list[dict]:
    """Write the student copy of every selected notebook to ``out`` (and, with ``instructor``, the
    committed notebooks, solutions and outputs included, to that directory). Returns one record per
    notebook: name, number of exercises."""
    out = Path(out).resolve()
    book_dir = Path(directory).resolve()
    for what, path in (("--out", out), ("--instructor", Path(instructor).resolve() if instructor else None)):
        if path is not None and path == book_dir:
            raise ValueError(f"{what} {path} is the notebooks directory itself: choose another directory, "
                             "the committed notebooks are the instructor copies")
    if instructor and Path(instructor).resolve() == out:
        raise ValueError("--out and --instructor must be different directories")
    books = select(only, directory)
    copies, broken = [], []
    for book in books:  # validate every notebook before writing anything
        try:
            copies.append((book, student_copy(nbformat.read(book, as_version=4))))
        except ValueError as e:
            broken.append(f"{book.name}: {e}")
    if broken:
        raise ValueError("no copies written; " + "\n".join(broken))
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for book, copy in copies:
        nbformat.write(copy, out / book.name)
        if instructor:
            Path(instructor).mkdir(parents=True, exist_ok=True)
            shutil.copy2(book, Path(instructor) / book.name)
        n = len(exercises(copy))
        records.append({"notebook": book.name, "exercises": n})
        log(f"{book.name}: {n} exercise{'s' if n != 1 else ''} stubbed")
    total = sum(r["exercises"] for r in records)
    log(f"wrote {len(records)} student notebook(s) with {total} exercises to {out}"
        + (f"; instructor copies (solutions, executed) to {Path(instructor).resolve()}" if instructor else ""))
    return records
