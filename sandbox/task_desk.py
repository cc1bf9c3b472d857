"""The emulated CRMs' task desk: a page where a person works Canary's tasks as a CRM user would.

``GET /_sandbox/tasks`` on the Salesforce or HubSpot emulator lists the open tasks Canary made there
(subject, due date, owner) with three buttons each — complete, a week later, reassign to another active
user — posted to ``POST /_sandbox/tasks``; each is the same edit `sandbox.mutate.edit_task` makes for
tests (`Sandbox.work_tasks`). Canary sees them at its next incremental sync, as it would see a CRM
user's edits. Not a vendor route: never counted, never faulted.
"""

from __future__ import annotations

from html import escape
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.mutate import TASK_OBJECTS, active_owners, due_of, edit_task, open_canary_tasks

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1f2933}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.45rem .5rem;
border-bottom:1px solid #e4e7eb;vertical-align:middle}th{font-size:.8rem;text-transform:uppercase;color:#52606d}
form{display:inline}button{font:inherit;padding:.2rem .6rem;margin-right:.25rem;cursor:pointer}
select{font:inherit}.note{color:#52606d}.done{background:#e3f9e5;padding:.5rem .75rem;border-radius:4px}"""


def _owners(system: str, emulator: Any) -> dict[str, str]:
    """Active users: id → how the CRM shows them."""
    if system == "salesforce":
        people = {r["Id"]: f"{r.get('Name') or ''} <{r.get('Email') or ''}>" for r in emulator.records("User")}
    else:
        people = {o: f"{row.get('firstName', '')} {row.get('lastName', '')} <{row.get('email', '')}>"
                  for o, row in emulator.store.owners.items()}
    return {o: people[o] for o in active_owners(system, emulator) if o in people}


def _page(system: str, emulator: Any, message: str = "") -> Response:
    owners = _owners(system, emulator)
    owner_field, subject_field = (("OwnerId", "Subject") if system == "salesforce"
                                  else ("hubspot_owner_id", "hs_task_subject"))
    rows = []
    for task_id, key, values in open_canary_tasks(system, emulator):
        current = str(values.get(owner_field) or "")
        choices = "".join(f'<option value="{escape(o)}"{" selected" if o == current else ""}>{escape(label)}</option>'
                          for o, label in owners.items())
        hidden = f'<input type="hidden" name="task" value="{escape(task_id)}"><input type="hidden" name="key" ' \
                 f'value="{escape(key)}">'
        rows.append(
            f"<tr><td>{escape(str(values.get(subject_field) or ''))}</td><td>{due_of(system, values)}</td>"
            f"<td>{escape(owners.get(current, current or '—'))}</td><td>"
            f'<form method="post">{hidden}<button name="action" value="complete">Complete</button>'
            f'<button name="action" value="redate">A week later</button></form>'
            f'<form method="post">{hidden}<select name="owner" aria-label="New owner">{choices}</select>'
            f'<button name="action" value="reassign">Reassign</button></form></td></tr>')
    title = {"salesforce": "Salesforce", "hubspot": "HubSpot"}[system]
    body = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} tasks (sandbox)</title>"
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head><body>'
            f"<h1>{title} (sandbox): Canary's open tasks</h1>"
            f'<p class="note">Work them as a {title} user would; Canary picks the changes up at its next sync.</p>'
            + (f'<p class="done" role="status">{escape(message)}</p>' if message else "")
            + "<table><thead><tr><th>Subject</th><th>Due</th><th>Owner</th><th>Change</th></tr></thead><tbody>"
            + ("".join(rows) or '<tr><td colspan="4">No open Canary tasks.</td></tr>')
            + "</tbody></table></body></html>")
    return Response(body, mimetype="text/html")


def task_desk(system: str, emulator: Any, request: Request) -> Response:
    if system not in TASK_OBJECTS:
        return Response("this system keeps no tasks", status=404, mimetype="text/plain")
    if request.method == "GET":
        return _page(system, emulator)
    if request.method != "POST":
        return Response("GET or POST", status=405, mimetype="text/plain")
    task_id, action = request.form.get("task", ""), request.form.get("action", "")
    found = next(((t, k, v) for t, k, v in open_canary_tasks(system, emulator) if t == task_id), None)
    if found is None:
        return Response(f"no open Canary task {task_id!r}", status=404, mimetype="text/plain")
    try:
        edit = edit_task(emulator, system, found[0], found[1], found[2], action, request.form.get("owner") or None)
    except ValueError as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    done = {"complete": "completed", "redate": f"due {edit.value}", "reassign": f"now owned by {edit.value}"}
    return _page(system, emulator, f"Task {edit.task_id} {done[action]}.")
