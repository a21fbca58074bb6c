"""Chat templates rendered the way transformers' apply_chat_template renders them, but safely.

A model's template is untrusted input (it comes inside a downloaded GGUF), so it runs in
jinja's immutable sandbox (lists excepted: templates keep queues in them, and every list a
template can reach is a copy made for that one render) with the same helpers Hugging Face
templates expect: `tojson` (without jinja's HTML escaping; a generator, as `map` gives, as a
list), `raise_exception`, `strftime_now`, loop controls and the `{% generation %}` tag.
Anything that goes wrong while compiling or rendering becomes one TemplateError that names
the template and the line, never a raw jinja traceback.

Builtin templates (`builtin:NAME`) live next to this module in templates/NAME.jinja.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Callable

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

BUILTIN_PREFIX = "builtin:"
_BUILTIN_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")  # also keeps a name from walking out of templates/


class TemplateError(ValueError):
    """A chat template failed to compile or render, or refused the conversation."""

    def __init__(self, template: str, reason: str, line: int | None = None):
        self.template, self.reason, self.line = template, reason, line
        where = f" at line {line}" if line else ""
        super().__init__(f"chat template {template}{where}: {reason}")


class _RaisedByTemplate(Exception):
    """raise_exception() from inside a template: the template's own message, not a bug."""


def load_builtin_template(name: str) -> str:
    """The text of a builtin template, by "builtin:NAME" or plain NAME."""
    short = name.removeprefix(BUILTIN_PREFIX)
    path = resources.files(__package__).joinpath("templates", f"{short}.jinja")
    if not _BUILTIN_NAME.fullmatch(short) or not path.is_file():
        known = ", ".join(sorted(builtin_template_names()))
        raise KeyError(f"no builtin chat template {name!r}; known: {known}")
    return path.read_text(encoding="utf-8")


def builtin_template_names() -> list[str]:
    folder = resources.files(__package__).joinpath("templates")
    return [BUILTIN_PREFIX + p.name.removesuffix(".jinja") for p in folder.iterdir() if p.name.endswith(".jinja")]


def render_template(source: str, label: str, *, messages: list[dict], tools: list[dict] | None,
                    bos_token: str, eos_token: str, add_generation_prompt: bool,
                    now: Callable[[], datetime] = datetime.now) -> str:
    """Render `source` with the variables Hugging Face templates read.

    label names the template in errors: "builtin:hermes", or "from the model".
    """
    template = _compile(source, label)
    try:
        return template.render(messages=copy.deepcopy(messages), tools=copy.deepcopy(tools),
                               add_generation_prompt=add_generation_prompt,
                               bos_token=bos_token, eos_token=eos_token,
                               strftime_now=lambda fmt: now().strftime(fmt))
    except _RaisedByTemplate as exc:
        raise TemplateError(label, f"refused the conversation: {exc}", _template_line(exc)) from None
    except Exception as exc:  # a template is arbitrary code: any failure is the template's failure
        raise TemplateError(label, f"{type(exc).__name__}: {exc}", _template_line(exc)) from None


def _compile(source: str, label: str) -> jinja2.Template:
    try:
        return _compiled(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(label, f"syntax error: {exc.message}", exc.lineno) from None


@lru_cache(maxsize=32)
def _compiled(source: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(source)


def _template_line(exc: BaseException) -> int | None:
    """The template line where rendering failed: jinja tags template frames "<template>"."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    # Hugging Face's signature: templates call tojson(indent=4) and expect no HTML escaping.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys,
                      default=_listed)


def _listed(value):
    # What jinja's map and select filters give is a generator: tojson writes it as the list it yields.
    if isinstance(value, Iterator):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _raise_exception(message) -> None:
    raise _RaisedByTemplate(message)


class _Generation(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` marks assistant text for training masks; here it renders as is."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller) -> str:
        return caller()


class _Sandbox(ImmutableSandboxedEnvironment):
    """Immutable, except that a template may change lists (Kimi K2's template queues call ids
    with append and pop): the lists it can reach are its own copies."""

    def is_safe_attribute(self, obj, attr, value) -> bool:
        if isinstance(obj, list):
            return SandboxedEnvironment.is_safe_attribute(self, obj, attr, value)
        return super().is_safe_attribute(obj, attr, value)


def _environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols, _Generation])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    return env


_ENVIRONMENT = _environment()
