"""Tools by name, and loading every @tool from a file or a module (`--tools PATH_OR_MODULE`)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Iterator

from ..messages import ToolSpec
from .definition import Tool, tool


class DuplicateToolError(ValueError):
    pass


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool | Callable] = ()):
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.add(item)

    def add(self, item: Tool | Callable) -> Tool:
        """Register a Tool, or a plain function as if decorated with @tool."""
        t = item if isinstance(item, Tool) else tool(item)
        if t.name in self._tools:
            raise DuplicateToolError(f"two tools are named {t.name!r}; tool names must be unique")
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [t.spec() for t in self]


def load_tools(*sources: str) -> list[Tool]:
    """Every Tool defined in (or imported into) each source, in definition order.

    A source is a path to a .py file or a dotted module name. A source without any tool is
    an error: `--tools` naming the wrong file should not silently give the model nothing.
    """
    found: list[Tool] = []
    for source in sources:
        module = _import(source)
        tools = [v for v in vars(module).values() if isinstance(v, Tool)]
        if not tools:
            raise ValueError(f"{source}: no @tool found in {module.__name__}")
        found.extend(t for t in tools if not any(t is f for f in found))
    return found


def _import(source: str) -> ModuleType:
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no tools file at {source}")
        # A private, stable module name per file: two files both called tools.py must not
        # replace each other in sys.modules.
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        name = f"localcall_user_tools_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pydantic look their module up here
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    return importlib.import_module(source)
