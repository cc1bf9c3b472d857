"""The public tracking routes (no sign-in: a recipient's mail client fetches them): ``GET /t/o/<token>`` (the
open pixel, a 1×1 GIF) and ``GET /t/c/<token>`` (a click: recorded, then a redirect to the signed destination).
A token that does not verify is a 404 (`campaigns.tracking`); nothing from the query string is ever used."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from typing import Any

from flask import Blueprint, abort, current_app, redirect

from campaigns.tracking import record_tracked, verify
from extensions import canary_store

log = logging.getLogger("canary.campaigns")

tracking = Blueprint("campaign_tracking", __name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


@tracking.get("/t/o/<token>")
def opened(token: str) -> Any:
    tracked = verify(str(current_app.config["SECRET_KEY"]), token, click=False)
    if tracked is None:
        abort(404)
    record_tracked(canary_store(), tracked, "opened", dt.datetime.now(dt.UTC))
    return PIXEL, 200, {**NO_STORE, "Content-Type": "image/gif"}


@tracking.get("/t/c/<token>")
def clicked(token: str) -> Any:
    tracked = verify(str(current_app.config["SECRET_KEY"]), token, click=True)
    if tracked is None or tracked.url is None:
        abort(404)
    if not record_tracked(canary_store(), tracked, "clicked", dt.datetime.now(dt.UTC)):
        log.info("click on a link of an e-mail no longer stored (workspace %s)", tracked.tenant_id)
    response = redirect(tracked.url, code=302)
    response.headers.update(NO_STORE)
    return response
