"""When a campaign e-mail may go (pure: the caller passes the moment; only the time-zone database is read).

Quiet hours are minutes after local midnight, ``[start, end)``, wrapping midnight when start > end (21:00 to
08:00); start == end means none. The weekly cap counts per ISO week in the recipient's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None, fallback: str) -> ZoneInfo:
    """The named zone, else the fallback (an unknown or empty name is not an error: the workspace's zone)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone like Europe/Amsterdam") from None
    return name


def _quiet(minute: int, start: int, end: int) -> bool:
    if start == end:
        return False
    return start <= minute < end if start < end else minute >= start or minute < end


def next_allowed(now: dt.datetime, tz: ZoneInfo, start: int, end: int) -> dt.datetime:
    """``now`` itself outside quiet hours, else the first minute after them (UTC)."""
    local = now.astimezone(tz)
    minute = local.hour * 60 + local.minute
    if not _quiet(minute, start, end):
        return now
    day = local.date() if (start < end or minute < end) else local.date() + dt.timedelta(days=1)
    opening = dt.datetime.combine(day, dt.time(end // 60, end % 60), tz)
    return opening.astimezone(dt.UTC)


def week_bounds(now: dt.datetime, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The recipient's ISO week around ``now``: local Monday 00:00 to the next, in UTC."""
    local = now.astimezone(tz)
    monday = local.date() - dt.timedelta(days=local.weekday())
    start = dt.datetime.combine(monday, dt.time(0), tz)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(0), tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
