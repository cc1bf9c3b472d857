"""The product-usage stream of a synthetic world, in the Segment HTTP tracking format.

`iter_usage_events` yields Segment messages company by company, in time order within a
company; `iter_usage_batches` packs them into ``{"batch": [...]}`` bodies for
``POST /v1/batch`` below ``max_bytes``. Everything is derived from the world's seed, so the
same world always gives the same stream (``messageId`` included).

Who uses the product: the company's CRM contacts (user id = the person's key, activity ending
on ``Person.last_active``) plus product-only users (``<company key>-U001``...). Group ids are
the product's own account ids, i.e. the company key. Each user gets an ``identify`` and a
``group`` call before their first event in the window; ``track`` calls carry
``context.groupId``. Events:

* ``Logged In`` (``properties.minutes``) once per active user-day, then 0–3 feature events
  (`KEY_FEATURES`): about 1–3 events per active user-day;
* the onboarding milestones (`ONBOARDING_MILESTONES`) at their real dates, even when those
  are before the window (they are five events per company);
* ``NPS Survey Submitted`` (``score``, ``comment``) for the world's NPS responses in the window.

How each story shows (``days`` = 180 ends the day before ``as_of``):
``declining_usage``: ~75 % of users stop 15–27 days before ``as_of`` and the rest halve their
activity, so active users and events of the last 14 days drop well over 50 % against the 14
before. ``onboarding_stalled``: one or two milestones in the first days, then none, few users.
``champion_quiet``: champions and the executive sponsor stop 31–60 days before ``as_of``.
``power_users``: most users active most days using 6–8 features. ``at_capacity``: as many users as
seats bought, all active in the last week. ``healthy`` / ``ticket_storm``: steady.

Volume: a 200-company world (seed 7) gives about 460,000 messages in ~270 batches of 450 kB
(see ``bench/bench_sandbox.py``).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, timedelta
from typing import Any

from sandbox.generate import DECLINE_STOP_DAYS
from sandbox.world import Company, Deal, Person, SurveyResponse, World
from scoring.model import default_model

_VOCABULARY = default_model().signals
KEY_FEATURES: tuple[str, ...] = _VOCABULARY.key_features
"""The product's key features and onboarding milestones are the health model's (`scoring/default_model.yaml`)."""
ONBOARDING_MILESTONES: tuple[str, ...] = _VOCABULARY.milestones
LOGIN_EVENT = _VOCABULARY.login_event
NPS_EVENT = "NPS Survey Submitted"
LIBRARY = {"name": "canary-sandbox", "version": "1.0"}

_WEEKEND_FACTOR = 0.2
_HABIT_CHANCE = 0.9
_OFF_HABIT_CHANCE = 0.05
_FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
          "Parker", "Rowan", "Hayden", "Emerson", "Reese", "Skyler", "Dakota", "Kai", "Remy", "Noor")
_LAST = ("Reed", "Park", "Fox", "Hale", "Stone", "Wells", "Lane", "Brooks", "Gray", "Frost",
         "Cole", "Banks", "Nash", "Pratt", "Sloan", "Vance", "Webb", "Yates", "Zhou", "Ito")


@dataclass(frozen=True)
class ProductUser:
    """One user of the product at one company."""

    user_id: str
    email: str
    name: str
    role: str
    person_key: str | None
    """The CRM contact this user is, if any."""
    first_day: date
    last_active: date | None
    """Last day with activity (None: never used the product)."""
    daily_rate: float
    """Chance of being active on a weekday (weekends: a fifth of it)."""
    late_rate: float
    """The same chance over the last 14 days before ``as_of``."""
    features: tuple[str, ...]
    features_per_day: int
    habit: frozenset[int] = frozenset()
    """The weekdays (0 = Monday) this user usually works in the product: people are creatures of habit,
    so a steady team's fortnights look alike instead of swinging with coin flips."""


def seats(world: World, company: Company) -> int:
    """Seats of the company's active subscription (0 without one)."""
    for deal in _deals_by_company(world).get(company.key, ()):
        if deal.status == "active":
            return deal.seats
    return 0


def _deals_by_company(world: World) -> dict[str, list[Deal]]:
    index: dict[str, list[Deal]] | None = getattr(world, "_deals_index", None)
    if index is None:
        index = {}
        for deal in world.deals:
            index.setdefault(deal.company_key, []).append(deal)
        object.__setattr__(world, "_deals_index", index)
    return index


def _people_by_company(world: World) -> dict[str, list[Person]]:
    index: dict[str, list[Person]] | None = getattr(world, "_people_index", None)
    if index is None:
        index = {}
        for person in world.people:
            index.setdefault(person.company_key, []).append(person)
        object.__setattr__(world, "_people_index", index)
    return index


def _surveys_by_company(world: World) -> dict[str, list[SurveyResponse]]:
    index: dict[str, list[SurveyResponse]] | None = getattr(world, "_surveys_index", None)
    if index is None:
        index = {}
        for survey in world.surveys:
            index.setdefault(survey.company_key, []).append(survey)
        object.__setattr__(world, "_surveys_index", index)
    return index


