"""Tools by name, and loading the tools of a file or a module (`--tools PATH_OR_MODULE`): its
@tool functions, or else its plain annotated functions."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
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


class ToolLoadError(ValueError):
    """A `--tools` source that cannot be loaded. The message is one line that names the source."""


def load_tools(*sources: str) -> list[Tool]:
    """Every tool of each source, in definition order (see tools_in). A source is a path to a
    .py file or a dotted module name. ToolLoadError names the source when one cannot be used."""
    found: list[Tool] = []
    for source in sources:
        found.extend(t for t in tools_in(source) if not any(t is f for f in found))
    return found


def tools_in(source: str) -> list[Tool]:
    """The tools a source defines: its @tool objects (defined or imported there) if it has any;
    otherwise every public function def'd in it (not imported), as simonw's `llm --functions`
    takes them: the docstring describes it, the annotations type its parameters, each of which
    must have one. A source without any tool is an error: `--tools` naming the wrong file
    should not silently give the model nothing."""
    module = _import(source)
    decorated: list[Tool] = []
    for value in vars(module).values():
        if isinstance(value, Tool) and not any(value is d for d in decorated):
            decorated.append(value)
    if decorated:
        return decorated
    # def'd in this file under its own name: not imported, not a lambda or an alias.
    functions = [value for name, value in vars(module).items()
                 if inspect.isfunction(value) and not name.startswith("_") and value.__name__ == name
                 and value.__module__ == module.__name__]
    if not functions:
        raise ToolLoadError(f"{source}: no tools found; define public functions with annotated parameters "
                            "(or mark functions with @tool)")
    return [_plain_tool(source, fn) for fn in functions]


def _plain_tool(source: str, fn: Callable) -> Tool:
    for param in inspect.signature(fn).parameters.values():
        if param.annotation is param.empty and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolLoadError(f"{source}: parameter {param.name!r} of {fn.__name__}() has no type annotation; "
                                f"annotate it (e.g. {param.name}: str) so the model knows what to send")
    try:
        return tool(fn)
    except (TypeError, ValueError) as exc:
        raise ToolLoadError(f"{source}: {fn.__name__}() cannot be a tool: {_one_line(exc)}") from None


def _import(source: str) -> ModuleType:
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ToolLoadError(f"{source}: no such file" if not path.exists() else f"{source}: not a file")
        return _import_file(source, path)
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        if exc.name and source.startswith(exc.name):
            what = "a directory, not a .py file or a module" if path.is_dir() else "no such file or module"
            raise ToolLoadError(f"{source}: {what}") from None
        raise ToolLoadError(f"{source}: importing it failed: {_one_line(exc)}") from None
    except SyntaxError as exc:
        raise ToolLoadError(f"{source}: {_syntax(exc)}") from None
    except Exception as exc:
        raise ToolLoadError(f"{source}: importing it raised {type(exc).__name__}: {_one_line(exc)}") from None


def _import_file(source: str, path: Path) -> ModuleType:
    # A private, stable module name per file: two files both called tools.py must not
    # replace each other in sys.modules.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"localcall_user_tools_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise ToolLoadError(f"{source}: {_syntax(exc)}") from None
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                     if Path(f.filename) == path or f.filename == str(path)), None)
        where = f" at line {line}" if line else ""
        raise ToolLoadError(f"{source}: running it raised {type(exc).__name__}{where}: {_one_line(exc)}") from None
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _syntax(exc: SyntaxError) -> str:
    return f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
