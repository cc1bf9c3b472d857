"""Background jobs that failed after their retries: kept, listed on the Connections page, sent again
by an admin (audited); other roles and other workspaces cannot."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import jobs
from extensions import canary_store
from jobs import work
from store.models import AuditEvent, JobFailure
from tests.console.conftest import Workspace, csrf_of, signed_in_client


def test_a_failed_job_is_listed_and_an_admin_sends_it_again(
        console_app: Any, two_workspaces: tuple[Workspace, Workspace], monkeypatch: pytest.MonkeyPatch) -> None:
    alpha, bravo = two_workspaces
    calls: list[tuple[int, dict[str, Any]]] = []

    def broken(app: Any, tenant_id: int, **kwargs: Any) -> None:
        calls.append((tenant_id, kwargs))
        raise RuntimeError("HubSpot answered 500 five times")

    monkeypatch.setattr(work, "push_job", broken)
    with pytest.raises(RuntimeError):
        jobs.run_inline(console_app, "push", alpha.tenant_id, {"system": "hubspot", "trigger": "schedule"})
    store = canary_store(console_app)
    with store.session(alpha.tenant_id) as s:
        failure = s.scalars(select(JobFailure)).one()
        assert (failure.kind, failure.system, failure.attempts) == ("push", "hubspot", 1)
        assert failure.error == "RuntimeError: HubSpot answered 500 five times"
        assert failure.arguments == {"system": "hubspot", "trigger": "schedule"}
        failure_id = failure.id

    admin = signed_in_client(console_app, alpha.emails["admin"])
    page = admin.get("/connections").get_data(as_text=True)
    assert "HubSpot answered 500 five times" in page and "Run again" in page
    other = signed_in_client(console_app, bravo.emails["admin"])
    assert "HubSpot answered 500" not in other.get("/connections").get_data(as_text=True)
    assert other.post(f"/connections/jobs/{failure_id}/retry", data={"csrf_token": csrf_of(other)}).status_code == 404
    csm = signed_in_client(console_app, alpha.emails["csm"])
    assert csm.post(f"/connections/jobs/{failure_id}/retry", data={"csrf_token": csrf_of(csm)}).status_code == 403

    done: list[int] = []
    monkeypatch.setattr(work, "push_job", lambda app, tenant_id, **kwargs: done.append(tenant_id))
    answer = admin.post(f"/connections/jobs/{failure_id}/retry", data={"csrf_token": csrf_of(admin)})
    assert answer.status_code == 302 and "sent+again" in answer.headers["Location"]
    jobs.queue_of(console_app).drain()
    assert done == [alpha.tenant_id]
    with store.session(alpha.tenant_id) as s:
        assert s.get(JobFailure, failure_id).retried_at is not None
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "job.retry")).one()
        assert audit.detail == {"kind": "push"}
    assert "sent again" in admin.get("/connections").get_data(as_text=True)
