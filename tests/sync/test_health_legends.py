"""A score run's snapshots name the stored legend of the run's model (`store.legends`, migration 0045) and keep per
measure only what varies per account (value, status, points, weight); snapshots written before the legends (each
part describing itself) read as before; a changed model makes a second legend, and each day's snapshot reads with
its own."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest
import yaml
from sqlalchemy import Text, cast, event, func, select, update

from console.profile import load_account_profile
from scoring import HealthScore, default_model, load_model, model_fingerprint, model_legend
from store.db import Store
from store.legends import Legends, legend_id, legends
from store.models import HealthLegend, HealthSnapshot
from store.tenants import create_tenant
from sync.health import score_tenant
from tests.sync.test_health_run import TODAY, _world

DESCRIPTORS = {"signal", "dimension", "label"}
LEAN = {"value", "status", "points", "weight"}


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "acme", "Acme CS")
        return t.id


def _parts(store: Store, tenant: int, day: dt.date) -> dict[int, str]:
    """Each account's stored parts of the day, as the text in the database."""
    with store.session(tenant) as s:
        return dict(s.execute(select(HealthSnapshot.account_id, cast(HealthSnapshot.parts, Text()))
                              .where(HealthSnapshot.day == day)).all())


def _relabelled(measure: str, label: str) -> Any:
    """The default model with another label for one measure."""
    document = yaml.safe_load(resources.files("scoring").joinpath("default_model.yaml").read_text(encoding="utf-8"))
    document["measures"][measure]["label"] = label
    return load_model(document)


def test_new_snapshots_name_the_models_legend_and_keep_no_descriptors(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    model = default_model()
    yesterday = TODAY - dt.timedelta(days=1)
    score_tenant(store, tenant, model, yesterday, since=yesterday - dt.timedelta(days=2))  # multi-day: the writer
    score_tenant(store, tenant, model, TODAY)  # a whole workspace's one day: the texts made from the arrays
    score_tenant(store, tenant, model, TODAY, only=[ids["steady"]])  # some accounts: the day updated in place
    with store.session(tenant) as s:
        (legend,) = s.scalars(select(HealthLegend)).all()
        assert legend.fingerprint == model_fingerprint(model)
        assert legend.legend == model_legend(model)
        assert legend.legend["active_users_trend"] == {"signal": "active_users_trend", "dimension": "engagement",
                                                       "label": "Weekly active users, change over 14 days"}
        assert set(legend.legend) == set(model.measures)
        described = legends(s).get(s, legend.id)
        snaps = list(s.scalars(select(HealthSnapshot).order_by(HealthSnapshot.day, HealthSnapshot.account_id)))
        assert len(snaps) == 4 * len(ids)
        for snap in snaps:
            where = f"account {snap.account_id} on {snap.day}"
            assert snap.parts["legend"] == legend.id, where
            assert snap.parts["parts"], where
            assert all(set(p) == LEAN for p in snap.parts["parts"].values()), where
            # the rest of the parts as before: score, band, profile, dimensions, missing, reasons, benchmarks
            assert {"account_id", "day", "score", "band", "profile", "parts", "dimensions", "missing",
                    "reasons"} <= set(snap.parts), where
            score = HealthScore.from_dict(snap.parts, described)
            assert [(p.signal, p.dimension, p.label) for p in score.parts] == [
                tuple(legend.legend[p.measure][k] for k in ("signal", "dimension", "label")) for p in score.parts]
            if snap.profile != "rollup":
                assert score.dimensions == snap.parts["dimensions"], where
        # the SQL readers of a measure's value (lists, base reports, account facts) read the new form unchanged
        value = HealthSnapshot.parts[("parts", "active_users_trend", "value")].as_float()
        read = dict(s.execute(select(HealthSnapshot.account_id, value).where(HealthSnapshot.day == TODAY)).all())
        assert read[ids["steady"]] == next(x for x in snaps if x.day == TODAY and x.account_id == ids["steady"]
                                           ).parts["parts"]["active_users_trend"]["value"]
        assert read[ids["steady"]] is not None
    for text in _parts(store, tenant, TODAY).values():
        assert not any(f'"{k}"' in text for k in DESCRIPTORS), text
    assert "benchmarks" in json.loads(_parts(store, tenant, TODAY)[ids["steady"]])


def test_an_old_snapshot_reads_as_before(store: Store, tenant: int) -> None:
    """A day stored in the old, self-describing form is the same prior to the next day as in the new form, and the
    profile page shows its own labels."""
    ids = _world(store, tenant)
    model = default_model()
    yesterday = TODAY - dt.timedelta(days=1)
    score_tenant(store, tenant, model, yesterday)
    score_tenant(store, tenant, model, TODAY)
    with store.session(tenant) as s:
        described = legends(s).get(s, legend_id(s, model))
        new_form = {x.account_id: (x.score, x.band, x.parts, x.reasons) for x in s.scalars(
            select(HealthSnapshot).where(HealthSnapshot.day == TODAY))}
        # yesterday as written before the legends: each part with its own descriptors, no legend named
        for snap in s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == yesterday)):
            old = HealthScore.from_dict(snap.parts, described).as_dict()
            old = {**old, **{k: v for k, v in snap.parts.items() if k not in old and k != "legend"}}
            if snap.profile != "rollup":
                assert HealthScore.from_dict(old) == HealthScore.from_dict(snap.parts, described)
            s.execute(update(HealthSnapshot).where(HealthSnapshot.id == snap.id).values(parts=old))
    score_tenant(store, tenant, model, TODAY)  # the day again, its priors read from the old form
    with store.session(tenant) as s:
        again = {x.account_id: (x.score, x.band, x.parts, x.reasons) for x in s.scalars(
            select(HealthSnapshot).where(HealthSnapshot.day == TODAY))}
        assert again == new_form
        old_day = s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == yesterday,
                                                         HealthSnapshot.account_id == ids["steady"])).one()
        assert "legend" not in old_day.parts
        assert all(set(p) >= DESCRIPTORS for p in old_day.parts["parts"].values())
        profile = load_account_profile(s, ids["steady"], yesterday)
        assert profile is not None
        shown = {m.name: (m.label, m.dimension) for m in profile.measures}
        assert shown["active_users_trend"] == ("Weekly active users, change over 14 days", "engagement")
        assert shown == {name: (p["label"], p["dimension"]) for name, p in old_day.parts["parts"].items()}


