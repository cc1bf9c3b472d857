"""A SOQL subset: tokenizer, recursive-descent parser and compiler to Python closures.

Supported: ``SELECT f1, f2 | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]``; conditions with ``= != <> < <= > >=``,
``[NOT] IN (...)``, ``LIKE``, ``AND``/``OR``/``NOT`` and parentheses; literals: strings,
numbers, ``TRUE``/``FALSE``, ``NULL``, dates, datetimes, and the date literals
``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``, ``NEXT_N_DAYS:n``.

Errors are `ApiError` with Salesforce's codes and message layout (``MALFORMED_QUERY``,
``INVALID_FIELD``, ``INVALID_TYPE``, ``INVALID_QUERY_FILTER_OPERATOR``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .errors import ApiError
from .ids import format_datetime, parse_datetime, to_18
from .schema import NUMBER_TYPES, TEXT_TYPES, FieldSpec, ObjectSpec

KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "NULL",
        "TRUE",
        "FALSE",
        "GROUP",
        "HAVING",
    }
)
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
N_DATE_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_PUNCT = {",": "COMMA", "(": "LPAREN", ")": "RPAREN", ":": "COLON"}
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "'": "'",
    '"': '"',
    "\\": "\\",
    "%": "\\%",
    "_": "\\_",
}


@dataclass(frozen=True)
class Token:
    kind: str
    """IDENT, KEYWORD, STRING, NUMBER, DATE, DATETIME, OP, COMMA, LPAREN, RPAREN, COLON, EOF."""
    text: str
    pos: int
    value: Any = None


class QueryError(ApiError):
    pass


def _error_at(source: str, pos: int, code: str, message: str) -> QueryError:
    pointer = " " * pos + "^"
    return QueryError(400, code, f"\n{source}\n{pointer}\nERROR at Row:1:Column:{pos + 1}\n{message}")


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch == "'":
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise _error_at(source, start, "MALFORMED_QUERY", "unexpected token: <EOF>")
                c = source[i]
                if c == "\\" and i + 1 < n:
                    esc = source[i + 1]
                    if esc not in _ESCAPES:
                        raise _error_at(
                            source, i, "MALFORMED_QUERY", f"Invalid string literal escape: \\{esc}"
                        )
                    chars.append(_ESCAPES[esc])
                    i += 2
                    continue
                if c == "'":
                    i += 1
                    break
                chars.append(c)
                i += 1
            tokens.append(Token("STRING", source[start:i], start, "".join(chars)))
            continue
        if ch.isdigit() or (ch in "+-" and i + 1 < n and source[i + 1].isdigit()):
            i += 1
            while i < n and (source[i].isalnum() or source[i] in ".:-+"):
                # A date/datetime literal is one word: 2026-01-01T00:00:00.000+0000.
                if source[i] in "+-" and not _in_temporal(source[start:i]):
                    break
                if source[i] == ":" and "T" not in source[start:i]:
                    break
                i += 1
            text = source[start:i]
            tokens.append(_number_or_temporal(source, text, start))
            continue
        if ch.isalpha() or ch == "_":
            while i < n and (source[i].isalnum() or source[i] in "_."):
                i += 1
            text = source[start:i]
            upper = text.upper()
            kind = "KEYWORD" if upper in KEYWORDS else "IDENT"
            tokens.append(Token(kind, text, start, upper))
            continue
        op = next((o for o in _OPERATORS if source.startswith(o, i)), None)
        if op is not None:
            i += len(op)
            tokens.append(Token("OP", op, start, "!=" if op == "<>" else op))
            continue
        if ch in _PUNCT:
            i += 1
            tokens.append(Token(_PUNCT[ch], ch, start))
            continue
        raise _error_at(source, start, "MALFORMED_QUERY", f"unexpected token: '{ch}'")
    tokens.append(Token("EOF", "<EOF>", n))
    return tokens


def _in_temporal(prefix: str) -> bool:
    """Whether a sign continues a date (``2026-01``) or a zone (``...T10:00:00+``)."""
    body = prefix.lstrip("+-")
    return len(body) >= 4 and body[:4].isdigit() and (len(body) == 4 or body[4] == "-")


def _number_or_temporal(source: str, text: str, pos: int) -> Token:
    body = text.lstrip("+-")
    if len(body) >= 10 and body[4:5] == "-":
        if len(body) == 10:
            try:
                return Token("DATE", text, pos, date.fromisoformat(body).isoformat())
            except ValueError:
                pass
        elif "T" in body:
            zone_ok = body.endswith(("Z", "z")) or "+" in body[-6:-4] or "-" in body[-6:-4]
            try:
                if zone_ok:
                    return Token("DATETIME", text, pos, format_datetime(parse_datetime(body)))
            except ValueError:
                pass
        raise _error_at(
            source, pos, "MALFORMED_QUERY", f"line 1:{pos} no viable alternative at character '{text}'"
        )
    try:
        value: float | int = int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise _error_at(source, pos, "MALFORMED_QUERY", f"unexpected token: '{text}'") from None
    return Token("NUMBER", text, pos, value)


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class FieldRef:
    name: str
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str
    """STRING, NUMBER, BOOLEAN, NULL, DATE, DATETIME, DATE_RANGE."""
    value: Any
    pos: int
    text: str


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str
    """=, !=, <, <=, >, >=, IN, NOT IN, LIKE."""
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str
    """AND, OR."""
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderKey:
    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    source: str
    fields: tuple[FieldRef, ...]
    """Empty for ``COUNT()``."""
    count: bool
    sobject: str
    sobject_pos: int
    where: Condition | None
    order_by: tuple[OrderKey, ...]
    limit: int | None
    offset: int | None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, tok: Token | None = None) -> QueryError:
        tok = tok or self.tok
        shown = tok.text if tok.kind != "EOF" else "<EOF>"
        return _error_at(self.source, tok.pos, "MALFORMED_QUERY", f"unexpected token: '{shown}'")

    def next(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value in words

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.fail()
        return self.next()

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.fail()
        return self.next()

    def parse(self) -> Query:
        if not self.at_keyword("SELECT"):
            # Salesforce words a bad first token without the position preamble.
            raise QueryError(400, "MALFORMED_QUERY", f"unexpected token: {self.tok.text}")
        self.next()
        fields: list[FieldRef] = []
        count = False
        if (
            self.tok.kind == "IDENT"
            and self.tok.value == "COUNT"
            and self.tokens[self.i + 1].kind == "LPAREN"
        ):
            self.next()
            self.expect("LPAREN")
            self.expect("RPAREN")
            count = True
        else:
            fields.append(self.field())
            while self.tok.kind == "COMMA":
                self.next()
                fields.append(self.field())
        self.expect_keyword("FROM")
        obj = self.expect("IDENT")
        where = None
        if self.at_keyword("WHERE"):
            self.next()
            where = self.condition()
        order: list[OrderKey] = []
        if self.at_keyword("ORDER"):
            self.next()
            self.expect_keyword("BY")
            order.append(self.order_key())
            while self.tok.kind == "COMMA":
                self.next()
                order.append(self.order_key())
        limit = offset = None
        if self.at_keyword("LIMIT"):
            self.next()
            limit = self.non_negative_int()
        if self.at_keyword("OFFSET"):
            self.next()
            offset = self.non_negative_int()
        if self.tok.kind != "EOF":
            raise self.fail()
        return Query(self.source, tuple(fields), count, obj.text, obj.pos, where, tuple(order), limit, offset)

    def field(self) -> FieldRef:
        tok = self.tok
        if tok.kind != "IDENT":
            raise self.fail()
        self.next()
        if self.tok.kind == "LPAREN":
            raise _error_at(
                self.source, tok.pos, "MALFORMED_QUERY", f"unsupported function in the sandbox: {tok.text}()"
            )
        return FieldRef(tok.text, tok.pos)

    def non_negative_int(self) -> int:
        tok = self.expect("NUMBER")
        if not isinstance(tok.value, int) or tok.value < 0:
            raise self.fail(tok)
        return tok.value

    def order_key(self) -> OrderKey:
        ref = self.field()
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.next().value == "DESC"
        nulls_last = descending
        if self.at_keyword("NULLS"):
            self.next()
            if not self.at_keyword("FIRST", "LAST"):
                raise self.fail()
            nulls_last = self.next().value == "LAST"
        return OrderKey(ref, descending, nulls_last)

    def condition(self) -> Condition:
        items = [self.conjunction()]
        while self.at_keyword("OR"):
            self.next()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def conjunction(self) -> Condition:
        items = [self.negation()]
        while self.at_keyword("AND"):
            self.next()
            items.append(self.negation())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def negation(self) -> Condition:
        if self.at_keyword("NOT"):
            self.next()
            return Not(self.negation())
        if self.tok.kind == "LPAREN":
            self.next()
            inner = self.condition()
            self.expect("RPAREN")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        ref = self.field()
        if self.tok.kind == "OP":
            op = self.next().value
            return Comparison(ref, op, (self.literal(),))
        if self.at_keyword("LIKE"):
            self.next()
            return Comparison(ref, "LIKE", (self.literal(),))
        negated = False
        if self.at_keyword("NOT"):
            self.next()
            negated = True
        if self.at_keyword("IN"):
            self.next()
            self.expect("LPAREN")
            if self.at_keyword("SELECT"):
                raise _error_at(
                    self.source, self.tok.pos, "MALFORMED_QUERY", "semi-join sub-selects are not supported"
                )
            values = [self.literal()]
            while self.tok.kind == "COMMA":
                self.next()
                values.append(self.literal())
            self.expect("RPAREN")
            return Comparison(ref, "NOT IN" if negated else "IN", tuple(values))
        raise self.fail()

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind in ("STRING", "NUMBER", "DATE", "DATETIME"):
            self.next()
            return Literal(tok.kind, tok.value, tok.pos, tok.text)
        if tok.kind == "KEYWORD" and tok.value in ("TRUE", "FALSE"):
            self.next()
            return Literal("BOOLEAN", tok.value == "TRUE", tok.pos, tok.text)
        if tok.kind == "KEYWORD" and tok.value == "NULL":
            self.next()
            return Literal("NULL", None, tok.pos, tok.text)
        if tok.kind == "IDENT" and tok.value in DATE_LITERALS:
            self.next()
            return Literal("DATE_RANGE", (tok.value, 0), tok.pos, tok.text)
        if tok.kind == "IDENT" and tok.value in N_DATE_LITERALS:
            self.next()
            self.expect("COLON")
            number = self.expect("NUMBER")
            if not isinstance(number.value, int) or number.value < 0:
                raise self.fail(number)
            return Literal("DATE_RANGE", (tok.value, number.value), tok.pos, f"{tok.text}:{number.text}")
        raise self.fail()


def parse(source: str) -> Query:
    """Parse one SOQL statement; raises `QueryError` (``MALFORMED_QUERY``)."""
    return _Parser(source).parse()


# ---------------------------------------------------------------- compiling

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


@dataclass(frozen=True)
class CompiledQuery:
    sobject: ObjectSpec
    fields: tuple[str, ...]
    """Canonical names, in SELECT order; empty for COUNT()."""
    count: bool
    predicate: Predicate | None
    order_by: tuple[tuple[str, bool, bool, bool], ...]
    """(field, descending, nulls_last, case_insensitive)."""
    limit: int | None
    offset: int | None

    def run(self, records: list[Record]) -> list[Record]:
        """Filter, order and cut ``records`` (given in Id order, so ties stay stable)."""
        rows = records if self.predicate is None else [r for r in records if self.predicate(r)]
        for name, descending, nulls_last, folded in reversed(self.order_by):
            rows = sorted(rows, key=_sort_key(name, nulls_last != descending, folded), reverse=descending)
        start = self.offset or 0
        stop = None if self.limit is None else start + self.limit
        return rows[start:stop] if (start or stop is not None) else rows


def _sort_key(name: str, null_flag: bool, folded: bool) -> Callable[[Record], tuple[bool, Any]]:
    # With reverse=False nulls come first when the flag sorts them low (False < True).
    if folded:

        def key(r: Record) -> tuple[bool, Any]:
            v = r.get(name)
            return ((v is None) == null_flag, v.lower() if v is not None else "")
    else:

        def key(r: Record) -> tuple[bool, Any]:
            v = r.get(name)
            return ((v is None) == null_flag, v if v is not None else 0)

    return key


def compile_query(query: Query, objects: dict[str, ObjectSpec], now: datetime) -> CompiledQuery:
    """Resolve names against the schema and build the predicate and sort keys."""
    spec = next((o for o in objects.values() if o.name.lower() == query.sobject.lower()), None)
    if spec is None:
        raise _error_at(
            query.source,
            query.sobject_pos,
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference your WSDL "
            "or the describe call for the appropriate names.",
        )
    fields: list[str] = []
    for ref in query.fields:
        name = _resolve(query, spec, ref).name
        if name not in fields:
            fields.append(name)
    predicate = _compile_condition(query, spec, query.where, now) if query.where is not None else None
    order = []
    for key in query.order_by:
        fspec = _resolve(query, spec, key.field)
        order.append(
            (fspec.name, key.descending, key.nulls_last, fspec.type in TEXT_TYPES - {"id", "reference"})
        )
    if query.count and query.order_by:
        raise _error_at(
            query.source, query.order_by[0].field.pos, "MALFORMED_QUERY", "ORDER BY not allowed with COUNT()"
        )
    return CompiledQuery(spec, tuple(fields), query.count, predicate, tuple(order), query.limit, query.offset)


def _resolve(query: Query, obj: ObjectSpec, ref: FieldRef) -> FieldSpec:
    spec = obj.field(ref.name)
    if spec is None:
        if "." in ref.name:
            head = ref.name.split(".", 1)[0]
            message = (
                f"Didn't understand relationship '{head}' in field path. If you are attempting to use a "
                "custom relationship, be sure to append the '__r' after the custom relationship name. "
                "Please reference your WSDL or the describe call for the appropriate names."
            )
        else:
            message = (
                f"No such column '{ref.name}' on entity '{obj.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names."
            )
        raise _error_at(query.source, ref.pos, "INVALID_FIELD", message)
    return spec


def _compile_condition(query: Query, obj: ObjectSpec, cond: Condition, now: datetime) -> Predicate:
    if isinstance(cond, BoolOp):
        parts = [_compile_condition(query, obj, item, now) for item in cond.items]
        if cond.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(cond, Not):
        inner = _compile_condition(query, obj, cond.item, now)
        return lambda r: not inner(r)
    return _compile_comparison(query, obj, cond, now)


def _compile_comparison(query: Query, obj: ObjectSpec, cmp: Comparison, now: datetime) -> Predicate:
    spec = _resolve(query, obj, cmp.field)
    name, op = spec.name, cmp.op
    if op == "LIKE":
        lit = cmp.values[0]
        if lit.kind != "STRING" or spec.type not in TEXT_TYPES:
            raise _filter_error(query, spec, lit)
        pattern = _like_regex(lit.value)
        return lambda r: (v := r.get(name)) is not None and pattern.fullmatch(v) is not None
    if op in ("IN", "NOT IN"):
        if any(lit.kind == "DATE_RANGE" for lit in cmp.values):
            raise _error_at(
                query.source, cmp.values[0].pos, "MALFORMED_QUERY", "date literals are not allowed in IN"
            )
        values = {_normalise(query, spec, lit) for lit in cmp.values}
        folded = spec.type in TEXT_TYPES - {"id", "reference"}
        if folded:
            values = {v.lower() if isinstance(v, str) else v for v in values}

            def member(r: Record) -> bool:
                v = r.get(name)
                return (v.lower() if isinstance(v, str) else v) in values
        else:

            def member(r: Record) -> bool:
                return r.get(name) in values

        if op == "IN":
            return member
        return lambda r: not member(r)
    lit = cmp.values[0]
    if lit.kind == "DATE_RANGE":
        return _range_predicate(query, spec, lit, op, now)
    value = _normalise(query, spec, lit)
    if value is None:
        if op == "=":
            return lambda r: r.get(name) is None
        if op == "!=":
            return lambda r: r.get(name) is not None
        raise _filter_error(query, spec, lit)
    if spec.type in TEXT_TYPES - {"id", "reference"}:
        value = value.lower()

        def get(r: Record) -> Any:
            v = r.get(name)
            return v.lower() if v is not None else None
    else:

        def get(r: Record) -> Any:
            return r.get(name)

    return _operator(op, get, value)


def _operator(op: str, get: Callable[[Record], Any], value: Any) -> Predicate:
    if op == "=":
        return lambda r: get(r) == value
    if op == "!=":
        return lambda r: get(r) != value
    if op == "<":
        return lambda r: (v := get(r)) is not None and v < value
    if op == "<=":
        return lambda r: (v := get(r)) is not None and v <= value
    if op == ">":
        return lambda r: (v := get(r)) is not None and v > value
    return lambda r: (v := get(r)) is not None and v >= value


def _range_predicate(query: Query, spec: FieldSpec, lit: Literal, op: str, now: datetime) -> Predicate:
    if spec.type not in ("date", "datetime"):
        raise _filter_error(query, spec, lit)
    word, n = lit.value
    today = now.astimezone(UTC).date()
    if word == "TODAY":
        first, last = today, today
    elif word == "YESTERDAY":
        first = last = today - timedelta(days=1)
    elif word == "TOMORROW":
        first = last = today + timedelta(days=1)
    elif word == "LAST_N_DAYS":
        first, last = today - timedelta(days=n), today
    else:
        first, last = today + timedelta(days=1), today + timedelta(days=n)
    end = last + timedelta(days=1)
    if spec.type == "date":
        lo, hi = first.isoformat(), end.isoformat()
    else:
        lo = format_datetime(datetime.combine(first, time(), UTC))
        hi = format_datetime(datetime.combine(end, time(), UTC))
    name = spec.name
    inside: Predicate = lambda r: (v := r.get(name)) is not None and lo <= v < hi  # noqa: E731
    if op == "=":
        return inside
    if op == "!=":
        return lambda r: not inside(r)
    if op == "<":
        return lambda r: (v := r.get(name)) is not None and v < lo
    if op == "<=":
        return lambda r: (v := r.get(name)) is not None and v < hi
    if op == ">":
        return lambda r: (v := r.get(name)) is not None and v >= hi
    return lambda r: (v := r.get(name)) is not None and v >= lo


def _normalise(query: Query, spec: FieldSpec, lit: Literal) -> Any:
    """The literal in the field's stored form, or the error Salesforce gives for a type mismatch."""
    if lit.kind == "NULL":
        return None
    kind = spec.type
    if kind in TEXT_TYPES and lit.kind == "STRING":
        return to_18(lit.value) if kind in ("id", "reference") and len(lit.value) == 15 else lit.value
    if kind in NUMBER_TYPES and lit.kind == "NUMBER":
        return lit.value
    if kind == "boolean" and lit.kind == "BOOLEAN":
        return lit.value
    if kind == "date" and lit.kind == "DATE":
        return lit.value
    if kind == "datetime" and lit.kind == "DATETIME":
        return lit.value
    raise _filter_error(query, spec, lit)


_TYPE_WORDS = {"datetime": "dateTime", "double": "double", "currency": "currency", "int": "int"}


def _filter_error(query: Query, spec: FieldSpec, lit: Literal) -> QueryError:
    kind = _TYPE_WORDS.get(spec.type, spec.type if spec.type in ("date", "boolean", "percent") else "string")
    quoted = "should be enclosed in quotes" if kind == "string" else "should not be enclosed in quotes"
    return _error_at(
        query.source,
        lit.pos,
        "INVALID_QUERY_FILTER_OPERATOR",
        f"value of filter criterion for field '{spec.name}' must be of type {kind} and {quoted}",
    )


def _like_regex(pattern: str) -> re.Pattern[str]:
    """Translate a LIKE pattern (``%``, ``_``, with ``\\%``/``\\_`` escapes) to a regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
