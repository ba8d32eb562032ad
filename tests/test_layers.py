"""Imports point one way: from the applications down to the engines, never up, never in a circle.

Every module under ``src/expguard`` is read with ``ast``; every import counts, at module level,
inside a function or under ``if TYPE_CHECKING:`` (deferring an import hides a circle, it does not
remove it). A module may import its own layer package and lower ranks only; importing another
package of the same rank is refused too (``apps/report`` must not import ``apps/diagnosis``,
``models`` must not import ``inputs``). See docs/architecture.md.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

#: The layers (first folder under the package) and their ranks; the top (the package's
#: ``__init__.py``, ``cli.py``, ``__main__.py``) is above them all.
RANKS = {
    "core": 0,
    "settings": 1,
    "sql": 1,
    "engines": 2,
    "inputs": 3,
    "models": 3,
    "outputs": 3,
    "runner": 4,
    "apps": 5,
}
TOP_RANK = 6
TOP_MODULES = ("cli", "__main__")
#: Layers whose sub-packages are separate packages of the same rank (apps/report, apps/diagnosis...).
SPLIT_LAYERS = ("apps",)


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (a folder under ``root``), by dotted name."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The module that ``target`` names: itself, or its nearest enclosing module we know."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def import_edges(root: Path, package: str) -> list[tuple[str, str, str, int]]:
    """``(importer, imported, file, line)`` for every import of one module of ``package`` by another."""
    modules = module_names(root, package)
    edges = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    full = ".".join(base + ([node.module] if node.module else []))
                else:
                    full = node.module or ""
                for alias in node.names:
                    candidate = f"{full}.{alias.name}"
                    targets.append(candidate if candidate in modules else full)
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != name:
                    edges.append((name, resolved, str(path), node.lineno))
    return edges


def layer_of(module: str) -> tuple[str, int]:
    """``(layer package, rank)`` of a module; an unknown folder is an error (put it in a layer)."""
    parts = module.split(".")[1:]
    if not parts or (len(parts) == 1 and parts[0] in TOP_MODULES):
        return "top", TOP_RANK
    if parts[0] not in RANKS:
        raise ValueError(f"module {module} is in no layer: put it under one of {', '.join(RANKS)}")
    if parts[0] in SPLIT_LAYERS and len(parts) > 1:
        return f"{parts[0]}.{parts[1]}", RANKS[parts[0]]
    return parts[0], RANKS[parts[0]]


def direction_errors(edges: list[tuple[str, str, str, int]]) -> list[str]:
    """``file:line: a imports b (...)`` for each import up the ranks or across packages of a rank."""
    errors = []
    for importer, imported, file, line in edges:
        (source_layer, source_rank), (target_layer, target_rank) = layer_of(importer), layer_of(imported)
        if target_rank > source_rank:
            errors.append(f"{file}:{line}: {importer} ({source_layer}, rank {source_rank}) imports "
                          f"{imported} ({target_layer}, rank {target_rank}): an import up the layers")
        elif target_rank == source_rank and target_layer != source_layer:
            errors.append(f"{file}:{line}: {importer} ({source_layer}) imports {imported} ({target_layer}): "
                          f"another package of the same rank {source_rank}")
    return errors


def circles(edges: list[tuple[str, str, str, int]]) -> list[list[str]]:
    """The import circles: each a sorted list of the modules that import each other (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for importer, imported, _, _ in edges:
        graph.setdefault(importer, set()).add(imported)
        graph.setdefault(imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


# -- the package itself ------------------------------------------------------------------------

def test_every_module_is_in_a_layer():
    for module in module_names(SRC, "expguard"):
        layer_of(module)  # raises for a module outside the layers


def test_imports_point_down_the_layers():
    edges = import_edges(SRC, "expguard")
    assert len(edges) > 50  # the walk found the imports (relative ones resolved)
    assert direction_errors(edges) == []


def test_no_import_circles():
    assert circles(import_edges(SRC, "expguard")) == []


def test_the_library_never_imports_the_command_line():
    edges = import_edges(SRC, "expguard")
    assert [e for e in edges if e[1] == "expguard.cli"] == []


# -- the checker catches what it must --------------------------------------------------------------

def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


FAKE = {
    "expguard/__init__.py": "from .runner.pipeline import run\n",
    "expguard/cli.py": "from . import run\n",
    "expguard/core/__init__.py": "",
    "expguard/core/errors.py": "class Oops(Exception): ...\n",
    "expguard/settings/__init__.py": "",
    "expguard/settings/config.py": "from ..core.errors import Oops\n",
    "expguard/engines/__init__.py": "",
    "expguard/engines/base.py": "from ..settings import config\n",
    "expguard/models/__init__.py": "",
    "expguard/models/registry.py": "from ..engines.base import *\n",
    "expguard/runner/__init__.py": "",
    "expguard/runner/pipeline.py": "from ..models.registry import *\ndef run(): ...\n",
    "expguard/apps/__init__.py": "",
    "expguard/apps/report/__init__.py": "from ...runner import pipeline\n",
    "expguard/apps/diagnosis/__init__.py": "import expguard.models.registry\n",
}


def test_a_clean_fake_tree_passes(tmp_path):
    _write(tmp_path, FAKE)
    edges = import_edges(tmp_path, "expguard")
    assert ("expguard.engines.base", "expguard.settings.config", str(tmp_path / "expguard/engines/base.py"), 1) in edges
    assert direction_errors(edges) == [] and circles(edges) == []


def test_a_planted_upward_import_is_reported_with_file_and_line(tmp_path):
    _write(tmp_path, {**FAKE, "expguard/engines/base.py": """\
        from ..settings import config


        def build():
            from ..models import registry  # deferred: still counts
        """})
    errors = direction_errors(import_edges(tmp_path, "expguard"))
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path / 'expguard/engines/base.py'}:5: expguard.engines.base (engines, rank 2) "
                                "imports expguard.models.registry (models, rank 3)")


def test_a_planted_import_of_the_top_and_across_apps_is_reported(tmp_path):
    _write(tmp_path, {**FAKE, "expguard/apps/diagnosis/__init__.py": """\
        from typing import TYPE_CHECKING

        from ..report import write  # another application
        if TYPE_CHECKING:
            from ... import cli
        """})
    errors = direction_errors(import_edges(tmp_path, "expguard"))
    assert len(errors) == 2
    assert ":3: expguard.apps.diagnosis (apps.diagnosis) imports expguard.apps.report (apps.report)" in errors[0]
    assert ":5: expguard.apps.diagnosis (apps.diagnosis, rank 5) imports expguard.cli (top, rank 6)" in errors[1]


def test_a_planted_circle_is_reported_as_its_modules(tmp_path):
    _write(tmp_path, {
        **FAKE,
        "expguard/models/registry.py": "from . import compile\n",
        "expguard/models/compile.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .marts import srm\n",
        "expguard/models/marts/__init__.py": "",
        "expguard/models/marts/srm.py": "def f():\n    from ..registry import load\n",
    })
    edges = import_edges(tmp_path, "expguard")
    assert direction_errors(edges) == []  # all inside one layer: only the circle is wrong
    assert circles(edges) == [["expguard.models.compile", "expguard.models.marts.srm", "expguard.models.registry"]]


def test_a_module_outside_the_layers_is_refused(tmp_path):
    _write(tmp_path, {**FAKE, "expguard/helpers.py": ""})
    with pytest.raises(ValueError, match="module expguard.helpers is in no layer"):
        for module in module_names(tmp_path, "expguard"):
            layer_of(module)
