"""The console's campaign pages: *Audiences* (saved audiences with their size now, an editor with a live count
and the first people), *Campaigns* (the list), one campaign (its dashboard per campaign and per step — the
cumulative chart, the numbers as a table and CSV —, its definition, actions and audit trail), the draft editor
(steps added, removed and moved without losing what was typed; goal, window, category), the template preview
with a real person of the workspace, "send a test to me", and activate / pause / finish behind a confirmation.

Routes live on the console blueprint, so its guard applies (a live session, the CSRF token on every POST) and
every query is scoped to the signed-in workspace. Admins and managers change audiences and campaigns; CSMs and
viewers read them (their POSTs get 403). Every change is audited (``campaign.*``, ``audience.*``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.audience import preview as audience_preview
from campaigns.definition import (
    GOAL_FIELDS,
    GOAL_KINDS,
    DefinitionError,
    Step,
    parse_audience,
    parse_goal,
    parse_steps,
)
from campaigns.manage import set_status
from campaigns.stats import campaign_stats
from console.campaign_forms import (
    NEW_STEPS,
    STEP_FIELDS,
    STEP_LABELS,
    FormError,
    apply_op,
    audience_fields,
    audience_from_form,
    goal_from_form,
    role_choices,
    steps_from_form,
)
from console.charts import Chart, Series
from console.play_data import can_manage
from console.views import _store, console, who
from mail.context import variables_for
from mail.templates import MailTemplate, Rendered, TemplateError, render
from store.audit import changed_keys, record_audit
from store.models import (
    SUPPRESSION_CATEGORIES,
    AuditEvent,
    Campaign,
    CampaignEnrollment,
    CampaignStep,
    PortfolioList,
    ProductUser,
    SavedAudience,
)

F = TypeVar("F", bound=Callable[..., Any])
STATUS_LABELS = {"draft": "Draft", "active": "Active", "paused": "Paused", "finished": "Finished"}
STATUS_VERBS = {"active": "Activate", "paused": "Pause", "finished": "Finish"}
NEXT_STATUSES = {"draft": ("active",), "active": ("paused", "finished"), "paused": ("active", "finished"),
                 "finished": ()}
CATEGORY_LABELS = {"customer_success": "Customer success", "marketing": "Marketing"}
CHART_FIGURES = (("sent", "Sent"), ("delivered", "Delivered"), ("opened", "Opened"), ("clicked", "Clicked"),
                 ("goal_reached", "Goal reached"), ("unsubscribed", "Unsubscribed"))
TABLE_FIGURES = ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed")
PREVIEW_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def manages_campaigns(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not can_manage(who()):
            abort(403, description="only a manager or an admin of this workspace can change campaigns and audiences")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _campaign_or_404(s: Session, campaign_id: int) -> Campaign:
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        abort(404, description="no such campaign in this workspace")
    return campaign


def _audience_or_404(s: Session, audience_id: int) -> SavedAudience:
    found = s.get(SavedAudience, audience_id)
    if found is None:
        abort(404, description="no such audience in this workspace")
    return found


def _lists(s: Session) -> list[tuple[int, str]]:
    return [(i, n) for i, n in s.execute(select(PortfolioList.id, PortfolioList.name).order_by(PortfolioList.name))]


def audience_words(doc: dict[str, Any], lists: dict[int, str]) -> list[str]:
    """An audience document in words, one condition a line."""
    out = []
    if doc.get("roles"):
        out.append("role: " + ", ".join(r.replace("_", " ") for r in doc["roles"]))
    if doc.get("title_contains"):
        out.append(f"title contains “{doc['title_contains']}”")
    if doc.get("active_within_days"):
        out.append(f"active in the last {doc['active_within_days']} days")
    if doc.get("inactive_days"):
        out.append(f"inactive for {doc['inactive_days']} days or more")
    window = doc.get("usage_window_days", 30)
    if doc.get("used"):
        out.append(f"used {', '.join(doc['used'])} in the last {window} days")
    if doc.get("not_used"):
        out.append(f"did not use {', '.join(doc['not_used'])} in the last {window} days")
    if doc.get("tiers"):
        out.append("plan tier: " + ", ".join(doc["tiers"]))
    if doc.get("joined_within_days"):
        out.append(f"joined in the last {doc['joined_within_days']} days")
    if doc.get("lists"):
        out.append("account in list: " + ", ".join(lists.get(i, f"#{i} (deleted)") for i in doc["lists"]))
    return out or ["everyone with an e-mail address"]


def _person_rows(people: list[Any]) -> list[dict[str, Any]]:
    return [{"email": p.email, "name": p.name, "account_id": p.account_id, "time_zone": p.time_zone}
            for p in people]


# --- audiences ---------------------------------------------------------------------------------------------------


@console.get("/audiences")
def audiences() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        lists = dict(_lists(s))
        rows = []
        for a in s.scalars(select(SavedAudience).order_by(SavedAudience.name)):
            try:
                size: int | None = audience_preview(s, a.definition).count
            except DefinitionError:
                size = None
            rows.append({"id": a.id, "name": a.name, "size": size, "words": audience_words(a.definition, lists),
                         "updated_at": a.updated_at})
    return render_template("console/audiences.html", me=me, rows=rows, manage=can_manage(me),
                           message=request.args.get("message"))


def _audience_page(s: Session, audience: SavedAudience | None, name: str, doc: dict[str, Any],
                   error: str | None, status: int, fields: dict[str, Any] | None = None) -> Any:
    me = who()
    found = None
    if error is None:
        try:
            found = audience_preview(s, doc)
        except DefinitionError as exc:
            error, status = str(exc), 400
    return render_template("console/audience_edit.html", me=me, audience=audience, name=name,
                           fields=fields if fields is not None else audience_fields(doc), lists=_lists(s),
                           roles=role_choices(), error=error, count=found.count if found else None,
                           people=_person_rows(found.people) if found else [], manage=can_manage(me),
                           message=request.args.get("message")), status


@console.get("/audiences/new")
@manages_campaigns
def audience_new() -> Any:
    with _store().session(who().tenant_id) as s:
        return _audience_page(s, None, "", {}, None, 200)


@console.get("/audiences/<int:audience_id>")
def audience_page(audience_id: int) -> Any:
    with _store().session(who().tenant_id) as s:
        found = _audience_or_404(s, audience_id)
        return _audience_page(s, found, found.name, dict(found.definition), None, 200)


def _typed_audience() -> tuple[dict[str, Any] | None, str | None]:
    """(the document the form describes, or None with the error in words)."""
    try:
        doc = audience_from_form(request.form, request.form.getlist)
        return parse_audience(doc).as_dict(), None
    except (FormError, DefinitionError) as exc:
        return None, str(exc)


@console.post("/audiences/preview")
def audience_live_preview() -> Any:
    """The live count and first people of the audience typed in the editor (JSON for the page's script)."""
    doc, error = _typed_audience()
    if doc is None:
        return jsonify({"error": error}), 400
    with _store().session(who().tenant_id) as s:
        found = audience_preview(s, doc)
        return jsonify({"count": found.count, "people": _person_rows(found.people)})


def _save_audience(audience_id: int | None) -> Any:
    me = who()
    name = str(request.form.get("name") or "").strip()
    doc, error = _typed_audience()
    with _store().session(me.tenant_id) as s:
        audience = _audience_or_404(s, audience_id) if audience_id is not None else None
        fields = audience_fields(audience_from_form(request.form, request.form.getlist)) if doc is None else None
        if doc is None or request.form.get("op") == "preview":
            return _audience_page(s, audience, name, doc or {}, error, 400 if error else 200, fields)
        if not name or len(name) > 120:
            return _audience_page(s, audience, name, doc, "name: an audience needs a name of 1 to 120 characters",
                                  400)
        if audience is None:
            audience = SavedAudience(name=name, definition=doc, created_by_user_id=me.user_id)
            try:
                with s.begin_nested():
                    s.add(audience)
            except IntegrityError:
                return _audience_page(s, None, name, doc, f"name: there is already an audience called “{name}”", 400)
            record_audit(s, me.email, "audience.create", f"audience {audience.id}", me.user_id, name=name)
            text = "Audience saved"
        else:
            before = {"name": audience.name, **audience.definition}
            audience.name, audience.definition = name, doc
            changed = changed_keys(before, {"name": name, **doc})
            try:
                with s.begin_nested():
                    s.flush()
            except IntegrityError:
                return _audience_page(s, audience, name, doc, f"name: there is already an audience called “{name}”",
                                      400)
            if changed:
                record_audit(s, me.email, "audience.update", f"audience {audience.id}", me.user_id, changed=changed)
            text = "Audience saved" if changed else "Nothing changed"
        target = audience.id
    return redirect(url_for("console.audience_page", audience_id=target, message=text))


@console.post("/audiences/new")
@manages_campaigns
def audience_create() -> Any:
    return _save_audience(None)


@console.post("/audiences/<int:audience_id>")
@manages_campaigns
def audience_update(audience_id: int) -> Any:
    return _save_audience(audience_id)


# --- campaigns: list, creation, dashboard -----------------------------------------------------------------------


@console.get("/campaigns")
def campaigns_index() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        enrolled = dict(s.execute(select(CampaignEnrollment.campaign_id, func.count()).group_by(
            CampaignEnrollment.campaign_id)).all())
        rows = [{"id": c.id, "name": c.name, "status": c.status, "category": CATEGORY_LABELS[c.category],
                 "steps": len(c.steps), "enrolled": int(enrolled.get(c.id, 0)), "updated_at": c.updated_at}
                for c in s.scalars(select(Campaign).order_by(Campaign.id.desc()))]
    return render_template("console/campaigns.html", me=me, rows=rows, labels=STATUS_LABELS, manage=can_manage(me),
                           message=request.args.get("message"))


@console.post("/campaigns/new")
@manages_campaigns
def campaign_create() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        campaign = Campaign(name="New campaign", status="draft", category="customer_success", audience={},
                            goal=None, conversion_days=30, created_by_user_id=me.user_id)
        campaign.steps = [CampaignStep(position=1, kind="send_email",
                                       config={k: v for k, v in NEW_STEPS["send_email"].items() if k != "kind"})]
        s.add(campaign)
        s.flush()
        record_audit(s, me.email, "campaign.create", f"campaign {campaign.id}", me.user_id, name=campaign.name)
        campaign_id = campaign.id
    return redirect(url_for("console.campaign_edit", campaign_id=campaign_id, message="Draft created"))


def _progress_chart(days: list[dict[str, Any]]) -> Chart:
    return Chart(ident="campaign-progress", kind="line", title="Cumulative since the start, per day",
                 labels=[d["day"] for d in days], category="Day",
                 series=[Series(label, [float(d[key]) for d in days]) for key, label in CHART_FIGURES])


def _stats(s: Session, campaign: Campaign) -> dict[str, Any]:
    return campaign_stats(s, campaign.id, _now().date())


def _audit_trail(s: Session, campaign_id: int) -> list[AuditEvent]:
    return list(s.scalars(select(AuditEvent).where(AuditEvent.target == f"campaign {campaign_id}")
                          .order_by(AuditEvent.id.desc()).limit(50)))


@console.get("/campaigns/<int:campaign_id>")
def campaign_page(campaign_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        stats = _stats(s, campaign)
        lists = dict(_lists(s))
        try:
            steps = parse_steps([{"kind": st.kind, **st.config} for st in campaign.steps])
        except DefinitionError:
            steps = []
        page = render_template(
            "console/campaign.html", me=me, campaign=campaign, stats=stats, chart=_progress_chart(stats["days"]),
            figures=TABLE_FIGURES, steps=steps, step_labels=STEP_LABELS, labels=STATUS_LABELS,
            categories=CATEGORY_LABELS, verbs=STATUS_VERBS, next_statuses=NEXT_STATUSES[campaign.status],
            audience=audience_words(campaign.audience, lists), goal=campaign.goal, audit=_audit_trail(s, campaign.id),
            manage=can_manage(me), message=request.args.get("message"))
    return page


@console.get("/campaigns/<int:campaign_id>/stats.csv")
def campaign_stats_csv(campaign_id: int) -> Any:
    """The dashboard's numbers: per step (``?view=steps``) or cumulative per day (the default)."""
    import csv
    import io

    me = who()
    view = request.args.get("view", "days")
    if view not in ("days", "steps"):
        abort(400, description="view must be days or steps")
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        stats = _stats(s, campaign)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if view == "steps":
        writer.writerow(["step", "kind", *TABLE_FIGURES])
        for row in stats["steps"]:
            writer.writerow([row["position"], row["kind"], *[row[k] for k in TABLE_FIGURES]])
    else:
        writer.writerow(["day", *TABLE_FIGURES, "goal_reached"])
        for row in stats["days"]:
            writer.writerow([row["day"], *[row[k] for k in TABLE_FIGURES], row["goal_reached"]])
    name = f"campaign-{campaign_id}-{view}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- the draft editor -------------------------------------------------------------------------------------------


def _editor(s: Session, campaign: Campaign, form: dict[str, Any], error: str | None, status: int,
            note: str | None = None) -> Any:
    me = who()
    saved = list(s.scalars(select(SavedAudience).order_by(SavedAudience.name)))
    lists = _lists(s)
    return render_template(
        "console/campaign_edit.html", me=me, campaign=campaign, form=form, error=error, note=note,
        step_fields=STEP_FIELDS, step_labels=STEP_LABELS, new_kinds=list(NEW_STEPS), audiences=saved,
        audience=audience_words(form["audience"], dict(lists)), lists=lists, goal_kinds=GOAL_KINDS,
        goal_fields=GOAL_FIELDS, categories=CATEGORY_LABELS, message=request.args.get("message")), status


def _stored_form(campaign: Campaign) -> dict[str, Any]:
    goal = campaign.goal or {}
    return {"name": campaign.name, "category": campaign.category, "conversion_days": campaign.conversion_days,
            "audience": dict(campaign.audience), "audience_id": "",
            "goal_kind": goal.get("kind", ""), "goal_event": goal.get("event", ""),
            "goal_list_id": goal.get("list_id", ""), "goal_field": goal.get("field", ""),
            "goal_value": goal.get("value", ""),
            "steps": [{"kind": st.kind, **st.config} for st in campaign.steps]}


def _typed_form(s: Session, campaign: Campaign) -> dict[str, Any]:
    f = request.form
    audience = dict(campaign.audience)
    audience_id = str(f.get("audience_id") or "")
    if audience_id.isdigit():
        chosen = s.get(SavedAudience, int(audience_id))
        if chosen is not None:
            audience = dict(chosen.definition)
    return {"name": str(f.get("name") or ""), "category": str(f.get("category") or ""),
            "conversion_days": str(f.get("conversion_days") or ""), "audience": audience, "audience_id": audience_id,
            **{k: str(f.get(k) or "") for k in ("goal_kind", "goal_event", "goal_list_id", "goal_field",
                                                   "goal_value")},
            "steps": steps_from_form(f)}


@console.get("/campaigns/<int:campaign_id>/edit")
@manages_campaigns
def campaign_edit(campaign_id: int) -> Any:
    with _store().session(who().tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        if campaign.status != "draft":
            abort(409, description=f"only a draft can be edited; this campaign is {campaign.status}")
        return _editor(s, campaign, _stored_form(campaign), None, 200)


@console.post("/campaigns/<int:campaign_id>/edit")
@manages_campaigns
def campaign_save(campaign_id: int) -> Any:
    me = who()
    op = str(request.form.get("op") or "save")
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        if campaign.status != "draft":
            abort(409, description=f"only a draft can be edited; this campaign is {campaign.status}")
        form = _typed_form(s, campaign)
        if op != "save":
            try:
                form["steps"], note = apply_op(form["steps"], op)
            except FormError as exc:
                return _editor(s, campaign, form, str(exc), 400)
            return _editor(s, campaign, form, None, 200, note)
        try:
            name = form["name"].strip()
            if not name or len(name) > 120:
                raise DefinitionError("name: a campaign needs a name of 1 to 120 characters")
            if form["category"] not in SUPPRESSION_CATEGORIES:
                raise DefinitionError(f"category must be one of {', '.join(SUPPRESSION_CATEGORIES)}")
            days = form["conversion_days"].strip()
            if not days.isdigit() or not 1 <= int(days) <= 365:
                raise DefinitionError("conversion window: a whole number of days from 1 to 365")
            goal_doc = goal_from_form(request.form)
            goal = parse_goal(goal_doc).as_dict() if goal_doc is not None else None
            steps = parse_steps(form["steps"])
            audience = parse_audience(form["audience"]).as_dict()
        except (DefinitionError, FormError) as exc:
            return _editor(s, campaign, form, str(exc), 400)
        before = _stored_form(campaign)
        campaign.name, campaign.category, campaign.conversion_days = name, form["category"], int(days)
        campaign.goal, campaign.audience = goal, audience
        new_steps = [{"kind": st.kind, **st.config} for st in steps]
        if new_steps != before["steps"]:
            campaign.steps.clear()
            s.flush()
            campaign.steps.extend(CampaignStep(position=st.position, kind=st.kind, config=st.config) for st in steps)
        after = _stored_form(campaign)
        after["steps"] = new_steps
        changed = changed_keys({k: v for k, v in before.items() if k != "audience_id"},
                               {k: v for k, v in after.items() if k != "audience_id"})
        if changed:
            record_audit(s, me.email, "campaign.update", f"campaign {campaign.id}", me.user_id, changed=changed)
    text = f"Draft saved ({', '.join(changed)})" if changed else "Nothing changed"
    return redirect(url_for("console.campaign_edit", campaign_id=campaign_id, message=text))


# --- preview and test -------------------------------------------------------------------------------------------


def _email_step(s: Session, campaign: Campaign, position: int) -> Step:
    step = next((st for st in campaign.steps if st.position == position), None)
    if step is None or step.kind != "send_email":
        abort(404, description=f"step {position} of this campaign is not an e-mail")
    return Step(step.position, step.kind, dict(step.config))


def _people(s: Session, campaign: Campaign) -> list[dict[str, Any]]:
    try:
        return _person_rows(audience_preview(s, campaign.audience).people)
    except DefinitionError:
        return []


def _variables(s: Session, email: str | None, people: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The template variables of a real person of the workspace (the one asked for, else the audience's first)."""
    wanted = (email or "").strip().lower() or (people[0]["email"] if people else "")
    if not wanted:
        return {}, None
    # The person's first product user, as the audience takes it (`campaigns.audience.people`: lowest id).
    row = s.execute(select(ProductUser.account_id).where(func.lower(ProductUser.email) == wanted)
                    .order_by(ProductUser.id).limit(1)).first()
    if row is None:
        abort(404, description=f"{wanted} is no product user of this workspace")
    values = variables_for(s, row.account_id, wanted)
    values["unsubscribe_url"] = f"{str(current_app.config.get('PUBLIC_URL') or '').rstrip('/')}/u/preview"
    return values, wanted


def _rendered(step: Step, values: dict[str, Any]) -> tuple[Rendered | None, TemplateError | None]:
    try:
        return render(step.template(), values), None
    except TemplateError as exc:
        return None, exc


@console.get("/campaigns/<int:campaign_id>/preview")
def campaign_preview(campaign_id: int) -> Any:
    me = who()
    position = request.args.get("step", type=int) or 0
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        if position == 0:
            position = next((st.position for st in campaign.steps if st.kind == "send_email"), 0)
        step = _email_step(s, campaign, position)
        people = _people(s, campaign)
        values, person = _variables(s, request.args.get("person"), people)
        rendered, error = _rendered(step, values) if person else (None, None)
        email_steps = [st.position for st in campaign.steps if st.kind == "send_email"]
        status = 400 if error is not None else 200
        return render_template("console/campaign_preview.html", me=me, campaign=campaign, step=step,
                               email_steps=email_steps, people=people, person=person, rendered=rendered,
                               error=error, manage=can_manage(me), message=request.args.get("message")), status


@console.get("/campaigns/<int:campaign_id>/preview.html")
def campaign_preview_html(campaign_id: int) -> Any:
    """The rendered HTML part alone, under a policy that runs nothing and loads nothing (open in a new tab)."""
    me = who()
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        step = _email_step(s, campaign, request.args.get("step", type=int) or 0)
        values, person = _variables(s, request.args.get("person"), _people(s, campaign))
        rendered, error = _rendered(step, values) if person else (None, None)
    if rendered is None:
        abort(400, description=str(error) if error else "the audience has nobody to preview with")
    return Response(rendered.html, mimetype="text/html",
                    headers={"Content-Security-Policy": PREVIEW_HTML_CSP, "Cache-Control": "no-store"})


@console.post("/campaigns/<int:campaign_id>/test")
@manages_campaigns
def campaign_test(campaign_id: int) -> Any:
    """Queue the step's e-mail, rendered for a real person, to the signed-in user (transactional: no unsubscribe
    token, nobody suppressed) and start the send job."""
    from extensions import credential_cipher
    from jobs import submit
    from mail.outbox import OutboxError, enqueue
    from mail.settings import smtp_settings

    me = who()
    position = request.form.get("step", type=int) or 0
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        step = _email_step(s, campaign, position)
        settings = smtp_settings(s, credential_cipher(), current_app.config)
        if settings is None:
            abort(400, description="set up an SMTP server on the Settings page first: there is nothing to send with")
        values, person = _variables(s, request.form.get("person"), _people(s, campaign))
        if person is None:
            abort(400, description="the audience has nobody to render the test e-mail for")
        template = step.template()
        test = MailTemplate(subject=f"[Test] {template.subject}", html=template.html, text=template.text)
        try:
            enqueue(s, key=f"campaign-test:{campaign.id}:{position}:{me.user_id}:{secrets.token_hex(8)}",
                    category="transactional", to=me.email, sender=settings.from_address, template=test,
                    variables=values, public_url=str(current_app.config.get("PUBLIC_URL") or ""), now=_now())
        except (OutboxError, TemplateError) as exc:
            abort(400, description=f"the test e-mail cannot be made: {exc}")
        record_audit(s, me.email, "campaign.test", f"campaign {campaign.id}", me.user_id, step=position,
                     rendered_for=person)
    submit(current_app, "send", me.tenant_id)
    return redirect(url_for("console.campaign_preview", campaign_id=campaign_id, step=position, person=person,
                            message=f"Test e-mail to {me.email} queued"))


# --- status -----------------------------------------------------------------------------------------------------


def _wanted_status(campaign: Campaign, raw: str | None) -> str:
    status = str(raw or "")
    if status not in NEXT_STATUSES[campaign.status]:
        allowed = ", ".join(NEXT_STATUSES[campaign.status]) or "nothing (it is finished)"
        abort(400, description=f"a {campaign.status} campaign can become {allowed}, not {status!r}")
    return status


@console.get("/campaigns/<int:campaign_id>/status")
@manages_campaigns
def campaign_confirm(campaign_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        status = _wanted_status(campaign, request.args.get("to"))
        problem = None
        try:
            parse_steps([{"kind": st.kind, **st.config} for st in campaign.steps])
            size = audience_preview(s, campaign.audience).count
        except DefinitionError as exc:
            problem, size = str(exc), 0
        return render_template("console/campaign_confirm.html", me=me, campaign=campaign, status=status,
                               verb=STATUS_VERBS[status], size=size, problem=problem, labels=STATUS_LABELS)


@console.post("/campaigns/<int:campaign_id>/status")
@manages_campaigns
def campaign_status(campaign_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        campaign = _campaign_or_404(s, campaign_id)
        status = _wanted_status(campaign, request.form.get("status"))
        if request.form.get("confirm") != "yes":
            abort(400, description="confirm the change: tick the box on the confirmation page")
        if status == "active":
            try:
                parse_steps([{"kind": st.kind, **st.config} for st in campaign.steps])
                parse_audience(campaign.audience)
            except DefinitionError as exc:
                abort(400, description=f"the campaign cannot start: {exc}")
        before = campaign.status
        try:
            set_status(campaign, status, _now())
        except DefinitionError as exc:
            abort(400, description=str(exc))
        record_audit(s, me.email, "campaign.status", f"campaign {campaign.id}", me.user_id, before=before,
                     after=status)
    return redirect(url_for("console.campaign_page", campaign_id=campaign_id,
                            message=f"Campaign {STATUS_LABELS[status].lower()}"))
