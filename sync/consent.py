"""Consent write-back: each suppression queued for a CRM (`mail.consent.queue_writebacks`) written to the
people with that address there, through the vendor's adapter (`integrations.base.ConsentTarget`).

One call of `write_consent` takes the workspace's due rows, one `write_email_opt_outs` per system and
category (the adapter batches as its vendor allows), and records each row's outcome: written, not_found,
skipped (the vendor keeps no e-mail consent — Zendesk —, said in ``last_error``), or failed (the vendor
refused that address). A run that fails as a whole for a passing reason (429, 5xx, a timeout, after the
adapter's own retries) leaves its rows queued with ``next_attempt_at`` = now + backoff × 2^(attempts-1);
after ``max_attempts`` — or at once when the credentials are refused — they are failed with the reason.
Rows of a system no longer connected fail saying so. Nothing here sends a secret to a log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from integrations.base import ConsentTarget, OptOutResult
from integrations.errors import AuthError, CanaryIntegrationError, RetriableError
from store.db import Store
from store.models import ConsentWrite

log = logging.getLogger("canary.consent")


@dataclass(frozen=True)
class ConsentPolicy:
    max_attempts: int = 6
    backoff_seconds: float = 60.0
    max_backoff_seconds: float = 6 * 3600.0
    batch: int = 1000

    def delay(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1)))


@dataclass
class ConsentSummary:
    states: dict[str, int] = field(default_factory=dict)
    """Rows by the state this run left them in."""
    calls: dict[str, int] = field(default_factory=dict)
    """Vendor calls by system."""
    retry_at: dt.datetime | None = None
    """The earliest ``next_attempt_at`` of a row this run put back (None: none)."""

    def count(self, state: str, n: int = 1) -> None:
        self.states[state] = self.states.get(state, 0) + n

    def as_dict(self) -> dict[str, object]:
        return {"states": dict(self.states), "calls": dict(self.calls),
                "retry_at": self.retry_at.isoformat() if self.retry_at else None}


def due_systems(store: Store, tenant_id: int, now: dt.datetime) -> list[str]:
    with store.session(tenant_id) as s:
        return sorted(set(s.scalars(select(ConsentWrite.system).where(
            ConsentWrite.state == "queued", ConsentWrite.next_attempt_at <= now))))


def write_consent(store: Store, tenant_id: int, adapters: Mapping[str, ConsentTarget], *, now: dt.datetime,
                  policy: ConsentPolicy | None = None,
                  build_failed: Mapping[str, str] | None = None,
                  clock: Callable[[], dt.datetime] | None = None) -> ConsentSummary:
    """Write the workspace's due rows (see the module docstring). ``build_failed``: system -> why its adapter
    could not be built (counted as a failed attempt of its rows)."""
    policy = policy or ConsentPolicy()
    summary = ConsentSummary()
    with store.session(tenant_id) as s:
        rows = list(s.scalars(select(ConsentWrite).where(ConsentWrite.state == "queued",
                                                         ConsentWrite.next_attempt_at <= now)
                              .order_by(ConsentWrite.id).limit(policy.batch)))
        groups: dict[tuple[str, str], list[ConsentWrite]] = {}
        for row in rows:
            groups.setdefault((row.system, row.category), []).append(row)
        for (system, category), group in sorted(groups.items()):
            adapter = adapters.get(system)
            if adapter is None:
                reason = (build_failed or {}).get(system)
                if reason is None:
                    _finish(group, "failed", f"{system} is not connected any more", now, summary)
                else:
                    _retry(group, reason, now, policy, summary, permanent=False)
                continue
            try:
                result = adapter.write_email_opt_outs([r.address for r in group], category)
            except AuthError as exc:
                _retry(group, f"{system} refused the credentials: {exc}", now, policy, summary, permanent=True)
                continue
            except RetriableError as exc:
                _retry(group, f"{system} is unavailable: {exc}", now, policy, summary, permanent=False)
                continue
            except CanaryIntegrationError as exc:
                _retry(group, f"{system}: {exc}", now, policy, summary, permanent=False)
                continue
            summary.calls[system] = summary.calls.get(system, 0) + result.calls
            _record(group, result, now, summary)
    for state, n in sorted(summary.states.items()):
        log.info("consent write-back in workspace %s: %s %s", tenant_id, n, state)
    return summary


def _record(group: list[ConsentWrite], result: OptOutResult, now: dt.datetime, summary: ConsentSummary) -> None:
    if result.unsupported is not None:
        _finish(group, "skipped", result.unsupported, now, summary)
        return
    written, not_found = set(result.written), set(result.not_found)
    for row in group:
        row.attempts += 1
        if row.address in written:
            _finish([row], "written", None, now, summary, counted=True)
        elif row.address in not_found:
            _finish([row], "not_found", None, now, summary, counted=True)
        else:
            error = result.failed.get(row.address, "the vendor reported nothing for this address")
            _finish([row], "failed", error, now, summary, counted=True)


def _finish(rows: list[ConsentWrite], state: str, error: str | None, now: dt.datetime, summary: ConsentSummary,
            counted: bool = False) -> None:
    for row in rows:
        if not counted:
            row.attempts += 1
        row.state, row.done_at = state, now
        row.last_error = error[:500] if error else None
    summary.count(state, len(rows))


def _retry(rows: list[ConsentWrite], error: str, now: dt.datetime, policy: ConsentPolicy, summary: ConsentSummary,
           *, permanent: bool) -> None:
    for row in rows:
        row.attempts += 1
        row.last_error = error[:500]
        if permanent or row.attempts >= policy.max_attempts:
            row.state, row.done_at = "failed", now
            summary.count("failed")
        else:
            row.next_attempt_at = now + policy.delay(row.attempts)
            summary.retry_at = min(summary.retry_at or row.next_attempt_at, row.next_attempt_at)
            summary.count("queued")
