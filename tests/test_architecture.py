"""The package's layers import one way and in no circle.

    sslkit/             core: config, data, augment, models, losses, methods/, train, evaluate, finetune, ...
    sslkit/scenarios/   may import the core
    sslkit/teach/       may import the core and the scenarios
    sslkit/tools/       may import all three (the command line runs notebooks, benchmarks, comparisons)

Every import counts, at module level or inside a function: an import deferred into a function still
runs, and a circle of deferred imports is still a circle. The checker reads the source (ast), so it
also runs on a copy of the tree with a planted violation, which it must catch.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sslkit"
MAY_IMPORT = {"core": {"core"}, "scenarios": {"core", "scenarios"}, "teach": {"core", "scenarios", "teach"},
              "tools": {"core", "scenarios", "teach", "tools"}}
ENTRY_POINTS = {"sslkit.__main__": "tools"}  # `python -m sslkit` is the command line


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its __init__)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def layer(module: str) -> str:
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else "core"


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported sslkit module, line) for every import statement in the file, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # sslkit.methods.base.Method -> sslkit.methods.base
                name = name.rpartition(".")[0]
            if name.startswith("sslkit") and name != module:
                found.append((name, node.lineno))
    return found


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import against the layer order, and every circle of imports, as readable lines."""
    known = modules(package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    problems = []
    for module, path in known.items():
        for target, line in imports(module, path, known):
            graph[module].add(target)
            if layer(target) not in MAY_IMPORT[layer(module)]:
                problems.append(f"{path.relative_to(package.parent)}:{line} imports {target} "
                                f"({layer(module)} may not import {layer(target)})")
    problems += [f"import cycle: {' -> '.join(c + [c[0]])}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_imports_follow_the_layers_and_form_no_cycle():
    assert violations() == []


def test_the_checker_catches_a_planted_violation_and_a_planted_cycle(tmp_path):
    tree = tmp_path / "sslkit"
    shutil.copytree(PACKAGE, tree, ignore=shutil.ignore_patterns("__pycache__"))
    with open(tree / "data.py", "a") as f:  # core reaching up into the tools, inside a function
        f.write("\n\ndef _planted():\n    from sslkit.tools import cli\n    return cli\n")
    with open(tree / "io.py", "a") as f:  # io <- train already; io -> train closes a circle
        f.write("\nfrom sslkit import train  # noqa\n")
    found = violations(tree)
    assert any(v.startswith("sslkit/data.py:") and "imports sslkit.tools.cli (core may not import tools)" in v
               for v in found), found
    assert any(v.startswith("import cycle:") and "sslkit.io" in v and "sslkit.train" in v for v in found), found


@pytest.mark.parametrize("sub", ["methods", "scenarios", "teach", "tools"])
def test_every_subpackage_says_what_lives_there_and_what_it_may_import(sub):
    doc = ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text())) or ""
    assert "Layer:" in doc and "import" in doc.split("Layer:")[1].lower(), sub
    for path in (PACKAGE / sub).glob("*.py"):
        if path.name != "__init__.py":
            assert path.stem in doc, f"{sub}/__init__.py does not mention {path.stem}"


def test_the_package_docstring_names_the_layers():
    import sslkit

    for sub in ("scenarios", "teach", "tools", "methods"):
        assert sub in sslkit.__doc__
