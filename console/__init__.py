"""The team's own pages: sign-in, portfolios, account and product-user profiles, connections, admin.

`init_app` wires it: cookie flags and password hashing from config (`console.auth.configure`) and
the blueprint, whose one ``before_request`` (`console.views.guard`) finds who is signed in, sends
anyone else to the sign-in page, and refuses any state-changing request without the session's
CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from console import auth


def init_app(app: Flask) -> None:
    from console import (  # noqa: F401  (their routes join the console blueprint)
        base_report_views,
        campaign_views,
        inapp_views,
        list_views,
        mail_views,
        my_day_views,
        notify_views,
        play_views,
        report_views,
        task_views,
    )
    from console.views import console

    auth.configure(app)
    app.register_blueprint(console)

    @app.context_processor
    def _csrf() -> dict[str, Any]:
        return {"csrf_token": auth.csrf_token}
