"""Segment HTTP tracking messages: validation and folding into daily aggregates (pure).

A batch is validated message by message; a bad message gets a reason and its batch index, and
the good ones go on. Nothing a single message holds may fail the batch later: values that no
message may hold (nesting deeper than `MAX_NESTING`, NaN or Infinity, huge numbers), dates that
overflow when converted to UTC, and every string that lands in a column (checked against that
column's length, and for NUL characters and lone surrogates that the databases refuse) are all
rejected here. Valid messages are folded into one aggregate per (product account, user, event,
day): the store never keeps raw events.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from collector.jsonbody import MAX_NESTING, NOT_A_NUMBER, TOO_DEEP, Marker
from store.models import Account, CollectedMessage, EventType, ProductUser, SourceLink, SurveyResponse, UsageDaily
from sync.normalise import normalise_domain

MAX_BATCH_BYTES = 500 * 1024
"""Segment's documented limit per batch request."""
MAX_MESSAGE_BYTES = 32 * 1024
"""Segment's documented limit per message."""
MAX_BATCH_MESSAGES = 2500
"""Default cap on messages per batch (``COLLECTOR_MAX_BATCH_MESSAGES``): Segment states none, but 500 KB
of realistic messages (200 bytes and up) stay below it, and a body of empty objects cannot cost more."""
ID_MAX = 255
FUTURE_TOLERANCE = dt.timedelta(days=1)
MESSAGE_TYPES = ("track", "identify", "group", "page", "screen", "alias")
LOGIN_EVENTS = frozenset({"logged in", "signed in", "login", "user logged in", "user signed in"})
SURVEY_EVENTS = frozenset({"nps survey submitted"})
ANONYMOUS_PREFIX = "anon:"
DOMAIN_TRAITS = ("domain", "website", "url", "email")
_ECHO = 64


def _length(column: Any) -> int:
    return int(column.type.length)


# Every limit below is the length of the column(s) the value is stored in.
MESSAGE_ID_MAX = min(ID_MAX, _length(CollectedMessage.__table__.c.message_id),
                     _length(SurveyResponse.__table__.c.source_ref))
USER_KEY_MAX = min(_length(ProductUser.__table__.c.user_key), _length(UsageDaily.__table__.c.user_key))
USER_ID_MAX = min(ID_MAX, USER_KEY_MAX)
ANONYMOUS_ID_MAX = min(ID_MAX, USER_KEY_MAX - len(ANONYMOUS_PREFIX))
GROUP_ID_MAX = min(ID_MAX, _length(SourceLink.__table__.c.external_id), _length(Account.__table__.c.name))
EVENT_MAX = min(_length(UsageDaily.__table__.c.event), _length(EventType.__table__.c.name))
ACCOUNT_NAME_MAX = _length(Account.__table__.c.name)
DOMAIN_MAX = _length(Account.__table__.c.domain)
USER_NAME_MAX = _length(ProductUser.__table__.c.name)
EMAIL_MAX = _length(ProductUser.__table__.c.email)
COMMENT_MAX = MAX_MESSAGE_BYTES

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str, limit: int) -> str | None:
    """Why ``text`` cannot be stored in a column of ``limit`` characters, or None."""
    if not text.strip():
        return "must not be empty"
    if len(text) > limit:
        return f"must be at most {limit} characters (got {len(text)})"
    if "\x00" in text:
        return "must not contain NUL characters"
    if _SURROGATE.search(text):
        return "must be valid Unicode (it holds an unpaired surrogate escape)"
    return None


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _ECHO else text[: _ECHO - 1] + "…"


class _StoredText(validate.Validator):
    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, value: str) -> str:
        problem = text_problem(value, self.limit)
        if problem:
            raise ValidationError(problem)
        return value


class _Timestamp(fields.Field):
    """ISO 8601 with a time zone (``Z`` or an offset); a naive time is taken as UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> dt.datetime:
        return parse_timestamp(value)


def parse_timestamp(value: Any) -> dt.datetime:
    """An ISO 8601 timestamp in UTC (a naive one taken as UTC); raises `ValidationError` with the reason."""
    if not isinstance(value, str) or not value:
        raise ValidationError("must be an ISO 8601 timestamp such as 2026-11-20T10:15:00Z")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise ValidationError(f"{_echo(value)} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValidationError(f"{_echo(value)} is outside the years 1 to 9999 in UTC") from exc


class _Id(fields.Field):
    """Segment ids may be strings or numbers; they are kept as strings, as long as their column allows."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("must be a string or a number")
        text = str(value).strip()
        if not text or len(text) > self.max_length:
            raise ValidationError(f"must be 1 to {self.max_length} characters")
        problem = text_problem(text, self.max_length)
        if problem:
            raise ValidationError(problem)
        return text


