"""SOQL built safely, and the queries of the incremental cursor over ``SystemModstamp`` (`.cursor`).

Nothing here formats caller input into a query: object and field names come from this
package's own constants (checked against a strict pattern all the same), ids are quoted
and escaped, datetimes are formatted in SOQL's literal syntax from parsed values.

The cursor is the position of the last record delivered in ``ORDER BY SystemModstamp, Id``
order. Many records may share one stamp (a data load, a mass update), so the next query
starts *at* that stamp (``>=``) and skips the ids at the boundary already delivered, which
the cursor remembers (up to `MAX_SEEN`)::

    WHERE SystemModstamp >= T AND (SystemModstamp > T OR Id NOT IN ('A', 'B', ...))
    ORDER BY SystemModstamp, Id

(an id is skipped only at ``T``: a boundary record edited again later is read again). This also
catches a record edited later within the same second that lands on ``T`` with a
lower Id. When more than `MAX_SEEN` records share the boundary stamp, the cursor keeps only
the last Id: the delivered ones are then exactly those ordered before it, so::

    WHERE SystemModstamp >= T AND (SystemModstamp > T OR Id > 'LAST') ORDER BY SystemModstamp, Id

Either way nothing is lost (the boundary stamp is read again), nothing is duplicated (the
delivered ids are excluded), the walk cannot loop (the position only moves forward), and a
run with nothing new is one query that returns nothing — even with thousands of records at
the boundary. The top-level ``SystemModstamp >= T`` keeps the query selective on the index.

Salesforce writes whole seconds, so after any mass update ties are the rule, not the exception.
What a stamp of one second cannot tell apart: a record delivered at ``T`` and edited again
within that same second (or, past `MAX_SEEN` ties, a record with an Id below the last one that
lands on ``T`` after the pull read it) is seen again only at its next edit.

The queries run on ``queryAll``, so the recycle bin's rows (``IsDeleted = true``, a merged
Account's loser with ``MasterRecordId``) come back in the same order; no query uses ``OFFSET``
(capped at 2,000): later pages come from ``queryMore``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integrations.salesforce.cursor import ModstampCursor

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
            '"': '\\"'}


def soql_name(name: str) -> str:
    """An object or field API name, refused unless it is a plain identifier."""
    if not _NAME.match(name):
        raise ValueError(f"not a Salesforce API name: {name!r}")
    return name


def soql_string(value: str) -> str:
    """A quoted SOQL string literal with Salesforce's backslash escapes."""
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"


def soql_datetime(moment: dt.datetime) -> str:
    """An aware datetime as a SOQL datetime literal (UTC, ``Z``; milliseconds only when not zero)."""
    if moment.tzinfo is None:
        raise ValueError("SOQL datetimes must be timezone-aware")
    moment = moment.astimezone(dt.UTC)
    millis = moment.microsecond // 1000
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def soql_in(values: Sequence[str]) -> str:
    return "(" + ", ".join(soql_string(v) for v in values) + ")"


def incremental_query(sobject: str, fields: Sequence[str], cursor: ModstampCursor, *,
                      scope: str | None = None, not_modified_by: str | None = None) -> str:
    """``SELECT fields FROM sobject [WHERE scope AND after cursor AND not by] ORDER BY SystemModstamp, Id``;
    ``scope`` is the adapter's own fixed condition (``Canary_Task_Key__c != null``), never caller text;
    ``not_modified_by`` a User Id whose latest changes are left out (``LastModifiedById != '005...'``: Canary's
    integration user, so its own writes do not come back), checked against the id pattern and quoted."""
    selected = list(dict.fromkeys([*(soql_name(f) for f in fields), "Id", "SystemModstamp"]))
    # Names pass soql_name(); the cursor's values are formatted as literals: no caller text goes in.
    query = f"SELECT {', '.join(selected)} FROM {soql_name(sobject)}"  # noqa: S608
    conditions = [c for c in (scope, cursor.where()) if c]
    if not_modified_by is not None:
        if not ID_PATTERN.match(not_modified_by):
            raise ValueError(f"not a Salesforce id: {not_modified_by!r}")
        conditions.append(f"LastModifiedById != {soql_string(not_modified_by)}")
    if len(conditions) == 1:
        query += f" WHERE {conditions[0]}"
    elif conditions:
        query += " WHERE " + " AND ".join(f"({c})" for c in conditions)
    return query + " ORDER BY SystemModstamp, Id"


def values_query(sobject: str, fields: Sequence[str], field: str, values: Sequence[str]) -> str:
    """``SELECT fields FROM sobject WHERE field IN (...)`` with every value quoted."""
    return (f"SELECT {', '.join(soql_name(f) for f in fields)} FROM {soql_name(sobject)} "  # noqa: S608
            f"WHERE {soql_name(field)} IN {soql_in(values)}")


def ids_query(sobject: str, fields: Sequence[str], ids: Sequence[str], *, scope: str | None = None) -> str:
    """``SELECT fields FROM sobject WHERE [(scope) AND] Id IN (...)`` with every id checked and quoted;
    ``scope`` is the adapter's own fixed condition (as in `incremental_query`), never caller text."""
    for value in ids:
        if not ID_PATTERN.match(value):
            raise ValueError(f"not a Salesforce id: {value!r}")
    where = f"({scope}) AND Id IN {soql_in(ids)}" if scope else f"Id IN {soql_in(ids)}"
    return f"SELECT {', '.join(soql_name(f) for f in fields)} FROM {soql_name(sobject)} WHERE {where}"  # noqa: S608