def test_a_changed_model_makes_a_second_legend_and_each_day_shows_its_own_labels(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    before, after = default_model(), _relabelled("active_users_trend", "Active users, two-week change")
    yesterday = TODAY - dt.timedelta(days=1)
    score_tenant(store, tenant, before, yesterday)
    score_tenant(store, tenant, after, TODAY)
    with store.session(tenant) as s:
        stored = {x.fingerprint: (x.id, x.legend) for x in s.scalars(select(HealthLegend))}
        assert set(stored) == {model_fingerprint(before), model_fingerprint(after)}
        old_id, old_legend = stored[model_fingerprint(before)]
        new_id, new_legend = stored[model_fingerprint(after)]
        assert old_legend["active_users_trend"]["label"] == "Weekly active users, change over 14 days"
        assert new_legend["active_users_trend"]["label"] == "Active users, two-week change"
        days: dict[dt.date, set[int]] = {}
        for day, named_legend in s.execute(select(HealthSnapshot.day, HealthSnapshot.parts["legend"].as_integer())):
            days.setdefault(day, set()).add(named_legend)
        assert days == {yesterday: {old_id}, TODAY: {new_id}}
        named = dict(s.execute(select(HealthSnapshot.day, HealthSnapshot.parts["legend"].as_integer()).where(
            HealthSnapshot.account_id == ids["steady"])).all())
        assert named == {yesterday: old_id, TODAY: new_id}
        labels = {}
        for day in (yesterday, TODAY):
            profile = load_account_profile(s, ids["steady"], day)
            assert profile is not None
            labels[day] = {m.name: m.label for m in profile.measures}["active_users_trend"]
        assert labels == {yesterday: "Weekly active users, change over 14 days",
                          TODAY: "Active users, two-week change"}
        # scoring with the first model again finds its legend: no third
        assert legend_id(s, before) == old_id
        assert s.scalar(select(func.count()).select_from(HealthLegend)) == 2


def test_legends_are_per_workspace_and_read_once(store: Store, tenant: int) -> None:
    model = default_model()
    with store.session() as s:
        other = create_tenant(s, "globex", "Globex")[0].id
    with store.session(tenant) as s:
        mine = legend_id(s, model)
        assert legend_id(s, model) == mine
    with store.session(other) as s:
        theirs = legend_id(s, model)
    assert theirs != mine
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "health_legends" in statement:
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.session(tenant) as s:
            assert legend_id(s, model) == mine  # found, not made again
            found = Legends()
            assert found.get(s, mine) == {name: (d["signal"], d["dimension"], d["label"])
                                          for name, d in model_legend(model).items()}
            assert found.of(s, {"legend": mine}) is found.get(s, mine)
            assert found.get(s, theirs) is None  # another workspace's legend is not seen
            assert found.of(s, {"parts": {}}) is None
            assert len([x for x in statements if x.lstrip().upper().startswith("SELECT")]) == 3
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
