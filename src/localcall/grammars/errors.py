"""The two ways a grammar can fail: before generation (the schema) and during it (the engine).

SchemaError is the user's: a schema we cannot constrain generation with, raised before any
token is generated and answered with a 400 naming the tool and field. GrammarEngineError is
ours: the engine refused a token or could not go on mid-generation, which a checked schema
should never cause; it carries what the server needs to log the state.
"""

from __future__ import annotations


def schema_path(parts) -> str:
    """A JSON path as the messages show it: properties/unit/type, or (root)."""
    return "/".join(str(p) for p in parts) or "(root)"


class SchemaError(ValueError):
    """A schema we cannot constrain generation with. `where` says which one, `path` which field."""

    def __init__(self, message: str, *, where: str = "", path: str = ""):
        self.reason, self.where, self.path = message, where, path
        at = f" at {path}" if path else ""
        super().__init__(f"{where}{at}: {message}" if where else message)


class GrammarEngineError(RuntimeError):
    """The grammar engine failed during generation.

    engine: "llguidance" | "outlines"; message: the engine's error, first line; detail: all
    the engine said (llguidance appends its parser state); grammar: the grammar it ran (Lark
    text or regular expression); tokens: the ids it had accepted, forced ones included.
    str() is one line for a client; summary() is the state for the server log."""

    def __init__(self, engine: str, detail: str, *, grammar: str = "", tokens=()):
        self.engine, self.detail, self.grammar, self.tokens = engine, detail or "unknown error", grammar, tuple(tokens)
        self.message = self.detail.strip().splitlines()[0] if self.detail.strip() else self.detail
        super().__init__(f"grammar engine error ({engine}): {self.message}")

    def summary(self, limit: int = 2000) -> str:
        def cut(text: str) -> str:
            return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"

        last = list(self.tokens[-32:])
        return (f"{self}\n  after {len(self.tokens)} tokens, the last {len(last)}: {last}"
                f"\n  engine: {cut(self.detail)}\n  grammar: {cut(self.grammar)}")
