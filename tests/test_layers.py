"""The layout's rules, read from the code's own imports (``ast``, every import statement,
also those inside functions): no import cycle, no import from a lower layer to a higher
one, and no torch below the measurement harness.

Layers, lowest first (docs/architecture.md draws them): a module may import its own layer
and the layers below it, never one above.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "scalecmp"

#: (layer, module-name prefixes); the first matching prefix (longest first) decides
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("scalecmp.errors", "scalecmp.validate", "scalecmp.format", "scalecmp.intervals")),
    (1, ("scalecmp.files", "scalecmp.io")),
    (2, ("scalecmp.engine",)),
    (3, ("scalecmp.compare", "scalecmp.optimal", "scalecmp.holdout", "scalecmp.acquire",
         "scalecmp.seeds")),
    (4, ("scalecmp.plots",)),
    (5, ("scalecmp.report",)),
    (6, ("scalecmp.experiments",)),
    (7, ("scalecmp.cli", "scalecmp.__main__", "scalecmp.__init__")),
]

#: the analysis core: everything but the measurement harness (and the command line that
#: reaches it lazily); none of it may import torch
HARNESS = ("scalecmp.experiments", "scalecmp.cli.grid")
#: harness modules that must stay torch-free (planning and storage of grids)
TORCH_FREE_HARNESS = ("scalecmp.experiments.spec", "scalecmp.experiments.plan",
                      "scalecmp.experiments.store", "scalecmp.experiments.shards")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The scalecmp modules a file imports (a name imported from a package counts as its
    submodule when there is one), and every other top-level package it imports."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in known else node.module)
    return out


def layer_of(module: str) -> int:
    best = None
    for layer, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None
                                                                 or len(p) > len(best[1])):
                best = (layer, p)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[0]


def graph() -> dict[str, set[str]]:
    mods = all_modules()
    known = set(mods)
    return {m: {i for i in imports_of(p, known) if i in known and i != m}
            for m, p in mods.items()}


def test_every_module_has_a_layer():
    for m in all_modules():
        layer_of(m if m != "scalecmp" else "scalecmp.__init__")


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = []
    for m, deps in graph().items():
        here = layer_of(m if m != "scalecmp" else "scalecmp.__init__")
        upward += [f"{m} (layer {here}) -> {d} (layer {layer_of(d)})"
                   for d in sorted(deps) if layer_of(d) > here]
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def _cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(g.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = _cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    """The check itself can fail."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_analysis_core_names_no_torch():
    mods = all_modules()
    offenders = []
    for m, p in mods.items():
        if m.startswith(HARNESS) and m not in TORCH_FREE_HARNESS:
            continue
        names = imports_of(p, set(mods))
        offenders += [f"{m} imports {n}" for n in names
                      if n.split(".")[0] in ("torch", "torchvision", "open_clip")]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("what", ["analysis", "grid planning"])
def test_importing_loads_no_torch(what):
    mods = all_modules()
    if what == "analysis":
        names = [m for m in mods if not m.startswith(HARNESS) and m != "scalecmp.__main__"]
    else:
        names = list(TORCH_FREE_HARNESS)
    code = ("import importlib, sys\n"
            f"for m in {names!r}: importlib.import_module(m)\n"
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    rc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert rc.returncode == 0, f"importing the {what} modules loaded torch:\n{rc.stderr}"


def test_analysis_modules_load_no_figure_or_report_code():
    """The analysis never loads the figures, the reports, or matplotlib."""
    analysis = ("scalecmp.engine", "scalecmp.compare", "scalecmp.optimal", "scalecmp.holdout",
                "scalecmp.acquire", "scalecmp.seeds", "scalecmp.format", "scalecmp.intervals")
    code = (
        "import sys\n"
        f"for m in {analysis!r}:\n"
        "    __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in (['scalecmp', 'plots'],"
        " ['scalecmp', 'report']) or m == 'matplotlib')\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
