"""Chat formats: how each model family is told about tools, writes a call, and is read back.

Importing this package registers every family in FORMATS. A model's family comes from
detect_format (its template and special tokens) unless models.toml names one.
"""

from __future__ import annotations

from . import generic, glm, hermes, llama3, mistral, qwen3_coder  # noqa: F401  (each registers its family)
from ..vocab import SpecialTokens
from .base import FORMATS, CallSyntax, ChatFormat, ToolCallParser
from .jinja import TemplateError, load_builtin_template

__all__ = ["FORMATS", "CallSyntax", "ChatFormat", "TemplateError", "ToolCallParser", "detect_format",
           "get_format", "load_builtin_template"]

FALLBACK = "generic"


def get_format(name: str) -> ChatFormat:
    if name not in FORMATS:
        raise KeyError(f"unknown chat format {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]()


def detect_format(template: str | None, special: SpecialTokens) -> str:
    """The family whose detect() is surest; the generic one when none recognises the model."""
    scores = {name: cls.detect(template, special) for name, cls in FORMATS.items()}
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] > 0 else FALLBACK
