"""The console's routes: sign-in and resets, portfolio, account and product-user profiles,
connections, and the admin's users and audit pages.

Every page but the start page, sign-in and password reset needs a live session; every page reads
through the signed-in user's tenant-scoped session; every POST carries the CSRF token (checked
before any view in `console.init_app`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from console import auth, vendor_sign_in
from console.auth import SignedIn, SignInRefused
from console.connections import connection_facts, record_sync
from console.history import history_chart_svg
from console.mail import send_reset_mail, smtp_configured
from console.people import (
    RESET_MINUTES,
    PeopleError,
    audit,
    change_role,
    issue_reset_token,
    redeem_reset_token,
    reset_tenant_of_token,
)
from console.portfolio import (
    CSV_COLUMNS,
    RENEWAL_WINDOWS,
    PortfolioQuery,
    QueryError,
    csv_row,
    filter_options,
    load_page,
)
from console.profile import activity_bars_svg, load_account_profile, load_product_user
from console.tasks import assignable_users
from extensions import canary_store, credential_cipher, replay_guard
from integrations.registry import vendors
from store.db import Store
from store.models import USER_ROLES, AuditEvent, JobFailure, Task, Tenant, User
from sync.plays import runs_of_account
from sync.reassign import allowed_to_reassign
from sync.tasks import complete_task

console = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/static/console")
PUBLIC_ENDPOINTS = frozenset({"console.start", "console.sign_in", "console.reset_request", "console.reset",
                              "console.static", "console.vendor_sign_in_start", "console.vendor_sign_in_callback"})
SYSTEM_LABELS = {v.name: v.label for v in vendors()}
F = TypeVar("F", bound=Callable[..., Any])


def _store() -> Store:
    store = canary_store()
    return store


def who() -> SignedIn:
    found: SignedIn | None = g.get("who")
    if found is None:
        abort(401)
    return found


def admin_only(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not who().is_admin:
            abort(403, description="only an admin of this workspace can do this")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def may_change(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not who().can_change:
            abort(403, description="a viewer cannot change anything")
        return view(*args, **kwargs)

    return cast(F, wrapper)


STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@console.before_request
def guard() -> Any:
    """Who is signed in; CSRF on every state-changing request; sign-in for every non-public page."""
    idle = float(current_app.config.get("SESSION_IDLE_MINUTES", 30)) * 60
    g.who = auth.load_signed_in(_store(), idle, time.time())
    if request.method in STATE_CHANGING:
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not auth.csrf_ok(sent):
            return render_template("console/error.html", code=403, message=(
                "This form has expired or did not come from Canary (no valid CSRF token). "
                "Go back, reload the page and try again.")), 403
    if g.who is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
    return None


def _error_page(error: HTTPException) -> Any:
    code = error.code or 500
    return render_template("console/error.html", code=code, message=error.description), code


for _code in (400, 401, 403, 404):
    console.register_error_handler(_code, _error_page)


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _safe_next(target: str | None, signed: SignedIn | None = None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    if signed is not None and signed.role in ("csm", "manager"):
        return url_for("console.my_day")  # their landing page: today's work
    return url_for("console.portfolio")


# --- public pages ------------------------------------------------------------------------------


@console.get("/")
def start() -> str:
    """What Canary is and how to connect it; nothing about any workspace (anyone can open this page)."""
    from store.migrate import pending

    store = _store()
    database_ok = store.ping()
    if database_ok:
        try:
            database_ok = not pending(store.url)
        except Exception:  # an unreadable migration state: the page explains how to migrate
            database_ok = False
    return render_template("console/start.html", database_ok=database_ok, systems=SYSTEM_LABELS,
                           signed_in=g.get("who"))


def _begin_session(signed: SignedIn) -> None:
    """The same for every sign-in method: a new session (rotation) with the user's current epoch."""
    with _store().session(signed.tenant_id) as s:
        epoch = s.scalar(select(User.session_epoch).where(User.id == signed.user_id)) or 0
    auth.start_session(signed, epoch)


