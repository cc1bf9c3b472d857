"""The embedded panels' templates and static files (stylesheet, Zendesk shell script, bundled ZAF SDK).

The team's own pages live in the `console` package; this blueprint only serves what the panels load.
"""

from __future__ import annotations

from flask import Blueprint

widget_assets = Blueprint("widget_assets", __name__, template_folder="templates", static_folder="static",
                          static_url_path="/static/widgets")
