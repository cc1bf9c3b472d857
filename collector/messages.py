"""Segment HTTP tracking messages: validation and folding into daily aggregates (pure).

A batch is validated message by message with marshmallow; a bad message gets a
reason and the good ones go on. Valid messages are folded into one aggregate per
(product account, user, event, day): the store never keeps raw events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

MAX_BATCH_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024
FUTURE_TOLERANCE = dt.timedelta(days=1)
MESSAGE_TYPES = ("track", "identify", "group", "page", "screen", "alias")
LOGIN_EVENTS = frozenset({"logged in", "signed in", "login", "user logged in", "user signed in"})
SURVEY_EVENTS = frozenset({"nps survey submitted"})


class _Timestamp(fields.Field):
    """ISO 8601 with a time zone (``Z`` or an offset); a naive time is taken as UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> dt.datetime:
        if not isinstance(value, str) or not value:
            raise ValidationError("must be an ISO 8601 timestamp such as 2026-11-20T10:15:00Z")
        try:
            parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError as exc:
            raise ValidationError(f"{value!r} is not an ISO 8601 timestamp") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)


class _Id(fields.Field):
    """Segment ids may be strings or numbers; they are kept as strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("must be a string or a number")
        text = str(value).strip()
        if not text or len(text) > 255:
            raise ValidationError("must be 1 to 255 characters")
        return text


class MessageSchema(Schema):
    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, validate=validate.OneOf(MESSAGE_TYPES))
    messageId = _Id(load_default=None)
    userId = _Id(load_default=None)
    anonymousId = _Id(load_default=None)
    groupId = _Id(load_default=None)
    event = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
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


@dataclass(frozen=True)
class Message:
    type: str
    message_id: str
    user_key: str
    timestamp: dt.datetime
    event: str | None = None
    group_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    traits: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    index: int
    message_id: str | None
    errors: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "messageId": self.message_id, "errors": dict(self.errors)}


class BatchError(ValueError):
    """The request as a whole is unusable (not JSON, no ``batch`` list)."""


def content_id(raw: Mapping[str, Any]) -> str:
    """A stable id for a message sent without ``messageId``: a resend dedupes all the same."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def parse_message(raw: Any, index: int, now: dt.datetime) -> Message | Rejection:
    if not isinstance(raw, dict):
        return Rejection(index, None, {"_schema": ["each message must be a JSON object"]})
    raw_id = raw.get("messageId")
    message_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    if len(json.dumps(raw, default=str)) > MAX_MESSAGE_BYTES:
        return Rejection(index, message_id, {"_schema": [f"message larger than {MAX_MESSAGE_BYTES} bytes"]})
    try:
        data = _schema.load(raw)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return Rejection(index, message_id, errors)
    when = data["timestamp"] or data["originalTimestamp"] or now
    if when > now + FUTURE_TOLERANCE:
        return Rejection(index, message_id, {"timestamp": [f"{when.isoformat()} is in the future"]})
    event = data["event"]
    if data["type"] in ("page", "screen"):
        event = "Page Viewed" if data["type"] == "page" else "Screen Viewed"
    group_id = data["groupId"] or _context_group(data["context"], data["properties"])
    return Message(
        type=data["type"],
        message_id=data["messageId"] or content_id(raw),
        user_key=data["userId"] or f"anon:{data['anonymousId']}",
        timestamp=when,
        event=event,
        group_id=group_id,
        properties=data["properties"],
        traits=data["traits"],
    )


def _context_group(context: Mapping[str, Any], properties: Mapping[str, Any]) -> str | None:
    for source in (context, properties):
        value = source.get("groupId")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def parse_batch(payload: Any, now: dt.datetime) -> tuple[list[Message], list[Rejection]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
        raise BatchError('the body must be a JSON object with a "batch" list of messages')
    good: list[Message] = []
    bad: list[Rejection] = []
    for index, raw in enumerate(payload["batch"]):
        parsed = parse_message(raw, index, now)
        (good if isinstance(parsed, Message) else bad).append(parsed)  # type: ignore[arg-type]
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
        assert message.event is not None
        key = (account_id, message.user_key, message.event, message.timestamp.date())
        entry = self.usage.setdefault(key, [0, 0.0])
        entry[0] += 1
        minutes = message.properties.get("minutes")
        if isinstance(minutes, int | float) and not isinstance(minutes, bool) and 0 <= minutes <= 24 * 60:
            entry[1] += float(minutes)
        self.events.add(message.event)
        seen = self.users_seen.get(message.user_key)
        if seen is None or message.timestamp > seen:
            self.users_seen[message.user_key] = message.timestamp