def _sign_in_page(error: str | None = None, vendor_error: str | None = None, status: int = 200) -> Response:
    page = render_template("console/sign_in.html", error=error, vendor_error=vendor_error,
                           email=request.form.get("email", ""), workspace=request.form.get("workspace", ""),
                           vendors=vendor_sign_in.offers(current_app.config), next_path=request.args.get("next", ""))
    response = current_app.make_response((page, status))
    response.headers["Content-Security-Policy"] = vendor_sign_in.page_policy(current_app.config)
    return response


@console.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    error = None
    if request.method == "POST":
        provider = auth.PasswordSignIn(_store(), auth.passwords(), auth.sign_in_limiter())
        credentials = {k: str(request.form.get(k, ""))[:512] for k in ("email", "password", "workspace")}
        try:
            signed = provider.authenticate(credentials, _client_address())
        except SignInRefused as exc:
            error = str(exc)
        else:
            _begin_session(signed)
            return redirect(_safe_next(request.args.get("next"), signed))
    return _sign_in_page(error, status=401 if error else 200)


def _vendor_refusal(refused: vendor_sign_in.VendorSignInRefused) -> Any:
    if refused.counts:
        auth.sign_in_limiter().failed("", _client_address())
    response = _sign_in_page(vendor_error=str(refused), status=refused.status)
    response.delete_cookie(vendor_sign_in.FLOW_COOKIE, path=vendor_sign_in.FLOW_PATH)
    return response


