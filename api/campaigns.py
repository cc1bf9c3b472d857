"""The v1 routes for campaigns, on the same blueprint as `api.v1` (authentication, scoping, paging, errors).

    GET /campaigns                   the workspace's campaigns: status, category, steps, people enrolled (?status=)
    GET /campaigns/<id>/stats        its dashboard figures: per campaign, per step, cumulative per day (?as_of=)

Read-only, like the console's dashboard (`campaigns.stats.campaign_stats`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify, request
from sqlalchemy import func, select

from api.v1 import ApiError, _id_cursor, _limit, _next_id_cursor, _only, _store, me, v1
from campaigns.stats import campaign_stats
from store.models import CAMPAIGN_STATUSES, Campaign, CampaignEnrollment

PAGE = frozenset({"limit", "cursor"})


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@v1.get("/campaigns")
def campaigns() -> Any:
    _only(PAGE | {"status"})
    status, limit, after = request.args.get("status"), _limit(), _id_cursor()
    if status is not None and status not in CAMPAIGN_STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(CAMPAIGN_STATUSES)}")
    query = select(Campaign).order_by(Campaign.id).limit(limit + 1)
    if status is not None:
        query = query.where(Campaign.status == status)
    if after is not None:
        query = query.where(Campaign.id > after)
    with _store().session(me().tenant_id) as s:
        rows = list(s.scalars(query))
        ids = [c.id for c in rows[:limit]]
        enrolled = dict(s.execute(select(CampaignEnrollment.campaign_id, func.count()).where(
            CampaignEnrollment.campaign_id.in_(ids)).group_by(CampaignEnrollment.campaign_id)).all()) if ids else {}
        data = [{"id": c.id, "name": c.name, "status": c.status, "category": c.category,
                 "steps": [{"position": st.position, "kind": st.kind} for st in c.steps],
                 "audience": c.audience, "goal": c.goal, "conversion_days": c.conversion_days,
                 "enrolled": int(enrolled.get(c.id, 0)), "activated_at": _iso(c.activated_at),
                 "finished_at": _iso(c.finished_at)} for c in rows[:limit]]
    return jsonify({"data": data, "next_cursor": _next_id_cursor(rows, limit)})


@v1.get("/campaigns/<int:campaign_id>/stats")
def campaign_stats_api(campaign_id: int) -> Any:
    _only(frozenset({"as_of"}))
    raw = request.args.get("as_of")
    try:
        as_of = dt.date.fromisoformat(raw) if raw else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise ApiError(400, f"as_of must be a date like 2026-11-30, not {raw!r}") from None
    with _store().session(me().tenant_id) as s:
        try:
            body = campaign_stats(s, campaign_id, as_of)
        except LookupError:
            raise ApiError(404, f"no campaign {campaign_id} in this workspace") from None
    return jsonify(body)
