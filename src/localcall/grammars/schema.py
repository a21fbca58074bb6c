"""Checks on the JSON schemas users hand us, before any engine sees them.

A malformed schema is a SchemaError naming where it is wrong (tool, JSON path). What an
engine cannot enforce is reported by the engine itself, also as a SchemaError: we never fall
back to an unconstrained generation.
"""

from __future__ import annotations

import jsonschema
from jsonschema.validators import validator_for


class SchemaError(ValueError):
    """A schema we cannot constrain generation with. `where` says which one, `path` which field."""

    def __init__(self, message: str, *, where: str = "", path: str = ""):
        self.reason, self.where, self.path = message, where, path
        at = f" at {path}" if path else ""
        super().__init__(f"{where}{at}: {message}" if where else message)


def _path(parts) -> str:
    return "/".join(str(p) for p in parts) or "(root)"


def check_schema(schema: dict, *, where: str) -> None:
    if not isinstance(schema, dict):
        raise SchemaError(f"must be a JSON schema object, not {type(schema).__name__}", where=where)
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(exc.message, where=where, path=_path(exc.absolute_path)) from None


def validate_instance(instance, schema: dict) -> str | None:
    """None if `instance` matches `schema`, else a message naming the failing field."""
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(instance))
    if error is None:
        return None
    return f"{_path(error.absolute_path)}: {error.message}"
