"""Read a tool's description and its parameters' descriptions from its docstring.

Google style ("Args:" then "name (type): text"), NumPy style ("Parameters" underlined, then
"name : type" with the text indented below) and Sphinx fields (":param name: text") are
understood. The description is everything before the first section.
"""

from __future__ import annotations

import inspect
import re

_GOOGLE_PARAMS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_GOOGLE_SECTIONS = _GOOGLE_PARAMS | {"returns", "return", "yields", "raises", "examples", "example",
                                     "notes", "note", "see also", "attributes", "warnings", "todo"}
_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*(:.*)?$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description})."""
    lines = inspect.cleandoc(doc or "").splitlines()
    params: dict[str, str] = {}
    end = len(lines)
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        google = _GOOGLE_HEADER.match(line)
        numpy = i + 1 < len(lines) and line and re.fullmatch(r"-{3,}", lines[i + 1].strip())
        if google and google.group(1).lower() in _GOOGLE_SECTIONS:
            end = min(end, i)
            body, i = _section(lines, i + 1, lambda s: bool(_GOOGLE_HEADER.match(s.strip())))
            if google.group(1).lower() in _GOOGLE_PARAMS:
                params.update(_items(body, _GOOGLE_ITEM, text_group=3))
        elif numpy:
            end = min(end, i)
            body, i = _section(lines, i + 2, lambda s: False, numpy_next=True)
            if line.lower() in _GOOGLE_PARAMS or line.lower() == "other parameters":
                params.update(_items(body, _NUMPY_ITEM, text_group=None))
        elif line.startswith(":"):
            end = min(end, i)
            sphinx = _SPHINX_PARAM.match(line)
            i += 1
            if sphinx:
                text = [sphinx.group(2)]
                while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(":"):
                    text.append(lines[i].strip())
                    i += 1
                params[sphinx.group(1)] = _join(text)
        else:
            i += 1
    description = "\n".join(lines[:end]).strip()
    return description, params


def _section(lines, start, is_header, numpy_next=False):
    """The lines of a section from `start` up to the next header; (lines, index after)."""
    i = start
    while i < len(lines):
        stripped = lines[i].strip()
        if is_header(lines[i]) and not lines[i].startswith((" ", "\t")):
            break
        if numpy_next and i + 1 < len(lines) and stripped and re.fullmatch(r"-{3,}", lines[i + 1].strip()):
            break
        i += 1
    return lines[start:i], i


def _items(body: list[str], item: re.Pattern, text_group: int | None) -> dict[str, str]:
    """Entries start at the section's least indentation; deeper lines continue the entry."""
    indents = [len(l) - len(l.lstrip()) for l in body if l.strip()]
    if not indents:
        return {}
    base = min(indents)
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body:
        if not line.strip():
            continue
        if len(line) - len(line.lstrip()) == base:
            match = item.match(line.strip())
            current = None
            if match:
                current = found.setdefault(match.group(1).lstrip("*"), [])
                if text_group is not None:
                    current.append(match.group(text_group))
        elif current is not None:
            current.append(line.strip())
    return {name: _join(text) for name, text in found.items()}


def _join(parts: list[str]) -> str:
    return " ".join(p for p in parts if p).strip()
