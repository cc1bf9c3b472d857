"""`canary score` evaluates the portfolio lists in a second process while it prepares its reports
(`sync.lists_aside`): the lists it stores are those the run's own thread would have stored after the reports, the
plays still follow, and an error in the second process fails the run."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError

from app import cli
from scoring import default_model
from store.db import Store
from store.models import PortfolioList, PortfolioListEvent, PortfolioListMember, PortfolioListVersion
from sync import lists_aside
from sync.base_reports import KnownMeasures
from sync.health import score_tenant
from sync.lists import evaluate_lists, load_fact_columns
from tests.sync.test_health_run import TODAY, _world, tenant  # noqa: F401 — the fixture is used by name


def _lists(store: Store, tenant_id: int) -> tuple[list[Any], list[Any], list[Any]]:
    """The lists, their members and events, without ids or times (a list named by its key)."""
    with store.session(tenant_id) as s:
        keys = dict(s.execute(select(PortfolioList.id, PortfolioList.key)).all())
        lists = sorted((r.key, r.name, r.version, r.evaluated_on) for r in s.scalars(select(PortfolioList)))
        members = sorted((keys[m.list_id], m.account_id, m.entered_on, tuple(m.reasons or ()), m.version)
                         for m in s.scalars(select(PortfolioListMember)))
        events = sorted((keys[e.list_id], e.account_id, e.kind, e.day, tuple(e.reasons or ()), e.version)
                        for e in s.scalars(select(PortfolioListEvent)))
    return lists, members, events


def _score(monkeypatch: pytest.MonkeyPatch, url: str, day: dt.date) -> tuple[dict[str, Any], str]:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CANARY_SECRET_KEY", "cli-secret-key-0123456789")
    result = CliRunner().invoke(cli, ["score", "--as-of", day.isoformat(), "--json", "--timings"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_the_lists_evaluated_aside_are_those_evaluated_after_the_reports(
        monkeypatch: pytest.MonkeyPatch, migrated_url: str, store: Store, tenant: int) -> None:  # noqa: F811
    _world(store, tenant)
    assert lists_aside.usable(store)
    summary, timings = _score(monkeypatch, migrated_url, TODAY)
    assert "timing lists (in a second process, meanwhile)" in timings and "peak memory" in timings  # aside
    aside = _lists(store, tenant)
    assert aside[1] and summary["lists"]["members"] == len(aside[1]) > 0
    assert summary["lists"]["entered"] == len(aside[2]) == len(aside[1])

    # what the run's own thread stores after the reports (the account facts fresh then): the same
    with store.session(tenant) as s:
        for table in (PortfolioListEvent, PortfolioListMember, PortfolioListVersion, PortfolioList):
            s.execute(delete(table))
    serial = evaluate_lists(store, tenant, TODAY)
    assert _lists(store, tenant) == aside
    assert (serial.members, serial.entered, serial.left) == (summary["lists"]["members"], summary["lists"]["entered"],
                                                             summary["lists"]["left"])

    # the day's measures from the snapshots (the child's read) equal those the account facts keep
    with store.session(tenant) as s:
        measures = sorted(default_model().measures)
        kept = load_fact_columns(s, TODAY, measures)
        read = load_fact_columns(s, TODAY, measures, kept_facts=False)
    assert kept.measures == read.measures and any(v is not None for v in read.measures)

    # a second day: leavers and enterers as the serial path has them, and nothing left to change
    later = TODAY + dt.timedelta(days=1)
    _score(monkeypatch, migrated_url, later)
    again = evaluate_lists(store, tenant, later)
    assert (again.entered, again.left) == (0, 0)


def test_the_run_on_one_thread_when_the_lists_are_not_evaluated_aside(
        monkeypatch: pytest.MonkeyPatch, migrated_url: str, store: Store, tenant: int) -> None:  # noqa: F811
    _world(store, tenant)
    monkeypatch.setattr(lists_aside, "ENABLED", False)
    summary, timings = _score(monkeypatch, migrated_url, TODAY)
    assert "second process" not in timings
    assert summary["lists"]["members"] == len(_lists(store, tenant)[1]) > 0


def test_an_error_in_the_second_process_is_raised(tmp_path: Any, store: Store, tenant: int) -> None:  # noqa: F811
    # no day to evaluate the lists of: the child fails, after the run installed the shipped lists
    aside = lists_aside.ListsAside(store, tenant, None)  # type: ignore[arg-type]
    aside.start()
    with pytest.raises(RuntimeError, match=r"the lists' evaluation failed \(exit 1\)(.|\n)*TypeError"):
        aside.result()
    assert aside.process is not None and aside.process.returncode not in (0, None)  # waited for, and failed
    assert aside.installed > 0
    # a database the run cannot open: the error is the run's own, before any process starts
    missing = lists_aside.ListsAside(Store(f"sqlite:///{tmp_path}/no/such/folder/canary.db"), 1, TODAY)
    with pytest.raises(OperationalError, match="unable to open database file"):
        missing.start()
    assert missing.process is None


def test_usable_where_a_second_process_can_open_the_database(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lists_aside.usable(Store(f"sqlite:///{tmp_path}/canary.db"))
    assert not lists_aside.usable(Store("sqlite://"))
    assert not lists_aside.usable(Store("sqlite:///:memory:"))
    monkeypatch.setattr(lists_aside, "ENABLED", False)
    assert not lists_aside.usable(Store(f"sqlite:///{tmp_path}/canary.db"))


def test_the_measures_a_run_hands_over_are_those_the_account_facts_hold(store: Store, tenant: int) -> None:  # noqa: F811
    """What the child reads the latest day's measures from (`known`: the values the run kept of the snapshots it
    inserted, the day's other snapshots read from their JSON) equals the account facts' — whole, and with half of the
    accounts left for the JSON read."""
    _world(store, tenant)
    handed: list[Any] = []
    score_tenant(store, tenant, default_model(), TODAY, written=handed.append)
    assert len(handed) == 1 and handed[0] is not None
    known = handed[0]
    position, rows = known.rows()
    ids = sorted(position)
    half = KnownMeasures(known.day, known.measures)
    half.add(ids[::2], rows[[position[a] for a in ids[::2]]], np.ones(len(ids[::2]), dtype=bool))
    measures = sorted(default_model().measures)
    with store.session(tenant) as s:
        facts = load_fact_columns(s, TODAY, measures)
        whole = load_fact_columns(s, TODAY, measures, kept_facts=False, known=known)
        halved = load_fact_columns(s, TODAY, measures, kept_facts=False, known=half)
    assert len(ids) > 2 and sum(v is not None for v in facts.measures) == len(ids)
    assert whole.measures == facts.measures and halved.measures == facts.measures
    assert any(x is not None for v in facts.measures if v is not None for x in v)