@console.post("/sign-in/<vendor>")
def vendor_sign_in_start(vendor: str) -> Any:
    """Start signing in with a vendor (a form on the sign-in page: the CSRF check applies)."""
    try:
        started = vendor_sign_in.start(vendor, current_app.config, request.form.get("subdomain"),
                                       str(request.form.get("next", ""))[:512])
    except vendor_sign_in.VendorSignInRefused as refused:
        return _vendor_refusal(refused)
    response = redirect(started.location)
    response.set_cookie(vendor_sign_in.FLOW_COOKIE, started.cookie, max_age=vendor_sign_in.FLOW_MAX_AGE,
                        path=vendor_sign_in.FLOW_PATH, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


@console.get("/sign-in/<vendor>/callback")
def vendor_sign_in_callback(vendor: str) -> Any:
    try:
        finished = vendor_sign_in.finish(
            vendor, current_app.config, {k: str(v)[:2048] for k, v in request.args.items()},
            request.cookies.get(vendor_sign_in.FLOW_COOKIE), store=_store(), limiter=auth.sign_in_limiter(),
            guard=replay_guard(), address=_client_address())
    except vendor_sign_in.VendorSignInRefused as refused:
        return _vendor_refusal(refused)
    _begin_session(finished.signed)
    response = redirect(_safe_next(finished.next_path, finished.signed))
    response.delete_cookie(vendor_sign_in.FLOW_COOKIE, path=vendor_sign_in.FLOW_PATH)
    return response


@console.post("/sign-out")
def sign_out() -> Any:
    auth.end_session()
    return redirect(url_for("console.sign_in"))


@console.route("/reset", methods=["GET", "POST"])
def reset_request() -> Any:
    """Ask for a reset link by e-mail. The answer is the same whether the address exists or not."""
    sent = False
    if request.method == "POST":
        email = str(request.form.get("email", "")).strip().lower()[:320]
        limiter = auth.sign_in_limiter()
        if email and not limiter.blocked(email, _client_address()) and smtp_configured(current_app.config):
            _mail_reset_links(email)
        if email:
            limiter.failed(email, _client_address())  # reset requests count against the same limits
        sent = True
    return render_template("console/reset_request.html", sent=sent, smtp=smtp_configured(current_app.config))


def _mail_reset_links(email: str) -> None:
    now = dt.datetime.now(dt.UTC)
    with _store().session() as s:
        tenants = [t for (t,) in s.execute(select(User.tenant_id).where(User.email == email, User.active.is_(True)))]
    for tenant_id in tenants:
        with _store().session(tenant_id) as s:
            user = s.scalar(select(User).where(User.email == email))
            if user is None:
                continue
            token = issue_reset_token(s, user, now)
            audit(s, "password reset request", "user.reset_link", user.email, None, channel="e-mail")
        link = str(current_app.config["PUBLIC_URL"]).rstrip("/") + url_for("console.reset", token=token)
        send_reset_mail(current_app.config, email, link, RESET_MINUTES)


@console.route("/reset/new", methods=["GET", "POST"])
def reset() -> Any:
    """Choose a new password. The token travels in the query string (GET) and the form (POST), never in
    the path: access logs record paths without query strings, and log lines mask ``token=``."""
    token = str(request.form.get("token") or request.args.get("token") or "")[:200]
    error = None
    if request.method == "POST":
        password = str(request.form.get("password", ""))
        if password != request.form.get("confirm", ""):
            error = "the two passwords differ"
        else:
            with _store().session() as s:
                tenant_id = reset_tenant_of_token(s, token)
            try:
                if tenant_id is None:
                    raise PeopleError("this reset link has expired or was already used: ask for a new one")
                with _store().session(tenant_id) as s:
                    redeem_reset_token(s, token, password, auth.passwords(), dt.datetime.now(dt.UTC))
            except PeopleError as exc:
                error = str(exc)
            else:
                auth.end_session()
                return redirect(url_for("console.sign_in", reset="done"))
    return render_template("console/reset.html", error=error, token=token), (400 if error else 200)


# --- portfolio ---------------------------------------------------------------------------------


@console.get("/accounts")
def portfolio() -> Any:
    me = who()
    try:
        query = PortfolioQuery.parse(request.args, me, getlist=request.args.getlist)
    except QueryError as exc:
        abort(400, description=str(exc))
    if request.args.get("format") == "csv":
        return _csv(query, me)
    with _store().session(me.tenant_id) as s:
        try:
            page = load_page(s, query, me)
        except QueryError as exc:
            abort(400, description=str(exc))
        options = filter_options(s, me.tenant_id)
    return render_template("console/portfolio.html", page=page, q=query, options=options, me=me,
                           renewal_windows=RENEWAL_WINDOWS)


def _csv(query: PortfolioQuery, me: SignedIn) -> Response:
    """Every row the filters select (not only the page on screen), streamed page by page."""
    def rows() -> Any:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        q = PortfolioQuery(**{**query.__dict__, "cursor": None, "limit": 200})
        while True:
            with _store().session(me.tenant_id) as s:
                page = load_page(s, q, me)
            for r in page.rows:
                writer.writerow(csv_row(r))
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if page.next_cursor is None:
                break
            q = PortfolioQuery(**{**q.__dict__, "cursor": page.next_cursor})

    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=canary-portfolio.csv"
    return response


# --- profiles ----------------------------------------------------------------------------------


@console.get("/accounts/<int:account_id>")
def account(account_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        profile = load_account_profile(s, account_id, None)
        if profile is None:
            abort(404, description="no such account in this workspace")
        chart = history_chart_svg(profile.points, profile.changes)
        movable = {t["id"] for t in profile.tasks
                   if allowed_to_reassign(me.user_id, me.role, t["assignee_user_id"], profile.account.csm_user_id)}
        return render_template("console/account.html", p=profile, chart=chart, me=me, movable=movable,
                               users=assignable_users(s), message=request.args.get("message"),
                               runs=runs_of_account(s, account_id))


@console.get("/product-users/<int:user_id>")
def product_user(user_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        profile = load_product_user(s, user_id, None)
        if profile is None:
            abort(404, description="no such product user in this workspace")
        return render_template("console/product_user.html", p=profile, bars=activity_bars_svg(profile.days), me=me)


@console.post("/tasks/<int:task_id>/done")
@may_change
def task_done(task_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        task = s.get(Task, task_id)
        if task is None:
            abort(404, description="no such task in this workspace")
        complete_task(task)  # its copies in the CRMs are closed at the next push
        audit(s, me.email, "task.done", f"task {task.id}", me.user_id, title=task.title)
        account_id = task.account_id
    if request.form.get("next"):
        return redirect(_safe_next(str(request.form["next"])[:512]))
    return redirect(url_for("console.account", account_id=account_id))


# --- connections -------------------------------------------------------------------------------


@console.get("/connections")
def connections() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        facts = connection_facts(s)
        failures = list(s.scalars(select(JobFailure).order_by(JobFailure.id.desc()).limit(50)))
    return render_template("console/connections.html", facts=facts, labels=SYSTEM_LABELS, me=me,
                           message=request.args.get("message"), failures=failures,
                           queued=bool(current_app.config.get("CELERY_BROKER_URL")))


@console.post("/connections/<system>/sync")
@admin_only
def sync_now(system: str) -> Any:
    """Run one system's incremental sync inline (jobs will queue it instead), then record and audit it."""
    from integrations.errors import AuthError
    from sync.connections import TenantAdapters
    from sync.runner import sync

    me = who()
    if system not in SYSTEM_LABELS:
        abort(404, description="no such system")
    if current_app.config.get("CELERY_BROKER_URL"):  # workers run it; its run appears here when done
        from jobs import submit

        job = submit(current_app, "sync", me.tenant_id, system=system, trigger="console")
        with _store().session(me.tenant_id) as s:
            audit(s, me.email, "connection.sync", system, me.user_id, queued=job)
        return redirect(url_for("console.connections", message=f"{SYSTEM_LABELS[system]} sync queued"))
    connected = TenantAdapters(_store(), credential_cipher(), me.tenant_id,
                               config=current_app.config)
    started = dt.datetime.now(dt.UTC)
    try:
        adapters = connected.build([system])
    except AuthError as exc:
        return redirect(url_for("console.connections", message=f"{SYSTEM_LABELS[system]}: {exc}"))
    if not adapters:
        return redirect(url_for("console.connections", message=f"{SYSTEM_LABELS[system]} is not connected"))
    summary = sync(_store(), me.tenant_id, adapters, reconnect=connected.reconnect)
    record_sync(_store(), me.tenant_id, summary, "console", started)
    part = summary.systems.get(system)
    with _store().session(me.tenant_id) as s:
        audit(s, me.email, "connection.sync", system, me.user_id, stopped=part.stopped if part else None)
    text = f"{SYSTEM_LABELS[system]} synced" if part is None or not part.stopped else \
        f"{SYSTEM_LABELS[system]} stopped: {part.stopped}"
    return redirect(url_for("console.connections", message=text))


@console.post("/connections/jobs/<int:failure_id>/retry")
@admin_only
def job_retry(failure_id: int) -> Any:
    """Send a dead-lettered job again (inline without a broker), marked and audited."""
    from jobs import KINDS, submit

    me = who()
    with _store().session(me.tenant_id) as s:
        failure = s.get(JobFailure, failure_id)
        if failure is None:
            abort(404, description="no such failed job in this workspace")
        if failure.kind not in KINDS:
            return redirect(url_for("console.connections", message=f"a {failure.kind} job cannot be sent again"))
        kind, arguments = failure.kind, dict(failure.arguments or {})
        failure.retried_at = dt.datetime.now(dt.UTC)
        audit(s, me.email, "job.retry", f"job failure {failure_id}", me.user_id, kind=kind)
    submit(current_app, kind, me.tenant_id, **arguments)
    return redirect(url_for("console.connections", message=f"The {kind} job was sent again"))



# --- admin -------------------------------------------------------------------------------------


@console.get("/admin/users")
@admin_only
def users() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        people = list(s.scalars(select(User).order_by(User.role, User.email)))
        managers = {u.id: u.name or u.email for u in people if u.role in ("manager", "admin")}
        return render_template("console/users.html", people=people, managers=managers, roles=USER_ROLES, me=me,
                               message=request.args.get("message"))


@console.post("/admin/users/<int:user_id>/role")
@admin_only
def user_role(user_id: int) -> Any:
    me = who()
    role = str(request.form.get("role", ""))
    with _store().session(me.tenant_id) as s:
        user = s.get(User, user_id)
        if user is None:
            abort(404, description="no such user in this workspace")
        try:
            change_role(s, user, role, me.email, me.user_id)
        except PeopleError as exc:
            return redirect(url_for("console.users", message=str(exc)))
        if role != "admin" and user.id == me.user_id:
            user.session_epoch += 1
    return redirect(url_for("console.users", message="role changed"))


@console.get("/admin/audit")
@admin_only
def audit_log() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(200)))
        tenant = s.get(Tenant, me.tenant_id)
        return render_template("console/audit.html", events=events, me=me, tenant=tenant)