def _rng(world: World, company: Company, purpose: str) -> random.Random:
    return random.Random(f"canary-usage:{world.seed}:{world.as_of.isoformat()}:{company.key}:{purpose}")


def product_users(world: World, company: Company) -> list[ProductUser]:
    """The company's product users, CRM contacts first; deterministic for the world."""
    rng = _rng(world, company, "users")
    as_of = world.as_of
    story = company.story
    bought = seats(world, company)
    people = _people_by_company(world).get(company.key, [])
    if story == "at_capacity":
        target = bought  # every seat taken, every user active in the last week
    elif story == "onboarding_stalled":
        target = len(people) + int(rng.random() * 3)
    else:
        target = round(bought * (0.45 + rng.random() * 0.3))
    start = company.onboarding_start
    users: list[ProductUser] = []

    def features(power: bool) -> tuple[tuple[str, ...], int]:
        count = 6 + int(rng.random() * 3) if power else 3 + int(rng.random() * 3)
        return tuple(rng.sample(KEY_FEATURES, count)), (3 if power else 2)

    for person in people:
        rate = {"executive_sponsor": 0.15, "champion": 0.6, "admin": 0.4}.get(person.role, 0.2 + rng.random() * 0.3)
        power = story == "power_users" or (person.role == "champion" and rng.random() < 0.5)
        if story == "power_users":
            rate = max(rate, 0.8)
        if story == "onboarding_stalled":
            rate = 0.15
        chosen, per_day = features(power)
        late = rate * 0.5 if story == "declining_usage" else rate
        users.append(
            ProductUser(
                user_id=person.key,
                email=person.email,
                name=f"{person.first_name} {person.last_name}",
                role=person.role,
                person_key=person.key,
                first_day=start,
                last_active=person.last_active,
                daily_rate=rate,
                late_rate=late,
                features=chosen,
                features_per_day=per_day,
            )
        )
    domain = company.domain or f"{company.key.lower()}.example"
    extra = max(0, target - len(people))
    leaving = math.ceil(extra * 0.75)  # a declining customer: three in four product-only users stop
    for number in range(1, extra + 1):
        first = _FIRST[int(rng.random() * len(_FIRST))]
        last = _LAST[int(rng.random() * len(_LAST))]
        rate = 0.75 + rng.random() * 0.2 if story == "power_users" else 0.2 + rng.random() * 0.3
        if story == "onboarding_stalled":
            rate = 0.1
        last_active: date | None = as_of - timedelta(days=1 + int(rng.random() * 5))
        first_day = start
        if story == "declining_usage" and number <= leaving:
            low, high = DECLINE_STOP_DAYS
            last_active = as_of - timedelta(days=low + int(rng.random() * (high - low + 1)))
        elif story == "healthy" and rng.random() < 0.1:  # a steady trickle of new users
            first_day = max(start, as_of - timedelta(days=10 + int(rng.random() * 160)))
        elif story == "onboarding_stalled" and rng.random() < 0.5:
            last_active = None
        chosen, per_day = features(story == "power_users")
        users.append(
            ProductUser(
                user_id=f"{company.key}-U{number:03d}",
                email=f"{first}.{last}{number}@{domain}".lower(),
                name=f"{first} {last}",
                role="user",
                person_key=None,
                first_day=first_day,
                last_active=last_active,
                daily_rate=rate,
                late_rate=rate * 0.5 if story == "declining_usage" else rate,
                features=chosen,
                features_per_day=per_day,
            )
        )
    return [replace(user, habit=_habit(rng, user.daily_rate)) for user in users]


def _habit(rng: random.Random, rate: float) -> frozenset[int]:
    """About ``rate`` of the five weekdays, drawn once per user."""
    days = min(5, max(1, round(rate * 5 + rng.random() - 0.5)))
    return frozenset(rng.sample(range(5), days))


def _active_chance(user: ProductUser, day: date, late: bool) -> float:
    """The chance ``user`` uses the product on ``day``: high on habitual weekdays, low otherwise."""
    weekday = day.weekday()
    if weekday >= 5:
        chance = user.daily_rate * _WEEKEND_FACTOR
    elif weekday in user.habit:
        chance = _HABIT_CHANCE
    else:
        chance = _OFF_HABIT_CHANCE
    return chance * (user.late_rate / user.daily_rate if late and user.daily_rate else 1.0)


