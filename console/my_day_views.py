"""*My day* (`/my-day`): the signed-in user's day, or a manager's team's (`?view=team`).

On the console blueprint: a live session is needed; the "Done" buttons post to ``/tasks/<id>/done``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, render_template, request

from console.my_day import AHEAD_DAYS, load_my_day, parse_view
from console.views import _store, console, who


@console.get("/my-day")
def my_day() -> Any:
    me = who()
    try:
        view = parse_view(request.args.get("view"), me)
    except ValueError as exc:
        abort(400, description=str(exc))
    today = dt.datetime.now(dt.UTC).date()
    with _store().session(me.tenant_id) as s:
        day = load_my_day(s, me, view, today)
    return render_template("console/my_day.html", d=day, me=me, ahead=AHEAD_DAYS,
                           team_view=me.role in ("manager", "admin"), message=request.args.get("message"))
