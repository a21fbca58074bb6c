"""The current date and time in a time zone (IANA names, via zoneinfo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..definition import NO_RETRY, tool
from ..outcome import ToolError


def _known_zone(args: dict[str, Any]) -> None:
    try:
        ZoneInfo(args["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {args['timezone']!r}",
                        "use an IANA name such as 'UTC', 'Europe/Paris' or 'America/New_York'") from None


@tool(retry=NO_RETRY, timeout=5, validators=[_known_zone])
def current_time(timezone: str = "UTC") -> dict:
    """The current date, time and weekday. Use it whenever the answer depends on today's date
    or the time now.

    Args:
        timezone: An IANA time zone name, e.g. "Europe/Paris"; UTC if not given.
    """
    now = datetime.now(ZoneInfo(timezone))
    return {"timezone": timezone, "iso": now.isoformat(timespec="seconds"), "date": now.date().isoformat(),
            "time": now.strftime("%H:%M:%S"), "weekday": now.strftime("%A"),
            "utc_offset": now.strftime("%z")[:3] + ":" + now.strftime("%z")[3:]}