class MessageSchema(Schema):
    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, validate=validate.OneOf(MESSAGE_TYPES))
    messageId = _Id(MESSAGE_ID_MAX, load_default=None)
    userId = _Id(USER_ID_MAX, load_default=None)
    anonymousId = _Id(ANONYMOUS_ID_MAX, load_default=None)
    groupId = _Id(GROUP_ID_MAX, load_default=None)
    event = fields.String(load_default=None, validate=_StoredText(EVENT_MAX))
    name = fields.String(load_default=None)
    timestamp = _Timestamp(load_default=None)
    originalTimestamp = _Timestamp(load_default=None)
    properties = fields.Dict(load_default=dict)
    traits = fields.Dict(load_default=dict)
    context = fields.Dict(load_default=dict)

    @validates_schema
    def _ids_present(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("userId") and not data.get("anonymousId"):
            raise ValidationError("userId or anonymousId is required", "userId")
        if data["type"] == "track" and not data.get("event"):
            raise ValidationError("a track call needs an event name", "event")
        if data["type"] == "group" and not data.get("groupId"):
            raise ValidationError("a group call needs a groupId", "groupId")


_schema = MessageSchema()


@dataclass(slots=True)
class Message:
    """A valid message (treated as immutable: not frozen only because a frozen dataclass costs three times as
    much to build, and the collector builds one per event)."""

    type: str
    message_id: str
    user_key: str
    timestamp: dt.datetime
    index: int
    """Position in the batch as sent: every answer about this message names it."""
    event: str | None = None
    group_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    traits: Mapping[str, Any] = field(default_factory=dict)
    time_zone: str | None = None
    """``context.timezone`` when it names an IANA zone (campaign quiet hours); anything else is ignored."""


@dataclass(frozen=True)
class Rejection:
    index: int
    message_id: str | None
    errors: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "messageId": self.message_id, "errors": dict(self.errors)}


class BatchError(ValueError):
    """The request as a whole is unusable (not JSON, no ``batch`` list)."""


class BatchTooLarge(BatchError):
    """The request is larger than the collector takes in one go (bytes or messages)."""


def content_id(raw: Mapping[str, Any]) -> str:
    """A stable id for a message sent without ``messageId``: a resend dedupes all the same."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def unstorable_value(raw: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first field of a message holding a value no message may hold, and why; None if there is none.

    Iterative, and it stops descending below `MAX_NESTING`: however deep a value, this cannot recurse.
    """
    for key, value in raw.items():
        stack: list[tuple[Any, int]] = [(value, 2)]
        while stack:
            item, level = stack.pop()
            if isinstance(item, Marker):
                return key, item.reason
            if isinstance(item, float) and not math.isfinite(item):
                return key, NOT_A_NUMBER.reason
            if isinstance(item, dict | list):
                if level > MAX_NESTING:
                    return key, TOO_DEEP.reason
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return None


def group_domain(traits: Mapping[str, Any]) -> str | None:
    """The account's domain from a group call's traits (validated messages never raise here)."""
    for key in DOMAIN_TRAITS:
        value = traits.get(key)
        if isinstance(value, str):
            found = normalise_domain(value)
            if found:
                return found
    return None


def _echo_id(raw_id: Any) -> str | None:
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        return None
    return str(raw_id)[:MESSAGE_ID_MAX]


def _encoded_size(raw: Mapping[str, Any]) -> int:
    text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "surrogatepass"))


