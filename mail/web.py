"""The public unsubscribe pages: ``/u/<token>`` (no sign-in, no CSRF token — RFC 8058).

* ``POST`` suppresses the address for the e-mail's category at once: the mailbox provider's one-click
  request (body ``List-Unsubscribe=One-Click``) or the page's button. Answers 200 whatever the body,
  as a mailbox provider retries on anything else; an unknown token answers 404.
* ``GET`` only shows the page with the button: mail scanners and link previews fetch URLs, so a GET never
  suppresses.
* ``POST /u/<token>/preferences``: the page's preference form — one box per category (customer-success mail is
  separate from marketing); an unticked category is suppressed, a ticked one received again.

The token is unguessable and names one e-mail (`mail.consent`); nothing else about the person is on the page
but the address the e-mail went to.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, render_template, request

from extensions import canary_store
from mail.consent import AFTER_SUPPRESS_KEY, ConsentError, preferences, set_preferences, token_target, unsubscribe

log = logging.getLogger("canary.mail")

mail_pages = Blueprint("mail", __name__, template_folder="pages")

PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")
"""No script at all; the page's own inline style; its one form posts back to itself."""
LABELS = {"customer_success": "customer-success", "marketing": "marketing"}
OTHER = {"customer_success": "marketing", "marketing": "customer-success"}


def _page(state: str, token: str, target: Any, status: int) -> Any:
    category = target.category if target is not None else "customer_success"
    title = {"ask": "Unsubscribe", "done": "You are unsubscribed", "saved": "Preferences saved",
             "unknown": "Unknown link"}[state]
    receiving = preferences(canary_store(), target) if target is not None else {}
    body = render_template("mail/unsubscribe.html", title=title, state=state, action=f"/u/{token}",
                           address=target.address if target is not None else "", category_label=LABELS[category],
                           other_label=OTHER[category], receiving=receiving, labels=LABELS)
    return body, status, {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}


@mail_pages.get("/u/<token>")
def unsubscribe_page(token: str) -> Any:
    target = token_target(canary_store(), token)
    return _page("ask" if target is not None else "unknown", token, target, 200 if target is not None else 404)


@mail_pages.post("/u/<token>/preferences")
def save_preferences(token: str) -> Any:
    """The preference form on the same page (no sign-in: the link's unguessable token is the key): every
    category left unticked is suppressed, every ticked one is received again."""
    try:
        target = set_preferences(canary_store(), token, set(request.form.getlist("receive")))
    except ConsentError as exc:
        return str(exc), 400, {"Cache-Control": "no-store"}
    if target is None:
        return _page("unknown", token, None, 404)
    log.info("preferences in workspace %s: e-mail %s", target.tenant_id, target.outbox_id)
    _after_suppress(target.tenant_id)
    return _page("saved", token, target, 200)


def _after_suppress(tenant_id: int) -> None:
    after = current_app.extensions.get(AFTER_SUPPRESS_KEY)
    if after is not None:  # the CRM write-back, as a job (never inline in the provider's POST)
        try:
            after(tenant_id)
        except Exception:  # the suppression stands; the schedule's consent round picks the rows up
            log.exception("could not queue the consent write-back of workspace %s", tenant_id)


@mail_pages.post("/u/<token>")
def unsubscribe_now(token: str) -> Any:
    source = "page" if request.form.get("via") == "page" else "one-click"
    target = unsubscribe(canary_store(), token, source)
    if target is None:
        return _page("unknown", token, None, 404)
    log.info("unsubscribe in workspace %s: e-mail %s, %s", target.tenant_id, target.outbox_id, target.category)
    _after_suppress(target.tenant_id)
    return _page("done", token, target, 200)
