"""The house rules of DESIGN.md's layout, checked on the source: no two modules import
each other (directly or round a circle), no folder imports one that imports it back,
``stages/`` imports nothing that stands above it, only ``models/`` runs a model's
towers or builds a preprocessing transform, and only ``layout.py``/``schema.py``
format a shard number into a path. Imports inside functions count too."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# What stands above the steps: applications and services built on them.
ABOVE_STAGES = {"releases", "purge", "accounting", "serve", "card", "cli", "demo", "demo_models", "train", "eval", "__main__"}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("grassroots"):
                targets = [owner(f"{node.module}.{a.name}") or owner(node.module) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [owner(a.name) for a in node.names if a.name.startswith("grassroots")]
            edges[mod].update(t for t in targets if t and t != mod)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def _folder(mod: str) -> str:
    return ".".join(mod.split(".")[:2])


def test_no_module_imports_round_a_circle():
    assert _cycles(_graph()) == []


def test_no_two_folders_import_each_other():
    folders: dict[str, set[str]] = defaultdict(set)
    for a, targets in _graph().items():
        folders[_folder(a)].update(_folder(b) for b in targets if _folder(b) != _folder(a))
    pairs = sorted((a, b) for a, bs in folders.items() for b in bs if a < b and a in folders.get(b, ()))
    assert pairs == []


def test_stages_import_nothing_above_them():
    above = {f"grassroots.{name}" for name in ABOVE_STAGES}
    found = sorted((a, b) for a, targets in _graph().items() if a.startswith("grassroots.stages")
                   for b in targets if _folder(b) in above)
    assert found == []


def test_only_models_run_a_models_towers_or_build_its_transform():
    pattern = re.compile(r"model\.encode_(?:image|text)\(|image_transform\(|transforms\.Compose|Normalize\(")
    offenders = [str(p.relative_to(SRC)) for p in (SRC / "grassroots").rglob("*.py")
                 if "models" not in p.relative_to(SRC / "grassroots").parts[:1] and pattern.search(p.read_text())]
    assert offenders == []


def test_only_layout_and_schema_format_a_shard_number_into_a_path():
    pattern = re.compile(r"\{[a-z_]*shard[a-z_]*:0?5d\}|\{[a-z_]*(?:part|partition)[a-z_]*:0?5d\}")
    offenders = [str(p.relative_to(SRC)) for p in (SRC / "grassroots").rglob("*.py")
                 if p.name not in ("layout.py", "schema.py") and pattern.search(p.read_text())]
    assert offenders == []