def _context_group(context: Mapping[str, Any], properties: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """``(where, group id)`` from ``context.groupId`` or ``properties.groupId``; the id is None if unusable."""
    for where, source in (("context", context), ("properties", properties)):
        value = source.get("groupId")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            text = str(value).strip()
            return where, None if text_problem(text, GROUP_ID_MAX) else text
    return None


def _text_errors(values: Mapping[str, Any], limits: Mapping[str, int]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key, limit in limits.items():
        value = values.get(key)
        if isinstance(value, str) and value.strip():  # checked as stored: unstripped, except e-mails
            problem = text_problem(value, limit)
            if problem:
                errors[key] = [problem]
    return errors


def _domain_errors(traits: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every trait a group's domain may be taken from must give a storable domain or none: the traits
    of several group calls are merged before the domain is read, so any of them may be the one used."""
    errors: dict[str, list[str]] = {}
    for key in DOMAIN_TRAITS:
        value = traits.get(key)
        if not isinstance(value, str):
            continue
        try:
            domain = normalise_domain(value)
        except ValueError as exc:
            errors[key] = [f"does not parse as a domain or URL: {exc}"]
            continue
        if domain and len(domain) > DOMAIN_MAX:
            errors[key] = [f"its domain must be at most {DOMAIN_MAX} characters"]
    return errors


def _stored_value_errors(data: Mapping[str, Any]) -> dict[str, Any]:
    """Errors for the values of a loaded message that would land in a column they do not fit."""
    errors: dict[str, Any] = {}
    traits, properties = data["traits"], data["properties"]
    trait_limits: dict[str, int] = {}
    if isinstance(traits.get("email"), str) and "@" in traits["email"]:
        trait_limits["email"] = EMAIL_MAX
    if data["type"] in ("group", "identify"):
        trait_limits["name"] = ACCOUNT_NAME_MAX if data["type"] == "group" else USER_NAME_MAX
    trait_errors = _text_errors(traits, trait_limits)
    if data["type"] == "group":
        trait_errors.update(_domain_errors(traits))
    if trait_errors:
        errors["traits"] = trait_errors
    if not data["groupId"]:
        found = _context_group(data["context"], properties)
        if found is not None and found[1] is None:
            errors[found[0]] = {"groupId": [f"must be 1 to {GROUP_ID_MAX} characters of valid text"]}
    if isinstance(data["event"], str) and data["event"].strip().lower() in SURVEY_EVENTS:
        comment_errors = _text_errors(properties, {"comment": COMMENT_MAX})
        if comment_errors:
            errors.setdefault("properties", {}).update(comment_errors)
    return errors


def parse_message(raw: Any, index: int, now: dt.datetime) -> Message | Rejection:
    """The message, or its rejection with every reason; a plain valid message takes `_fast_message`."""
    if type(raw) is dict:
        fast = _fast_message(raw, index, now)
        if fast is not None:
            return fast
    return _checked_message(raw, index, now)


def _checked_message(raw: Any, index: int, now: dt.datetime) -> Message | Rejection:
    """Every check in turn (the marshmallow schema included): the one place rejections are worded."""
    if not isinstance(raw, dict):
        return Rejection(index, None, {"_schema": ["each message must be a JSON object"]})
    message_id = _echo_id(raw.get("messageId"))
    unstorable = unstorable_value(raw)
    if unstorable is not None:
        return Rejection(index, message_id, {unstorable[0]: [unstorable[1]]})
    if _encoded_size(raw) > MAX_MESSAGE_BYTES:
        return Rejection(index, message_id, {"_schema": [f"message larger than {MAX_MESSAGE_BYTES} bytes"]})
    try:
        data = _schema.load(raw)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return Rejection(index, message_id, errors)
    stored_errors = _stored_value_errors(data)
    if stored_errors:
        return Rejection(index, message_id, stored_errors)
    when = data["timestamp"] or data["originalTimestamp"] or now
    if when > now + FUTURE_TOLERANCE:
        return Rejection(index, message_id, {"timestamp": [f"{when.isoformat()} is in the future"]})
    return _message(raw, data, index, when)


TIME_ZONE_MAX = 64


@functools.lru_cache(maxsize=512)
def known_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # not found, not a key (a path, a NUL): not a zone
        return False
    return True


def _time_zone(context: Any) -> str | None:
    value = context.get("timezone") if isinstance(context, Mapping) else None
    if type(value) is str and 0 < len(value) <= TIME_ZONE_MAX and known_time_zone(value):
        return value
    return None


def _message(raw: Mapping[str, Any], data: Mapping[str, Any], index: int, when: dt.datetime) -> Message:
    event = data["event"]
    if data["type"] in ("page", "screen"):
        event = "Page Viewed" if data["type"] == "page" else "Screen Viewed"
    context_group = _context_group(data["context"], data["properties"])
    return Message(
        type=data["type"],
        message_id=data["messageId"] or content_id(raw),
        user_key=data["userId"] or f"{ANONYMOUS_PREFIX}{data['anonymousId']}",
        timestamp=when,
        index=index,
        event=event,
        group_id=data["groupId"] or (context_group[1] if context_group else None),
        properties=data["properties"],
        traits=data["traits"],
        time_zone=_time_zone(data["context"]),
    )


_TYPES = frozenset(MESSAGE_TYPES)
_IDS = (("messageId", MESSAGE_ID_MAX), ("userId", USER_ID_MAX), ("anonymousId", ANONYMOUS_ID_MAX),
        ("groupId", GROUP_ID_MAX))
_TIMES = ("timestamp", "originalTimestamp")
_MAPPINGS = ("properties", "traits", "context")
_encode = msgspec.json.Encoder().encode


def _fast_message(raw: dict[str, Any], index: int, now: dt.datetime) -> Message | None:
    """The message when every check passes, by plain-Python checks that accept only what
    `_checked_message` accepts and build the same `Message`; None sends the message to
    `_checked_message`, which words the rejection (or, rarely, accepts what these checks doubt).

    One function on purpose (the collector runs it once per event): the schema's fields in turn, then
    `_stored_value_errors` (only its parts a message can trip: traits, a context group id, a survey comment)."""
    if not _plain_values(raw):
        return None
    try:
        size = len(_encode(raw))
    except (TypeError, ValueError, OverflowError):
        return None
    # The size Segment's limit counts (`_encoded_size`) is at most 1.5 times msgspec's compact encoding
    # (only a float's exponent can be written longer), so half the limit is safe without measuring.
    if size > MAX_MESSAGE_BYTES // 2 and _encoded_size(raw) > MAX_MESSAGE_BYTES:
        return None
    get = raw.get
    kind = get("type")
    if type(kind) is not str or kind not in _TYPES:
        return None
    ids: list[str | None] = []
    for key, limit in _IDS:
        value = get(key)
        if value is not None:
            if type(value) is str:
                value = value.strip()
            elif type(value) is int:
                value = str(value)
            else:
                return None
            if not value or len(value) > limit or "\x00" in value or (
                    not value.isascii() and _SURROGATE.search(value) is not None):
                return None
        ids.append(value)
    message_id, user_id, anonymous_id, group_id = ids
    event = get("event")
    if event is not None and (type(event) is not str or not _fast_text(event, EVENT_MAX)):
        return None
    name = get("name")
    if name is not None and type(name) is not str:
        return None
    when = None
    for key in _TIMES:
        value = get(key)
        if value is not None:
            try:
                value = parse_timestamp(value)
            except ValidationError:
                return None
            if when is None:
                when = value
    properties = _object_field(get("properties", _MISSING), copy=True)
    traits = _object_field(get("traits", _MISSING), copy=True)
    context = _object_field(get("context", _MISSING), copy=False)
    if properties is None or traits is None or context is None:
        return None
    return _usual_message(kind, message_id, user_id, anonymous_id, group_id, event, when, properties, traits,
                          context, index, now, lambda: raw)


def _usual_message(kind: str, message_id: str | None, user_id: str | None, anonymous_id: str | None,
                   group_id: str | None, event: str | None, when: dt.datetime | None, properties: dict[str, Any],
                   traits: dict[str, Any], context: dict[str, Any], index: int, now: dt.datetime,
                   raw: Callable[[], dict[str, Any]]) -> Message | None:
    """What both fast paths (`_fast_message`, `_fast_plain`) end with once a message's fields are read: the checks
    across fields, the group from the context, the survey comment, the time and the time zone, then the Message
    (its content id from `raw()` when it has no message id); None where the general path would reject it."""
    if not (user_id or anonymous_id) or (kind == "track" and not event) or (kind == "group" and not group_id):
        return None
    # `_stored_value_errors`: traits only matter when there are some
    if traits and _stored_value_errors({"type": kind, "traits": traits, "properties": properties,
                                        "groupId": group_id, "context": context, "event": event}):
        return None
    if not group_id:
        # `_context_group`: the first of context.groupId, properties.groupId that is a non-blank string or number
        for source in (context, properties):
            value = source.get("groupId")
            if type(value) is str:
                value = value.strip()
            elif type(value) is int:
                value = str(value)
            else:
                continue
            if value:
                if len(value) > GROUP_ID_MAX or "\x00" in value or (
                        not value.isascii() and _SURROGATE.search(value) is not None):
                    return None
                group_id = value
                break
    if event is not None and event.strip().lower() in SURVEY_EVENTS and _text_errors(properties,
                                                                                      {"comment": COMMENT_MAX}):
        return None
    if when is None:
        when = now
    elif when > now + FUTURE_TOLERANCE:
        return None
    if kind == "page":
        event = "Page Viewed"
    elif kind == "screen":
        event = "Screen Viewed"
    zone = context.get("timezone")  # `_time_zone`
    if zone is not None and not (type(zone) is str and 0 < len(zone) <= TIME_ZONE_MAX and known_time_zone(zone)):
        zone = None
    return Message(kind, message_id or content_id(raw()), user_id or f"{ANONYMOUS_PREFIX}{anonymous_id}", when, index,
                   event, group_id, properties, traits, zone)


_MISSING: Any = object()


class _PlainMessage(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A message of the usual shape, typed for `parse_body`'s decoder: every field a known one, ids strings or
    whole numbers, the objects objects. Anything else sends the whole body to `decode` and `parse_batch`.
    Not tracked by the cyclic garbage collector (``gc=False``; a request decodes a thousand): what it holds was
    decoded from JSON, so it can never be part of a reference cycle."""

    type: str
    messageId: str | int | msgspec.UnsetType | None = msgspec.UNSET
    userId: str | int | msgspec.UnsetType | None = msgspec.UNSET
    anonymousId: str | int | msgspec.UnsetType | None = msgspec.UNSET
    groupId: str | int | msgspec.UnsetType | None = msgspec.UNSET
    event: str | msgspec.UnsetType | None = msgspec.UNSET
    name: str | msgspec.UnsetType | None = msgspec.UNSET
    timestamp: str | msgspec.UnsetType | None = msgspec.UNSET
    originalTimestamp: str | msgspec.UnsetType | None = msgspec.UNSET
    properties: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    traits: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    context: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class _PlainBatch(msgspec.Struct):
    batch: list[_PlainMessage]


_decode_plain = msgspec.json.Decoder(_PlainBatch).decode
_PLAIN_FIELDS = _PlainMessage.__struct_fields__


def _raw_of(message: _PlainMessage | _TrackMessage) -> dict[str, Any]:
    """The message as `decode` gives it (the fields sent, nothing else)."""
    return {key: value for key in message.__struct_fields__ if (value := getattr(message, key)) is not msgspec.UNSET}


class _TrackMessage(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The commonest usual message, typed field by field: an id, a user id, an event name, a time, properties and a
    context, each present and a string or an object (`_PlainMessage`'s other fields absent). A body of only such
    messages is decoded by `_decode_tracks` (fewer fields and types to tell apart) and checked by `_usual_columns`
    without looking at the fields it cannot have; any other body is decoded by `_decode_plain`, as before."""

    type: str
    messageId: str
    userId: str
    event: str
    timestamp: str
    properties: dict[str, Any]
    context: dict[str, Any]


class _TrackBatch(msgspec.Struct):
    batch: list[_TrackMessage]


_decode_tracks = msgspec.json.Decoder(_TrackBatch).decode
_TRACK_COLUMNS = [operator.attrgetter(name) for name in _TrackMessage.__struct_fields__]


def parse_body(body: bytes, now: dt.datetime, *, max_messages: int = MAX_BATCH_MESSAGES,
               ) -> tuple[list[Message], list[Rejection]] | None:
    """`parse_batch` of ``decode(body)`` for a body of usual messages, decoded by a typed decoder (types, numbers'
    range, and which fields a message has checked in one compiled pass); None when the body is not of that
    shape (then `decode` and `parse_batch` decide, and word every rejection). Each message passes the same checks
    as in `_fast_message`; one that fails them gets `_checked_message`'s answer."""
    read = read_body(body, now, max_messages=max_messages)
    return (read.messages(), []) if type(read) is UsualColumns else cast(
        tuple[list[Message], list[Rejection]] | None, read)


def _check_count(count: int, max_messages: int) -> None:
    if count > max_messages:
        raise BatchTooLarge(f"a batch holds at most {max_messages} messages (this one has "
                            f"{count}): split it into smaller batches")


def read_body(body: bytes, now: dt.datetime, *, max_messages: int = MAX_BATCH_MESSAGES,
              ) -> UsualColumns | tuple[list[Message], list[Rejection]] | None:
    """`parse_body`, except that a batch whose every message is of the usual shape comes as its `UsualColumns`
    (whose `UsualColumns.messages` are `parse_body`'s good messages, with no rejection)."""
    try:
        tracks: list[_TrackMessage] | None = _decode_tracks(body).batch
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        tracks = None  # not a body of the commonest messages alone: the plain typed decoder decides
    if tracks is not None:
        _check_count(len(tracks), max_messages)
        absent = (msgspec.UNSET,) * len(tracks)
        kinds, message_ids, user_ids, events, timestamps, properties, contexts = [
            tuple(map(field, tracks)) for field in _TRACK_COLUMNS]
        usual = _checked_columns(tracks, body, now, kinds, message_ids, user_ids, absent, absent, events, timestamps,
                                 absent, properties, absent, contexts)
        if usual is not None:
            return usual
    try:
        messages = _decode_plain(body).batch
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    _check_count(len(messages), max_messages)
    if tracks is None:
        usual = _usual_columns(messages, body, now)
        if usual is not None:
            return usual
    good: list[Message] = []
    bad: list[Rejection] = []
    for index, plain in enumerate(messages):
        fast = _fast_plain(plain, index, now)
        parsed = fast if fast is not None else _checked_message(_raw_of(plain), index, now)
        if type(parsed) is Message:
            good.append(parsed)
        else:
            bad.append(cast(Rejection, parsed))
    return good, bad


@dataclass(slots=True)
class UsualColumns:
    """A batch of usual messages (`_usual_columns`) as columns, one value per message in batch order: what each
    message's `Message` is built from (`messages`), read by `collector.inbox.accept_usual` without building them.
    Every message of such a batch is valid and has no traits."""

    kinds: tuple[str, ...]
    message_ids: tuple[str, ...]
    user_keys: list[str]
    timestamps: list[dt.datetime]
    events: list[str | None]
    group_ids: list[str | None]
    properties: list[dict[str, Any]]
    time_zones: list[str | None]

    def __len__(self) -> int:
        return len(self.kinds)

    def messages(self) -> list[Message]:
        return list(map(Message, self.kinds, self.message_ids, self.user_keys, self.timestamps, range(len(self)),
                        self.events, self.group_ids, self.properties, [{} for _ in self.kinds], self.time_zones))

    def rows(self) -> list[tuple[Any, ...]]:
        """Each message's fields in `Message`'s order, as tuples (the inbox blob's rows: traits are ``{}``)."""
        return list(zip(self.kinds, self.message_ids, self.user_keys, self.timestamps, range(len(self)),
                        self.events, self.group_ids, self.properties, itertools.repeat({}), self.time_zones))


class _RawBatch(msgspec.Struct):
    batch: list[msgspec.Raw]


_decode_raw = msgspec.json.Decoder(_RawBatch).decode
_COLUMNS = [operator.attrgetter(name) for name in _PLAIN_FIELDS if name != "name"]
_TZINFO = operator.attrgetter("tzinfo")
_UNSET_TYPE = type(msgspec.UNSET)
_ABSENT = frozenset({_UNSET_TYPE, type(None)})
_STR = frozenset({str})
_SCALARS = frozenset({str, int, float, bool, type(None)})
_VIEWED = {"page": "Page Viewed", "screen": "Screen Viewed"}
_FLOAT_GROWTH = 8
"""How many times longer than its JSON text a number can come out of msgspec's encoder: at most 24 characters
(``-1.2345678901234567e-308``) for a float written in 3 (``1e5``, ``0.1``); nothing else ever comes out longer
(strings come out in their shortest escapes, spacing and repeated keys go)."""


def _ids_column(column: tuple[Any, ...], limit: int) -> bool | None:
    """True when every value of the column is a usable id (a string `_fast_plain` keeps as it is), False when
    every message goes without one, None otherwise (ids as numbers, blank or padded ids, a mix: not usual)."""
    kinds = set(map(type, column))
    if kinds <= _ABSENT:
        return False
    if kinds != _STR:
        return None
    return True if _column_text(column, limit, unpadded=True) else None


def _column_text(column: tuple[str, ...], limit: int, *, unpadded: bool = False) -> bool:
    """`_fast_text` of every value of a column of strings, in a few passes over the whole column; ``unpadded``: and
    no value starts or ends with white space (then none is all white space: each is checked not empty)."""
    lengths = set(map(len, column))
    if min(lengths) == 0 or max(lengths) > limit:
        return False
    if unpadded:
        if tuple(map(str.strip, column)) != column:  # str.strip gives back the very string when it strips nothing
            return False
    elif any(map(str.isspace, column)):
        return False
    joined = "".join(column)
    return "\x00" not in joined and (joined.isascii() or _SURROGATE.search(joined) is None)


def _objects(column: tuple[Any, ...]) -> list[dict[str, Any]] | None:
    """The column of an object field, {} where absent; None when a value nests objects or arrays past the limit."""
    unset = msgspec.UNSET
    objects = list(column) if _UNSET_TYPE not in set(map(type, column)) else [
        {} if value is unset else value for value in column]
    kinds = set(map(type, itertools.chain.from_iterable(map(dict.values, objects))))
    if not kinds <= _SCALARS and not all(_plain_values(value, level=2) for value in objects):
        return None
    return objects


def _usual_batch(messages: list[_PlainMessage], body: bytes, now: dt.datetime) -> list[Message] | None:
    """`_usual_columns`' messages, or None."""
    columns = _usual_columns(messages, body, now)
    return None if columns is None else columns.messages()


def _usual_columns(messages: list[_PlainMessage], body: bytes, now: dt.datetime) -> UsualColumns | None:
    """The columns of every message of a batch of the usual shape, checked column by column (each check a pass over
    all the batch's values of one field at C speed); None as soon as a check fails or the batch is not of that shape
    (then each message takes `_fast_plain` and, if need be, `_checked_message`, which word every rejection).

    The usual shape: every message has a string message id, a user id or an anonymous id (one of them for all),
    an event name (or is a page or screen call), no traits; a group id in the message for all or in the context
    (or properties) for all or for none; timestamps in UTC for all or for none. Each check is `_fast_plain`'s,
    on the whole column: a batch passes only where each of its messages would pass `_fast_plain` and come out
    as the same `Message`."""
    if not messages:
        return None
    # One pass per field (no tuple per message); the name is not read
    return _checked_columns(messages, body, now, *[tuple(map(field, messages)) for field in _COLUMNS])


def _checked_columns(messages: Sequence[_PlainMessage | _TrackMessage], body: bytes, now: dt.datetime,
                     kinds: tuple[Any, ...], message_ids: tuple[Any, ...], user_ids: tuple[Any, ...],
                     anonymous_ids: tuple[Any, ...], group_ids: tuple[Any, ...], events: tuple[Any, ...],
                     timestamps: tuple[Any, ...], original_timestamps: tuple[Any, ...],
                     properties_column: tuple[Any, ...], traits_column: tuple[Any, ...],
                     context_column: tuple[Any, ...]) -> UsualColumns | None:
    """`_usual_columns` of the messages' columns (each field's values in batch order, `msgspec.UNSET` where absent)."""
    if not messages:
        return None
    types = set(kinds)
    if not types <= _TYPES or "group" in types or any(traits_column):  # traits: group and identify calls
        return None
    if _ids_column(message_ids, MESSAGE_ID_MAX) is not True:
        return None
    users, anonymous = _ids_column(user_ids, USER_ID_MAX), _ids_column(anonymous_ids, ANONYMOUS_ID_MAX)
    if users is True and anonymous is False:
        user_keys: list[str] = list(user_ids)
    elif users is False and anonymous is True:
        user_keys = list(map(ANONYMOUS_PREFIX.__add__, anonymous_ids))
    else:
        return None
    grouped = _ids_column(group_ids, GROUP_ID_MAX)
    if grouped is None:
        return None
    event_types = set(map(type, events))
    if event_types == _STR:
        if not _column_text(events, EVENT_MAX):
            return None
        names = set(events)
        if any(name.strip().lower() in SURVEY_EVENTS for name in names):
            return None
    elif not (event_types <= _ABSENT and "track" not in types):
        return None
    whens, originals = _times(timestamps, now), _times(original_timestamps, now)
    if whens is None or originals is None:
        return None
    whens = whens or originals or [now] * len(messages)
    properties = _objects(properties_column)
    contexts = _objects(context_column)
    if properties is None or contexts is None:
        return None
    if grouped is False:
        group_column = _context_groups(contexts, properties)
        if group_column is None:
            return None
    else:
        group_column = list(group_ids)
    zones = _zones(contexts)
    if zones is None or not _small_enough(body, messages):
        return None
    if types == {"track"}:
        names_column: list[str | None] = list(events)
    else:
        names_column = [_VIEWED.get(kind, None if event is msgspec.UNSET else event)
                        for kind, event in zip(kinds, events, strict=True)]
    return UsualColumns(kinds, message_ids, user_keys, whens, names_column, group_column, properties, zones)


def _times(column: tuple[Any, ...], now: dt.datetime) -> list[dt.datetime] | None:
    """The times of a timestamp column: [] when no message has one, all of them when each is an ISO time in UTC
    and none in the future (`_fast_plain`'s usual case), None otherwise."""
    kinds = set(map(type, column))
    if kinds <= _ABSENT:
        return []
    if kinds != _STR:
        return None
    try:
        stamps = list(map(dt.datetime.fromisoformat, column))
    except ValueError:
        return None
    if set(map(id, map(_TZINFO, stamps))) != {id(dt.UTC)} or max(stamps) > now + FUTURE_TOLERANCE:
        return None
    return stamps


def _context_groups(contexts: list[dict[str, Any]], properties: list[dict[str, Any]]) -> list[str | None] | None:
    """The group ids of messages sent without one (`_usual_message`): ``context.groupId`` when every message has a
    usable one, else ``properties.groupId`` when every message has one and no context names any, else None for all
    when none names any; None (not usual) otherwise."""
    for source in (contexts, properties):
        column = list(map(dict.get, source, itertools.repeat("groupId")))
        state = _ids_column(tuple(column), GROUP_ID_MAX)
        if state is None:
            return None
        if state:
            return column
    return [None] * len(contexts)


def _zones(contexts: list[dict[str, Any]]) -> list[str | None] | None:
    """Each message's ``context.timezone`` as `_usual_message` keeps it (an IANA zone, else None), each distinct
    value looked at once; None when a value cannot be a set member (an object or array: not usual)."""
    column = list(map(dict.get, contexts, itertools.repeat("timezone")))
    try:
        distinct = set(column)
    except TypeError:
        return None
    if distinct == {None}:
        return column
    kept = {zone: zone if type(zone) is str and 0 < len(zone) <= TIME_ZONE_MAX and known_time_zone(zone) else None
            for zone in distinct}
    return list(map(kept.__getitem__, column))


def _small_enough(body: bytes, messages: Sequence[_PlainMessage | _TrackMessage]) -> bool:
    """No message over Segment's limit (`_fast_plain`'s size check), from the length of each message's text in
    the body: msgspec's encoding of a message is at most `_FLOAT_GROWTH` times as long as its text, so only a
    message whose text is longer than that share of the half limit is encoded to be measured."""
    spans = _decode_raw(body).batch
    if len(spans) != len(messages):
        return False
    bound = MAX_MESSAGE_BYTES // 2 // _FLOAT_GROWTH
    if max(map(len, spans)) <= bound:
        return True
    for plain, span in zip(messages, spans, strict=True):
        if len(span) > bound and len(_encode(plain)) > MAX_MESSAGE_BYTES // 2 and (
                _encoded_size(_raw_of(plain)) > MAX_MESSAGE_BYTES):
            return False
    return True


def _fast_plain(plain: _PlainMessage, index: int, now: dt.datetime) -> Message | None:
    """`_fast_message` of a typed message: what the decoder checked already (each field's type, no marker, NaN or
    huge number anywhere) is not checked again."""
    unset = msgspec.UNSET
    properties, traits, context = plain.properties, plain.traits, plain.context
    properties = {} if properties is unset else properties
    traits = {} if traits is unset else traits
    context = {} if context is unset else context
    # `_plain_values`: only the nesting is left to check, in the three objects
    for top in (properties, traits, context):
        for value in top.values():
            if (type(value) is dict or type(value) is list) and not _plain_values({"": value}, level=2):
                return None
    size = len(_encode(plain))
    if size > MAX_MESSAGE_BYTES // 2 and _encoded_size(_raw_of(plain)) > MAX_MESSAGE_BYTES:
        return None
    kind = plain.type
    if kind not in _TYPES:
        return None
    ids: list[str | None] = []
    for value, limit in ((plain.messageId, MESSAGE_ID_MAX), (plain.userId, USER_ID_MAX),
                         (plain.anonymousId, ANONYMOUS_ID_MAX), (plain.groupId, GROUP_ID_MAX)):
        if value is None or value is unset:
            ids.append(None)
            continue
        value = value.strip() if type(value) is str else str(value)
        if not value or len(value) > limit or "\x00" in value or (
                not value.isascii() and _SURROGATE.search(value) is not None):
            return None
        ids.append(value)
    message_id, user_id, anonymous_id, group_id = ids
    event = plain.event
    if event is unset:
        event = None
    elif event is not None and not _fast_text(event, EVENT_MAX):
        return None
    when = None
    for value in (plain.timestamp, plain.originalTimestamp):
        if value is not None and value is not unset:
            try:  # `parse_timestamp`, its usual case first: an ISO time in UTC
                stamp = dt.datetime.fromisoformat(value)
                if stamp.tzinfo is not dt.UTC:
                    stamp = parse_timestamp(value)
            except (ValueError, ValidationError):
                return None
            if when is None:
                when = stamp
    return _usual_message(kind, message_id, user_id, anonymous_id, group_id, event, when, properties, traits,
                          context, index, now, lambda: _raw_of(plain))


def _object_field(value: Any, *, copy: bool) -> dict[str, Any] | None:
    """A plain message's object field: {} when absent, the object itself (or a copy) when it is one, else None."""
    if value is _MISSING:
        return {}
    if type(value) is not dict:
        return None
    return dict(value) if copy else value


def _plain_values(raw: dict[str, Any], level: int = 1) -> bool:
    """No marker, NaN or Infinity anywhere in the message (at ``level``) and no nesting past `MAX_NESTING`."""
    stack: list[tuple[Any, int]] = [(raw, level)]
    while stack:
        item, level = stack.pop()
        for value in item.values() if type(item) is dict else item:
            kind = type(value)
            if kind is str or kind is int or kind is bool or value is None:
                continue
            if kind is float:
                if not math.isfinite(value):
                    return False
            elif kind is dict or kind is list:
                if level >= MAX_NESTING:
                    return False
                stack.append((value, level + 1))
            else:
                return False
    return True


def _fast_text(text: str, limit: int) -> bool:
    """`text_problem(text, limit)` is None."""
    return (0 < len(text) <= limit and not text.isspace() and "\x00" not in text
            and (text.isascii() or _SURROGATE.search(text) is None))


def parse_batch(payload: Any, now: dt.datetime, *, max_messages: int = MAX_BATCH_MESSAGES,
                ) -> tuple[list[Message], list[Rejection]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
        raise BatchError('the body must be a JSON object with a "batch" list of messages')
    if len(payload["batch"]) > max_messages:
        raise BatchTooLarge(f"a batch holds at most {max_messages} messages (this one has "
                            f"{len(payload['batch'])}): split it into smaller batches")
    good: list[Message] = []
    bad: list[Rejection] = []
    for index, raw in enumerate(payload["batch"]):
        parsed = parse_message(raw, index, now)
        if isinstance(parsed, Message):
            good.append(parsed)
        else:
            bad.append(parsed)
    return good, bad


def event_kind(name: str, milestones: frozenset[str] = frozenset()) -> str:
    lowered = name.strip().lower()
    if lowered in LOGIN_EVENTS:
        return "login"
    if lowered in SURVEY_EVENTS:
        return "survey"
    if name in milestones:
        return "milestone"
    return "feature"


@dataclass
class DailyFold:
    """Aggregates of one batch, keyed by (account id, user, event, day)."""

    usage: dict[tuple[int, str, str, dt.date], list[float]] = field(default_factory=dict)
    users_seen: dict[str, dt.datetime] = field(default_factory=dict)
    events: set[str] = field(default_factory=set)

    def add(self, account_id: int, message: Message) -> None:
        event, user_key, when = message.event, message.user_key, message.timestamp
        assert event is not None
        key = (account_id, user_key, event, when.date())
        entry = self.usage.get(key)
        if entry is None:
            entry = self.usage[key] = [0, 0.0]
        entry[0] += 1
        minutes = message.properties.get("minutes")
        if (type(minutes) is int or type(minutes) is float) and 0 <= minutes <= 24 * 60:
            entry[1] += float(minutes)
        self.events.add(event)
        seen = self.users_seen.get(user_key)
        if seen is None or when > seen:
            self.users_seen[user_key] = when
