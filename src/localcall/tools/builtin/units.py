"""Unit conversion between units of one dimension: length, mass, volume, time, speed, data
size and temperature. The unit names are an enum, so a constrained model can only pick real
ones; a rule checks that both belong to the same dimension."""

from __future__ import annotations

import math
from typing import Any, Literal

from ..definition import NO_RETRY, tool
from ..outcome import ToolError

# Factors to the dimension's base unit (m, kg, l, s, m/s, B).
_FACTORS: dict[str, dict[str, float]] = {
    "length": {"m": 1, "km": 1000, "cm": 0.01, "mm": 0.001, "mi": 1609.344, "yd": 0.9144,
               "ft": 0.3048, "in": 0.0254, "nmi": 1852},
    "mass": {"kg": 1, "g": 0.001, "mg": 1e-6, "t": 1000, "lb": 0.45359237, "oz": 0.028349523125},
    "volume": {"l": 1, "ml": 0.001, "m3": 1000, "gal": 3.785411784, "qt": 0.946352946,
               "pt": 0.473176473, "cup": 0.2365882365, "fl_oz": 0.0295735295625},
    "time": {"s": 1, "min": 60, "h": 3600, "day": 86400, "week": 604800},
    "speed": {"m/s": 1, "km/h": 1 / 3.6, "mph": 0.44704, "kn": 1852 / 3600},
    "data": {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 1024, "MiB": 1024 ** 2,
             "GiB": 1024 ** 3},
}
_TEMPERATURE = ("C", "F", "K")
_DIMENSION = {u: d for d, units in _FACTORS.items() for u in units} | {u: "temperature" for u in _TEMPERATURE}

Unit = Literal[tuple(_DIMENSION)]


def _finite(args: dict[str, Any]) -> None:
    if not math.isfinite(args["value"]):
        raise ToolError(f"the value must be a finite number, not {args['value']}", "give a number such as 12.5")


def _same_dimension(args: dict[str, Any]) -> None:
    source, target = _DIMENSION[args["from_unit"]], _DIMENSION[args["to_unit"]]
    if source != target:
        units = ", ".join(u for u, d in _DIMENSION.items() if d == source)
        raise ToolError(f"cannot convert {source} ({args['from_unit']}) to {target} ({args['to_unit']})",
                        f"pick a target unit of {source}: {units}")


def _to_kelvin(value: float, unit: str) -> float:
    return {"C": value + 273.15, "F": (value - 32) * 5 / 9 + 273.15, "K": value}[unit]


def _from_kelvin(value: float, unit: str) -> float:
    return {"C": value - 273.15, "F": (value - 273.15) * 9 / 5 + 32, "K": value}[unit]


@tool(retry=NO_RETRY, timeout=5, validators=[_finite, _same_dimension])
def convert_units(value: float, from_unit: Unit, to_unit: Unit) -> dict:
    """Convert a quantity from one unit to another of the same kind (length, mass, volume,
    time, speed, data size, temperature).

    Args:
        value: The quantity to convert, e.g. 12.5.
        from_unit: The unit the value is in, e.g. "km" or "F".
        to_unit: The unit wanted, e.g. "mi" or "C".
    """
    dimension = _DIMENSION[from_unit]
    if dimension == "temperature":
        result = _from_kelvin(_to_kelvin(value, from_unit), to_unit)
    else:
        result = value * _FACTORS[dimension][from_unit] / _FACTORS[dimension][to_unit]
    if not math.isfinite(result):
        raise ToolError(f"{value} {from_unit} in {to_unit} is too large to represent", "use a smaller value")
    return {"value": value, "from_unit": from_unit, "to_unit": to_unit,
            "result": float(f"{result:.12g}")}  # drop float noise like 0.30000000000000004
