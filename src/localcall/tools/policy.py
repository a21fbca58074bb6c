"""Permission scoping: which tools a caller (a principal: a user, an API key) may use.

A tool outside the allowlist is never offered to the model (the agent filters the specs)
and is refused if it is called anyway. Entries are exact names or shell-style patterns
("sql_*", "*").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Iterable, Mapping, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)  # principal → patterns
    default: frozenset[str] = frozenset()  # for a principal the mapping does not name

    @classmethod
    def of(cls, allow: Mapping[str, Iterable[str]] | None = None,
           default: Iterable[str] = ()) -> Policy:
        """Policy.of({"alice": ["calculator", "sql_*"]}, default=["calculator"])."""
        return cls({p: frozenset(names) for p, names in (allow or {}).items()}, frozenset(default))

    @classmethod
    def allow_all(cls) -> Policy:
        return cls(default=frozenset({"*"}))

    def allows(self, principal: str, tool_name: str) -> bool:
        patterns = self.allow.get(principal, self.default)
        return any(fnmatchcase(tool_name, p) for p in patterns)

    def visible(self, principal: str, tools: Iterable[T]) -> list[T]:
        """The tools (anything with a .name) this principal may see, in order."""
        return [t for t in tools if self.allows(principal, t.name)]
