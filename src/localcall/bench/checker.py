"""BFCL's AST rules: is a model's set of calls the one a case's ground truth allows?

The rules, as BFCL's own checker applies them to Python categories:
- the number of calls and the functions called must be the expected ones; parallel calls
  match in any order (here by a bipartite assignment, so a valid pairing is always found);
- every required parameter is present and no parameter is unknown to the schema or to the
  answer; an answer parameter that is left out must list `""` among its allowed values;
- a value has the schema's type (an int is accepted for a float), or else the type of the
  answer's values (BFCL's "variable" case: the answer then compares literally);
- strings compare after BFCL's normalisation (lowercase; spaces and , . / - _ * ^ removed;
  ' read as "); lists compare element by element, dicts key by key, recursively.

A verdict says which kind of mistake it was: choosing the tools ("selection:…": wrong or
missing function, wrong count, a call when none was wanted) or filling the arguments
("args:…").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .cases import Expected

# BFCL type name → the Python type its values must have (Python categories only).
PYTHON_TYPES = {"string": str, "integer": int, "float": float, "number": float, "boolean": bool,
                "array": list, "tuple": list, "dict": dict, "object": dict, "any": str}
_FLOAT_TYPES = ("float", "number")
_IGNORED_IN_STRINGS = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class Call:
    name: str  # the function's BFCL name
    arguments: dict | None  # None: the model's arguments were not a JSON object


@dataclass(frozen=True)
class Verdict:
    passed: bool
    error_type: str | None = None
    message: str = ""

    @property
    def kind(self) -> str | None:
        return self.error_type.split(":", 1)[0] if self.error_type else None


PASS = Verdict(True)


def _fail(error_type: str, message: str) -> Verdict:
    return Verdict(False, error_type, message)


def check(expected: Expected, functions: list[dict], calls: list[Call]) -> Verdict:
    """Judge one answer. `functions` are the case's BFCL function docs."""
    if expected.any_call:
        return PASS if calls else _fail("selection:no_call", "a call was wanted; the model answered without one")
    if not calls:
        if not expected.calls or expected.no_call_ok:
            return PASS
        return _fail("selection:no_call", f"expected {len(expected.calls)} call(s); the model made none")
    if not expected.calls:
        return _fail("selection:unwanted_call", f"no call was wanted; the model called {[c.name for c in calls]}")
    if len(calls) != len(expected.calls):
        return _fail("selection:wrong_count", f"expected {len(expected.calls)} call(s), got {len(calls)}")
    wanted = [_answer_name(answer) for answer in expected.calls]
    if Counter(wanted) != Counter(c.name for c in calls):
        return _fail("selection:wrong_function",
                     f"expected {sorted(wanted)}, got {sorted(c.name for c in calls)}")
    docs = {fn["name"]: fn for fn in functions}
    verdicts = [[check_call(docs[name], answer[name], call) if call.name == name else None for call in calls]
                for name, answer in zip(wanted, expected.calls, strict=True)]
    unmatched = _unmatched(verdicts)
    if not unmatched:
        return PASS
    # Report why the first unassigned answer fits none of the calls to its function.
    return next(v for v in verdicts[unmatched[0]] if v is not None and not v.passed)


def _answer_name(answer: dict) -> str:
    (name,) = answer  # each ground-truth entry holds exactly one function
    return name


def _unmatched(verdicts: list[list[Verdict | None]]) -> list[int]:
    """The answers left without a call by a maximum assignment (Kuhn's augmenting paths)."""
    owner: dict[int, int] = {}  # call index → answer index

    def assign(answer: int, seen: set[int]) -> bool:
        for call, verdict in enumerate(verdicts[answer]):
            if verdict is not None and verdict.passed and call not in seen:
                seen.add(call)
                if call not in owner or assign(owner[call], seen):
                    owner[call] = answer
                    return True
        return False

    return [answer for answer in range(len(verdicts)) if not assign(answer, set())]


