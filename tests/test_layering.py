"""Layers import downward only (docs/architecture.md, "Layers"): a module may import its own
layer and the ones below it, never one above. Checked on the source, imports inside functions
included, so a lazy import cannot hide an upward dependency."""

import ast
from pathlib import Path

import localcall

PACKAGE = Path(localcall.__file__).parent

# Lowest first. formats and grammars share a layer: the grammar is built from a family's
# CallSyntax, and a family's writer from the same description.
LAYERS = [
    {"messages", "vocab"},
    {"runtime"},
    {"formats", "grammars"},
    {"model"},
    {"tools"},
    {"server", "bench", "cli"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _part_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "localcall" else None


def _imports(path: Path) -> list[str]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    package = ".".join(("localcall",) + parts[:-1])  # what a relative import starts from
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
                if not node.module:  # from .. import formats
                    names += [".".join(base + [alias.name]) for alias in node.names]
            else:
                names.append(node.module or "")
    return names


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.stem != "__init__"}
    assert parts - {"__main__"} <= set(RANK), f"no layer for {sorted(parts - set(RANK))}"


def test_layers_import_downward_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py")
        if own not in RANK:
            continue
        for name in _imports(path):
            target = _part_of(name)
            if target in RANK and RANK[target] > RANK[own]:
                upward.append(f"{rel} imports {name}")
    assert not upward, "upward imports:\n" + "\n".join(upward)