def _stamp(day: date, seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{day.isoformat()}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000Z"


def iter_usage_events(world: World, company: Company | str | None = None, days: int = 180) -> Iterator[dict]:
    """Segment messages for one company (object or key) or for all, over the ``days`` before ``as_of``."""
    if company is None:
        for each in world.companies:
            yield from _company_events(world, each, days)
    else:
        target = world.company(company) if isinstance(company, str) else company
        yield from _company_events(world, target, days)


def _nps_by_day(world: World, company: Company, users: list[ProductUser], window_start: date
                ) -> dict[date, list[tuple[int, ProductUser, list[tuple[str, dict]]]]]:
    """NPS answers in the window, by day: (seconds into the day, user, the event)."""
    as_of = world.as_of
    surveys: dict[date, list[tuple[int, ProductUser, list[tuple[str, dict]]]]] = {}
    by_key = {u.person_key: u for u in users if u.person_key}
    for survey in _surveys_by_company(world).get(company.key, ()):
        day = survey.submitted_at.astimezone(UTC).date()
        if survey.kind == "nps" and window_start <= day < as_of and survey.person_key in by_key:
            moment = survey.submitted_at.astimezone(UTC)
            properties = {"score": survey.score, "comment": survey.comment}
            surveys.setdefault(day, []).append(
                (moment.hour * 3600 + moment.minute * 60 + moment.second, by_key[survey.person_key],
                 [(NPS_EVENT, properties)])
            )
    return surveys


def _company_events(world: World, company: Company, days: int) -> Iterator[dict]:
    rng = _rng(world, company, "events")
    as_of = world.as_of
    window_start = as_of - timedelta(days=days)
    late_start = as_of - timedelta(days=14)
    users = product_users(world, company)
    seed_prefix = f"sbx{world.seed}-{company.key}-"
    counter = 0
    group_id = company.key
    context = {"groupId": group_id, "library": LIBRARY}
    group_traits = {
        "name": company.name,
        "website": f"https://{company.domain}" if company.domain else None,
        "domain": company.domain,
        "plan": company.tier,
        "employees": company.employees,
        "industry": company.industry,
    }

    def message(kind: str, user: ProductUser, timestamp: str, **fields: Any) -> dict:
        nonlocal counter
        counter += 1
        return {"type": kind, "messageId": f"{seed_prefix}{counter:07d}", "timestamp": timestamp,
                "userId": user.user_id, **fields}

    def introduce(user: ProductUser, timestamp: str) -> list[dict]:
        return [
            message("identify", user, timestamp,
                    traits={"email": user.email, "name": user.name, "role": user.role}),
            message("group", user, timestamp, groupId=group_id, traits=group_traits),
        ]

    introduced: set[str] = set()
    # Onboarding milestones, by the first admin or champion, at their real dates.
    milestone_owner = next((u for u in users if u.role in ("admin", "champion") and u.last_active), None)
    if milestone_owner is not None:
        reached = ONBOARDING_MILESTONES
        if company.story == "onboarding_stalled":
            reached = ONBOARDING_MILESTONES[: 1 + int(rng.random() * 2)]
        day = company.onboarding_start
        out: list[dict] = []
        for milestone in reached:
            stamp = _stamp(day, 9 * 3600 + int(rng.random() * 8 * 3600))
            if milestone_owner.user_id not in introduced:
                out.extend(introduce(milestone_owner, stamp))
                introduced.add(milestone_owner.user_id)
            out.append(message("track", milestone_owner, stamp, event=milestone, properties={}, context=context))
            day = day + timedelta(days=1 + int(rng.random() * (2 if company.story == "onboarding_stalled" else 5)))
        yield from out

    surveys = _nps_by_day(world, company, users, window_start)

    day = window_start
    while day < as_of:
        todays: list[tuple[int, ProductUser, list[tuple[str, dict]]]] = []
        for user in users:
            if user.last_active is None or day < user.first_day or day > user.last_active:
                continue
            if rng.random() >= _active_chance(user, day, day >= late_start) and day != user.last_active:
                continue
            start = 7 * 3600 + int(rng.random() * 11 * 3600)
            events: list[tuple[str, dict]] = [(LOGIN_EVENT, {"minutes": 3 + int(rng.random() * 55)})]
            for _ in range(int(rng.random() * (user.features_per_day + 1))):
                events.append((user.features[int(rng.random() * len(user.features))], {}))
            todays.append((start, user, events))
        todays.extend(surveys.get(day, ()))
        todays.sort(key=lambda item: item[0])
        for start, user, events in todays:
            stamp = _stamp(day, start)
            if user.user_id not in introduced:
                yield from introduce(user, stamp)
                introduced.add(user.user_id)
            for offset, (event, properties) in enumerate(events):
                yield message("track", user, _stamp(day, min(start + offset * 240, 86_399)), event=event,
                              properties=properties, context=context)
        day += timedelta(days=1)


def iter_usage_batches(
    world: World,
    max_bytes: int = 450_000,
    *,
    company: Company | str | None = None,
    days: int = 180,
    events: Iterable[dict] | None = None,
) -> Iterator[dict]:
    """``{"batch": [...]}`` bodies whose JSON encoding stays under ``max_bytes``."""
    overhead = len('{"batch": []}')
    batch: list[dict] = []
    size = overhead
    source = events if events is not None else iter_usage_events(world, company, days)
    for item in source:
        encoded = len(json.dumps(item)) + 2  # ", " separator
        if encoded + overhead > max_bytes:
            raise ValueError(f"a single message is larger than max_bytes={max_bytes}")
        if batch and size + encoded > max_bytes:
            yield {"batch": batch}
            batch, size = [], overhead
        batch.append(item)
        size += encoded
    if batch:
        yield {"batch": batch}
