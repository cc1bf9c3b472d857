"""REST API v1 (``/api/v1``): per-user bearer tokens, the console's roles and tenant scoping.

Every route but ``/api/v1/openapi.json`` needs ``Authorization: Bearer cny_…`` (a token made with
``canary token create --user EMAIL``); a request without a live token answers 401. Everything is
read through the token user's tenant-scoped session, so no parameter can reach another workspace.
Lists page with opaque cursors (``next_cursor``); every error is JSON ``{"error": reason}``.
Cookies are never read here, so the API needs no CSRF token (and changes nothing yet).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    import api.base_reports  # the routes of these modules join the v1 blueprint
    import api.campaigns
    import api.plays
    import api.reports  # noqa: F401
    from api.v1 import v1

    app.register_blueprint(v1)
