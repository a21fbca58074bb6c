"""Arithmetic without eval: the expression is parsed with `ast` and only numbers, arithmetic
operators, a few math functions and constants are evaluated.

Every step is bounded, so no expression can freeze the thread: the expression is at most
MAX_LENGTH characters, a power is refused before it is computed when its result would pass
MAX_BITS, every intermediate integer is checked against MAX_BITS, `round`'s digits are at
most MAX_DIGITS either way (round(1, -10**9) would compute 10**(10**9)), and a result that
is complex, infinite or NaN is an error."""

from __future__ import annotations

import ast
import math
import operator

from ..definition import NO_RETRY, tool
from ..outcome import ToolError

MAX_LENGTH = 500  # characters of expression
MAX_BITS = 4096  # of any integer power or intermediate value (~1,230 decimal digits)
MAX_DIGITS = 400  # round()'s second argument, either sign



def _round(number, ndigits=None):
    if isinstance(ndigits, int) and abs(ndigits) > MAX_DIGITS:
        raise ToolError(f"round() takes at most {MAX_DIGITS} digits either way", "round to fewer digits")
    return round(number, ndigits)


_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": _round, "floor": math.floor, "ceil": math.ceil,
              "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
              "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _power(base, exponent):
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1:
        if exponent * math.log2(abs(base)) > MAX_BITS:
            raise ToolError(f"{base}**{exponent} is too large to compute",
                            "use a smaller exponent, or a float base (e.g. 2.0**5000) for an approximation")
    return operator.pow(base, exponent)


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: _power}


def _evaluate(node: ast.AST):
    value = _evaluate_node(node)
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise ToolError(f"a value in the calculation is too large (over {MAX_BITS} bits)",
                        "compute with floats for an approximation, e.g. 2.0**5000")
    if isinstance(value, complex):
        raise ToolError("the calculation leaves the real numbers (e.g. a fractional power of a negative number)",
                        "check the signs; only real results can be computed")
    return value


def _evaluate_node(node: ast.AST):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and not node.keywords):
        return _FUNCTIONS[node.func.id](*(_evaluate(a) for a in node.args))
    shown = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
    raise ToolError(f"{shown!r} is not allowed in an expression",
                    "use numbers, + - * / // % **, parentheses, pi, e and "
                    + ", ".join(_FUNCTIONS))


@tool(retry=NO_RETRY, timeout=5)
def calculator(expression: str) -> dict:
    """Evaluate an arithmetic expression exactly. Use it for any calculation instead of doing
    the math yourself; not for unit conversion.

    Args:
        expression: The expression, e.g. "(12.5 + 7) * 3" or "sqrt(2) / 2". Operators: + - * /
            // % ** and parentheses; constants pi, e; functions sqrt, abs, round, floor, ceil,
            exp, log, log10, log2, sin, cos, tan, min, max.
    """
    if len(expression) > MAX_LENGTH:
        raise ToolError(f"the expression is longer than {MAX_LENGTH} characters", "split the calculation")
    try:
        value = _evaluate(ast.parse(expression.strip(), mode="eval"))
    except SyntaxError as exc:
        raise ToolError(f"the expression does not parse: {exc.msg}",
                        "write plain arithmetic, e.g. (2 + 3) * 4") from None
    except ZeroDivisionError:
        raise ToolError("division by zero", "check the divisor") from None
    except RecursionError:
        raise ToolError("the expression is nested too deeply", "write it with fewer nested operators") from None
    except (OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"cannot compute {expression!r}: {exc}", "check the numbers and functions used") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError(f"the result is not a finite number ({value})", "check for overflow")
    return {"expression": expression, "result": value}
