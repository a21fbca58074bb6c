"""Chat formats: how each model family is told about tools, writes a call, and is read back.

Importing this package registers every family in FORMATS: the package's own, then those of
other installed packages, which name a module (or a ChatFormat class) in the entry-point group
`localcall.formats`, as vLLM takes tool parsers from outside:

    [project.entry-points."localcall.formats"]
    my_family = "my_package.my_family"

A model's family comes from detect_format (its template and special tokens) unless
models.toml names one.
"""

from __future__ import annotations

import inspect
import logging
from importlib.metadata import entry_points

from . import gemma4, generic, glm, harmony, hermes, llama3, mistral, qwen3_coder  # noqa: F401  (each registers its family)
from . import (apertus, apriel, command, command_r_plus, deepseek_dsml, deepseek_r1, functionary,  # noqa: F401
               functiongemma, gigachat, hunyuan, kimi_k2, lfm2, minicpm, minimax_m1, minimax_m2, nemotron_v2,
               pythonic, seed_oss, solar)
from ..vocab import SpecialTokens
from .base import FORMATS, CallSyntax, ChatFormat, ToolCallParser, open_reasoning, register
from .jinja import TemplateError, load_builtin_template
from .templated import uses_tools

__all__ = ["FORMATS", "CallSyntax", "ChatFormat", "TemplateError", "ToolCallParser", "detect_format",
           "get_format", "load_builtin_template", "load_plugins", "open_reasoning", "uses_tools"]

FALLBACK = "generic"
ENTRY_POINTS = "localcall.formats"
log = logging.getLogger("localcall")


def load_plugins() -> list[str]:
    """Import every family of the `localcall.formats` entry points; the names it registered.
    A plugin that fails to load is logged and skipped: the other families still work."""
    before = set(FORMATS)
    for point in entry_points(group=ENTRY_POINTS):
        try:
            loaded = point.load()
        except Exception as exc:  # noqa: BLE001 - another package's code: any failure is its failure
            log.error("chat format plugin %r (%s) did not load: %s: %s", point.name, point.value,
                      type(exc).__name__, exc)
            continue
        if inspect.isclass(loaded) and issubclass(loaded, ChatFormat):
            register(loaded)
    return sorted(set(FORMATS) - before)


def get_format(name: str, template: str | None = None) -> ChatFormat:
    """The family `name`, for a model whose chat template is `template` (if known)."""
    if name not in FORMATS:
        raise KeyError(f"unknown chat format {name!r}; known: {', '.join(sorted(FORMATS))}")
    family = FORMATS[name]()
    family.model_template = template
    return family


def detect_format(template: str | None, special: SpecialTokens) -> str:
    """The family whose detect() is surest; the generic one when none recognises the model."""
    scores = {name: cls.detect(template, special) for name, cls in FORMATS.items()}
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] > 0 else FALLBACK


load_plugins()
