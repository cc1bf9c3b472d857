"""The queue the campaign engine calls: idempotent per (workspace, end user, ref), validated, expiring."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inapp.messages import pending, queue_message
from inapp.rules import LIFETIME, InAppError
from store.models import InAppMessage
from tests.inapp.conftest import InAppWorld, queue
from tests.shared import WORLD_NOW


def test_queueing_the_same_ref_twice_keeps_one_message(world: InAppWorld) -> None:
    first = queue(world, "u-ann", "campaign:3:step:2")
    again = queue(world, "u-ann", "campaign:3:step:2", title="a different title")
    other_user = queue(world, "u-bob", "campaign:3:step:2")
    other_step = queue(world, "u-ann", "campaign:3:step:3")
    assert again == first
    assert len({first, other_user, other_step}) == 3
    with world.store.session(world.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(InAppMessage)) == 3
        row = s.get(InAppMessage, first)
        assert row is not None
        assert (row.title, row.kind, row.cta_label, row.account_id) == (
            "campaign:3:step:2 for u-ann", "banner", "Upgrade", world.account_id)
        assert abs((row.created_at - WORLD_NOW).total_seconds()) < 60  # the pinned clock, not today
        assert row.expires_at == row.created_at + LIFETIME


@pytest.mark.parametrize(("change", "error"), [
    ({"kind": "popup"}, "kind must be one of banner, modal"),
    ({"title": " "}, "title is required"),
    ({"title": "x" * 201}, "title must be at most 200 characters of text"),
    ({"cta_url": "javascript:alert(1)"}, "cta_url must be an absolute http(s) URL"),
    ({"cta_url": None}, "cta_label and cta_url go together"),
    ({"ref": ""}, "ref is required"),
])
def test_bad_fields_are_refused_naming_the_field(world: InAppWorld, change: dict[str, object], error: str) -> None:
    fields: dict[str, object] = {"user_key": "u-ann", "account_id": world.account_id, "title": "Hi", "body": "Body",
                                 "cta_label": "Go", "cta_url": "https://app.alpha.example/go", "kind": "banner",
                                 "ref": "campaign:1:step:1", **change}
    with world.store.session(world.tenant_id) as s, pytest.raises(InAppError) as caught:
        queue_message(s, tenant_id=world.tenant_id, **fields)  # type: ignore[arg-type]
    assert str(caught.value).startswith(error)
    with world.store.session(world.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(InAppMessage)) == 0


def test_a_session_of_another_workspace_is_refused(world: InAppWorld) -> None:
    with world.store.session(world.tenant_id) as s, pytest.raises(InAppError, match="not the session's workspace"):
        queue_message(s, tenant_id=world.tenant_id + 1, user_key="u-ann", account_id=None, title="t", body="b",
                      cta_label=None, cta_url=None, kind="modal", ref="r")


def test_a_message_expires_after_its_lifetime(world: InAppWorld) -> None:
    message_id = queue(world, "u-ann", "campaign:9:step:1")
    with world.store.session(world.tenant_id) as s:
        row = s.get(InAppMessage, message_id)
        assert row is not None
        expires = row.expires_at
        assert expires is not None
        before = pending(s, "u-ann", expires - dt.timedelta(seconds=1))
        after = pending(s, "u-ann", expires)
        other = pending(s, "u-bob", WORLD_NOW)
    assert [m["id"] for m in before] == [message_id]
    assert after == []
    assert other == []


def test_an_account_of_another_workspace_is_refused(world: InAppWorld) -> None:
    from store.models import Account
    from store.tenants import create_tenant

    with world.store.session() as s:
        other, _ = create_tenant(s, "bravo", "Bravo")
    with world.store.session(other.id) as s:
        foreign = Account(name="Bravo Co", lifecycle_stage="customer")
        s.add(foreign)
        s.flush()
        foreign_id = foreign.id
    with world.store.session(world.tenant_id) as s, pytest.raises(InAppError, match="no account of this workspace"):
        queue_message(s, tenant_id=world.tenant_id, user_key="u-ann", account_id=foreign_id, title="t", body="b",
                      cta_label=None, cta_url=None, kind="modal", ref="r")