def check_call(function: dict, answer: dict[str, list], call: Call) -> Verdict:
    """One call against one ground-truth entry for the same function."""
    if call.arguments is None:
        return _fail("args:unparseable", f"{call.name}: the arguments are not a JSON object")
    parameters = function.get("parameters") or {}
    properties = parameters.get("properties", {})
    for param in parameters.get("required", []):
        if param not in call.arguments:
            return _fail("args:missing_required", f"{call.name}: missing required parameter {param!r}")
    for param, value in call.arguments.items():
        if param not in properties or param not in answer:
            return _fail("args:unexpected_param", f"{call.name}: unexpected parameter {param!r}")
        verdict = _check_value(f"{call.name}.{param}", value, properties[param], answer[param])
        if not verdict.passed:
            return verdict
    for param, allowed in answer.items():
        if param not in call.arguments and "" not in allowed:
            return _fail("args:missing_param", f"{call.name}: parameter {param!r} is optional in the schema "
                                               f"but this answer needs one of {allowed}")
    return PASS


def _check_value(where: str, value, schema: dict, allowed: list) -> Verdict:
    declared = schema.get("type")
    literal = False  # BFCL's "variable" case: compare without normalising
    if declared is not None:
        if declared not in PYTHON_TYPES:
            raise ValueError(f"{where}: type {declared!r} is not one of BFCL's Python types")
        if declared in _FLOAT_TYPES and type(value) is int:
            value = float(value)
        # The answer's own type; None when every allowed value is "" (omissible only).
        answer_type = next((type(a) for a in allowed if a != ""), None)
        if type(value) is PYTHON_TYPES[declared]:
            literal = answer_type not in (None, PYTHON_TYPES[declared])
        elif type(value) is answer_type:
            literal = True
        else:
            return _fail("args:wrong_type", f"{where}: expected {declared}, got {type(value).__name__} ({value!r:.80})")
        if not literal and isinstance(value, list) and not _items_typed(value, schema.get("items", {}), allowed):
            return _fail("args:wrong_type", f"{where}: an element is not of type {schema['items'].get('type')}")
    if literal:
        ok = value in allowed
    else:
        ok = any(_matches(value, option) for option in allowed)
    return PASS if ok else _fail("args:wrong_value", f"{where}: {value!r:.80} is not among {allowed!r:.200}")


def _items_typed(values: list, items: dict, allowed: list) -> bool:
    """Each element has the items' type, or the type of the answer's elements (BFCL's one-level check)."""
    declared = items.get("type")
    if declared not in PYTHON_TYPES:
        return True
    accepted = {PYTHON_TYPES[declared]} | {type(x) for option in allowed if isinstance(option, list) for x in option}
    if declared in _FLOAT_TYPES:
        accepted.add(int)
    return all(type(v) in accepted for v in values)


def standardize(text: str) -> str:
    """BFCL's string normalisation, so "April 1, 2024" and "april 1 2024" compare equal."""
    return _IGNORED_IN_STRINGS.sub("", text).lower().replace("'", '"')


def _matches(value, option) -> bool:
    if isinstance(option, str):
        return isinstance(value, str) and standardize(value) == standardize(option)
    if isinstance(option, dict):
        if not isinstance(value, dict):
            return False
        if all(isinstance(v, list) for v in option.values()):
            return _matches_answer(value, option)
        return value.keys() == option.keys() and all(_matches(value[k], option[k]) for k in option)
    if isinstance(option, list):
        return (isinstance(value, list) and len(value) == len(option)
                and all(_matches(v, o) for v, o in zip(value, option, strict=True)))
    if isinstance(option, bool) or isinstance(value, bool):
        return type(value) is type(option) and value == option
    return value == option  # numbers: 2 == 2.0


def _matches_answer(value: dict, answer: dict[str, list]) -> bool:
    """A nested dict against an answer of the ground truth's own shape {key: [allowed values]}."""
    return (all(k in answer and any(_matches(v, option) for option in answer[k]) for k, v in value.items())
            and all(k in value or "" in allowed for k, allowed in answer.items()))
