"""A campaign's dashboard figures, per campaign and per step, and cumulative per day (what the UI draws).

``sent``: e-mails queued for a person (a step run ``sent``); ``delivered``/``bounced``: the SMTP server accepted
or refused them for good (`mail.outbox`); ``opened``/``clicked``/``unsubscribed``: e-mails with at least one
such event (unique per e-mail, the first one's day counts); ``goal_reached``/``converted``: enrollments.
Everything up to the end of ``as_of``'s day (UTC).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Campaign, CampaignEnrollment, CampaignStepRun, MailEvent

MAIL_KINDS = ("delivered", "bounced", "opened", "clicked", "unsubscribed")
FIGURES = ("sent", *MAIL_KINDS)


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


def campaign_stats(session: Session, campaign_id: int, as_of: dt.date) -> dict[str, Any]:
    """``{"campaign": {...figures, enrolled, active, goal_reached, converted, conversion_rate},
    "steps": [{position, kind, ...figures}], "days": [{day, ...cumulative figures, goal_reached}]}``."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id} in this workspace")
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), dt.UTC)
    runs = session.execute(select(CampaignStepRun.position, CampaignStepRun.outbox_id, CampaignStepRun.at).where(
        CampaignStepRun.campaign_id == campaign_id, CampaignStepRun.outcome == "sent",
        CampaignStepRun.at < end)).all()
    step_of = {outbox_id: position for position, outbox_id, _ in runs if outbox_id is not None}
    first: dict[tuple[int, str], dt.datetime] = {}
    if step_of:
        ids = sorted(step_of)
        for chunk in range(0, len(ids), 500):
            for outbox_id, kind, at in session.execute(select(MailEvent.outbox_id, MailEvent.kind, MailEvent.at).where(
                    MailEvent.outbox_id.in_(ids[chunk:chunk + 500]), MailEvent.at < end)):
                if kind in MAIL_KINDS and ((outbox_id, kind) not in first or at < first[(outbox_id, kind)]):
                    first[(outbox_id, kind)] = at
    enrollments = session.execute(select(CampaignEnrollment.enrolled_at, CampaignEnrollment.exited_at,
                                         CampaignEnrollment.goal_reached_at, CampaignEnrollment.converted_at).where(
        CampaignEnrollment.campaign_id == campaign_id, CampaignEnrollment.enrolled_at < end)).all()

    per_step: dict[int, Counter[str]] = {s.position: Counter() for s in campaign.steps}
    daily: dict[dt.date, Counter[str]] = {}
    for position, _, at in runs:
        per_step.setdefault(position, Counter())["sent"] += 1
        daily.setdefault(_day(at), Counter())["sent"] += 1
    for (outbox_id, kind), at in first.items():
        per_step.setdefault(step_of[outbox_id], Counter())[kind] += 1
        daily.setdefault(_day(at), Counter())[kind] += 1
    goal_reached = converted = active = 0
    for _enrolled, exited, reached, conv in enrollments:
        active += exited is None or exited >= end
        if reached is not None and reached < end:
            goal_reached += 1
            daily.setdefault(_day(reached), Counter())["goal_reached"] += 1
        converted += conv is not None and conv < end

    totals: Counter[str] = Counter()
    for figures in per_step.values():
        totals.update(figures)
    kinds = {s.position: s.kind for s in campaign.steps}
    start = min([*daily, _day(campaign.activated_at) if campaign.activated_at else as_of, as_of])
    days, running = [], Counter[str]()
    day = start
    while day <= as_of:
        running.update(daily.get(day, Counter()))
        days.append({"day": day.isoformat(), **{k: running[k] for k in (*FIGURES, "goal_reached")}})
        day += dt.timedelta(days=1)
    return {"campaign": {"id": campaign.id, "name": campaign.name, "status": campaign.status,
                         **{k: totals[k] for k in FIGURES}, "enrolled": len(enrollments), "active": active,
                         "goal_reached": goal_reached, "converted": converted,
                         "conversion_rate": round(converted / len(enrollments), 4) if enrollments else None},
            "steps": [{"position": p, "kind": kinds.get(p, "?"), **{k: per_step[p][k] for k in FIGURES}}
                      for p in sorted(per_step)],
            "days": days}
