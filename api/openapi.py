"""The OpenAPI 3.1 document of ``/api/v1``, built from data so the routes and the document stay one list."""

from __future__ import annotations

from typing import Any

from console.portfolio import PAGE_SIZES, RENEWAL_WINDOWS, SCOPES, SORTS, TRENDS
from integrations.registry import VENDOR_NAMES
from store.models import PLAY_STATES, RUN_STATES

ERROR = {"$ref": "#/components/responses/Error"}


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema}


PAGING = [_param("limit", "rows per page (1–200, default 50)", {"type": "integer", "minimum": 1, "maximum": 200}),
          _param("cursor", "the next_cursor of the previous page", {"type": "string"})]

ACCOUNT_FILTERS = [
    _param("scope", "whose accounts (default: a CSM's own, a manager's team, else all)",
           {"type": "string", "enum": list(SCOPES)}),
    _param("owner", "only accounts whose CSM is this user id", {"type": "integer"}),
    _param("band", "good, average, poor or none; comma-separated for several", {"type": "string"}),
    _param("trend", "30-day trend", {"type": "string", "enum": list(TRENDS)}),
    _param("segment", "account segment", {"type": "string"}),
    _param("tier", "account tier", {"type": "string"}),
    _param("stage", "lifecycle stage", {"type": "string"}),
    _param("renewal", "renews within this many days", {"type": "integer", "enum": list(RENEWAL_WINDOWS)}),
    _param("arr_min", "lowest ARR", {"type": "number", "minimum": 0}),
    _param("arr_max", "highest ARR", {"type": "number", "minimum": 0}),
    _param("alert", "has an open alert of this rule", {"type": "string"}),
    _param("q", "account name contains", {"type": "string"}),
    _param("sort", "column, with a leading - for descending",
           {"type": "string", "enum": [*SORTS, *(f"-{s}" for s in SORTS)]}),
    _param("limit", "rows per page", {"type": "integer", "enum": list(PAGE_SIZES)}),
    _param("cursor", "the next_cursor of the previous page", {"type": "string"}),
]


LIST_SCOPE = _param("scope", "whose accounts (default: a CSM's own, a manager's team, else all)",
                    {"type": "string", "enum": list(SCOPES)})


def _list(ref: str) -> dict[str, Any]:
    return {"type": "object", "required": ["data", "next_cursor"], "properties": {
        "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
        "next_cursor": {"type": ["string", "null"]}}}


def _ok(schema: dict[str, Any], summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": parameters, "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
        "400": ERROR, "401": ERROR, "404": ERROR}}}


def openapi_document() -> dict[str, Any]:
    status = _param("status", "default open", {"type": "string", "enum": ["open", "resolved", "done", "all"]})
    account = _param("account_id", "only this account", {"type": "integer"})
    return {
        "openapi": "3.1.0",
        "info": {"title": "Canary API", "version": "1",
                 "description": "Account health, alerts, tasks and portfolio lists of one workspace. Authenticate with "
                                "`Authorization: Bearer <token>` (`canary token create --user EMAIL`)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/accounts": _ok(_list("AccountRow"), "Accounts of the portfolio, filtered and sorted", ACCOUNT_FILTERS),
            "/accounts/{account_id}": _ok({"$ref": "#/components/schemas/Account"},
                                          "One account with health, measures, reasons and 180-day history",
                                          [_param("account_id", "Canary account id", {"type": "integer"}, "path")]),
            "/lookup/{system}/{external_id}": _ok(
                {"$ref": "#/components/schemas/Account"}, "The account a vendor record is linked to",
                [_param("system", "where the record lives",
                        {"type": "string", "enum": [*VENDOR_NAMES, "product"]}, "path"),
                 _param("external_id", "the record's id in that system", {"type": "string"}, "path")]),
            "/alerts": _ok(_list("Alert"), "Early-warning alerts, newest first", [status, account, *PAGING]),
            "/tasks": _ok(_list("Task"), "CSM tasks, newest first", [status, account, *PAGING]),
            "/tasks/{task_id}": {"patch": {
                "summary": "Reassign a task",
                "description": "Give the task to an active user of the workspace by e-mail, or with `null` to "
                               "the account's owner (nobody in Canary; the CRMs put it on the account's owner "
                               "there). Admins and managers may reassign any open task, a CSM the tasks given to "
                               "them and the unassigned tasks of their own accounts, a viewer none. The change "
                               "reaches Salesforce and HubSpot at the next push and is in the audit log.",
                "parameters": [_param("task_id", "Canary task id", {"type": "integer"}, "path")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["assignee"], "additionalProperties": False,
                    "properties": {"assignee": {"type": ["string", "null"], "format": "email",
                                                "description": "the new assignee's e-mail, or null"}}}}}},
                "responses": {
                    "200": {"description": "The task as it is now",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}}},
                    "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR}}},
            "/users": _ok(_list("User"), "Users of the workspace", PAGING),
            "/lists": _ok(_list("List"), "Portfolio lists with their accounts, ARR and this week's movement in "
                                         "the caller's scope", [LIST_SCOPE, *PAGING]),
            "/lists/{list_id}/accounts": _ok(
                _list("ListAccount"), "A list's accounts in the caller's scope, newest entries first, with why",
                [_param("list_id", "list id", {"type": "integer"}, "path"), LIST_SCOPE, *PAGING]),
            **play_paths(),
            **campaign_paths(),
            **report_paths(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "The request cannot be served; `error` says why",
                                    "content": {"application/json": {"schema": {
                                        "type": "object", "required": ["error"],
                                        "properties": {"error": {"type": "string"}}}}}}},
            "schemas": _schemas(),
        },
    }


def campaign_paths() -> dict[str, Any]:
    """The campaigns routes (`api.campaigns`)."""
    from store.models import CAMPAIGN_STATUSES

    return {
        "/campaigns": _ok(_list("Campaign"), "The workspace's campaigns: status, category, steps, people enrolled",
                          [_param("status", "only campaigns in this status",
                                  {"type": "string", "enum": list(CAMPAIGN_STATUSES)}), *PAGING]),
        "/campaigns/{campaign_id}/stats": _ok(
            {"$ref": "#/components/schemas/CampaignStats"},
            "A campaign's dashboard: sent, delivered, bounced, opened, clicked, unsubscribed and goal reached, per "
            "campaign, per step and cumulative per day",
            [_param("campaign_id", "campaign id", {"type": "integer"}, "path"),
             _param("as_of", "the last day counted (default today, UTC)", {"type": "string", "format": "date"})]),
    }


def play_paths() -> dict[str, Any]:
    """The plays routes (`api.plays`)."""
    play_id = _param("play_id", "play id", {"type": "integer"}, "path")
    preview = {"post": {
        "summary": "A dry run of the play as of a day: who would start or be skipped and why, and the tasks its "
                   "first steps would create. Writes nothing.",
        "parameters": [play_id],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False, "properties": {
                "as_of": {"type": "string", "format": "date",
                          "description": "default: the workspace's latest scored day"},
                "definition": {"type": "object", "description": "a play to try instead of the draft (else the "
                                                               "published version)"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "description": "rows (default 50)"}}}}}},
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PlayPreview"}}}}, "400": ERROR, "401": ERROR, "404": ERROR}}}
    return {
        "/plays": _ok(_list("Play"), "The workspace's plays: state, version, trigger, runs by state",
                      [_param("state", "only plays in this state", {"type": "string", "enum": list(PLAY_STATES)}),
                       *PAGING]),
        "/plays/{play_id}": _ok({"$ref": "#/components/schemas/PlayDetail"},
                                "One play with its published definition, its draft and its versions", [play_id]),
        "/plays/{play_id}/runs": _ok(
            _list("PlayRun"), "The play's runs, newest first, with their logs",
            [play_id, _param("state", "only runs in this state", {"type": "string", "enum": list(RUN_STATES)}),
             _param("account", "only this account's runs", {"type": "integer"}), *PAGING]),
        "/plays/{play_id}/preview": preview,
        "/accounts/{account_id}/plays": _ok(
            _list("PlayRun"), "The account's runs of every play, newest first, with their logs",
            [_param("account_id", "Canary account id", {"type": "integer"}, "path"), *PAGING]),
    }


def report_paths() -> dict[str, Any]:
    """The report routes (`api.reports`); figures and definitions as docs/analytics.md gives them."""
    as_of = _param("as_of", "the report's day (default: the workspace's latest scored day)",
                   {"type": "string", "format": "date"})
    cohort = [_param("segment", "only accounts of this segment", {"type": "string"}),
              _param("tier", "only accounts of this tier", {"type": "string"}),
              _param("csm_user_id", "only this CSM's accounts", {"type": "integer"}), as_of]
    call = {"put": {
        "summary": "Record or replace a CSM's forecast call on a renewal at its 6- or 3-month checkpoint",
        "description": "Admins and managers on any account, a CSM on their own accounts; 'monitor' is refused at "
                       "3 months. Audited.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["account_id", "renewal_date", "checkpoint", "call"],
            "additionalProperties": False, "properties": {
                "account_id": {"type": "integer"}, "renewal_date": {"type": "string", "format": "date"},
                "checkpoint": {"type": "integer", "enum": [6, 3]},
                "call": {"type": "string", "enum": ["commit", "likely", "monitor", "at_risk", "lost"]},
                "expected_arr": {"type": ["number", "null"]}, "note": {"type": ["string", "null"]}}}}}},
        "responses": {"200": {"description": "The call as recorded", "content": {"application/json": {
            "schema": {"type": "object"}}}}, "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR}}}
    return {
        "/reports/revenue": _ok(
            {"$ref": "#/components/schemas/RevenueReport"},
            "GRR (always with NRR), logo and revenue churn, expansion, contraction, quick ratio, renewal rates and "
            "CLTV per calendar month, with each figure's definition",
            [_param("months", "complete months before the report's month (1-36, default 12)", {"type": "integer"}),
             _param("unit", "arr (default) or mrr", {"type": "string", "enum": ["arr", "mrr"]}),
             _param("period", "month (default), quarter or year", {"type": "string",
                                                                  "enum": ["month", "quarter", "year"]}), *cohort]),
        "/reports/revenue/accounts": _ok(
            {"type": "object"}, "The accounts behind one month's figure, with opening and closing ARR",
            [_param("month", "a period: 2026-10, 2026-Q3 or 2026", {"type": "string"}),
             _param("figure", "e.g. churn, expansion, grr", {"type": "string"}), *cohort]),
        "/reports/renewals": _ok(
            {"type": "object"}, "Renewals due in each of the next 12 months by health band: expected renewal ARR, "
            "revenue at risk, the p(band) used and their source, overdue renewals and the CSMs' calls",
            [*cohort, _param("per_month", "renewals listed per month, most ARR at risk first (1-1000, default 25)",
                             {"type": "integer"})]),
        "/reports/renewals/calls": call,
        "/reports/health": _ok(
            {"type": "object"}, "Latest health band distribution (count and ARR) and score histogram, overall and "
            "per group; the weekly trend of 12 ISO weeks per group; p10-p90 of each measure per segment; accounts "
            "poor in 3 of the last 4 weeks",
            [_param("by", "the trend's groups: segment (default), tier, stage or csm",
                    {"type": "string", "enum": ["segment", "tier", "stage", "csm"]}), *cohort]),
        "/reports/adoption": _ok(
            {"type": "object"}, "Key-feature adoption over 30 days by tier class (premium/standard) and start "
            "cohort, per month; upgrade-ready accounts with reasons; users who need training; champions and "
            "sponsors with their last activity",
            [_param("months", "calendar months of the monthly figures (1-24, default 6)", {"type": "integer"}),
             *cohort]),
        "/reports/users": _ok(
            {"type": "object"}, "The most engaged users of the last 30 days (active days + key-feature days)",
            [_param("account", "only this account's users", {"type": "integer"}),
             _param("limit", "users listed (1-500, default 50)", {"type": "integer"}), *cohort]),
        "/reports/team": _ok(
            {"type": "object"}, "Per CSM and per team: accounts, ARR, health change, tasks on time / late / "
            "overdue, untouched accounts, alerts acted on and hours to act. A CSM sees their own row, a manager "
            "their team, admins and viewers everyone",
            [_param("days", "the window: 7, 30 (default), 90 or 365", {"type": "integer", "enum": [7, 30, 90, 365]}),
             as_of]),
    }


def _play_schemas() -> dict[str, Any]:
    text, integer, day = {"type": ["string", "null"]}, {"type": "integer"}, {"type": ["string", "null"]}
    strings = {"type": "array", "items": {"type": "string"}}
    trigger = {"type": ["object", "null"], "description": "The trigger of the published version (else the draft)",
               "properties": {"text": {"type": "string"}, "data": {"type": "object"}}}
    play = {"type": "object", "properties": {
        "id": integer, "name": {"type": "string"}, "key": text, "template": text,
        "state": {"type": "string", "enum": list(PLAY_STATES)}, "version": {"type": ["integer", "null"]},
        "has_draft": {"type": "boolean"}, "published_on": day, "evaluated_on": day, "trigger": trigger,
        "runs": {"type": "object", "description": "runs by state",
                 "properties": {state: integer for state in RUN_STATES}}}}
    return {
        "Play": play,
        "PlayDetail": {"allOf": [{"$ref": "#/components/schemas/Play"}, {"type": "object", "properties": {
            "published": {"type": ["object", "null"]}, "draft": {"type": ["object", "null"]},
            "versions": {"type": "array", "items": {"type": "object"}}}}]},
        "PlayRun": {"type": "object", "properties": {
            "id": integer, "play_id": integer, "play": {"type": "string", "description": "per account only"},
            "version": integer, "account_id": integer, "account": text, "reason": {"type": "string"},
            "episode": {"type": "string"}, "state": {"type": "string", "enum": list(RUN_STATES)},
            "why": {"type": "string"}, "trigger_reasons": strings, "step": integer, "resume_on": day,
            "started_on": day, "started_by": text, "ended_at": day,
            "log": {"type": "array", "items": {"type": "object", "properties": {
                "at": {"type": "string"}, "day": {"type": "string"}, "state": {"type": "string"},
                "message": {"type": "string"}}}}}},
        "PlayPreview": {"type": "object", "properties": {
            "play_id": integer, "as_of": {"type": "string"}, "starts": integer, "skips": integer, "tasks": integer,
            "problem": text, "trigger": trigger,
            "rows": {"type": "array", "items": {"type": "object", "properties": {
                "account_id": integer, "account": {"type": "string"},
                "action": {"type": "string", "enum": ["start", "skip"]}, "why": {"type": "string"},
                "reasons": strings, "later": strings,
                "tasks": {"type": "array", "items": {"type": "object", "properties": {
                    "subject": {"type": "string"}, "assignee": text, "due": {"type": "string"},
                    "priority": {"type": "string"}, "why": {"type": "string"}}}}}}}}},
    }


def _schemas() -> dict[str, Any]:
    num, text, integer = {"type": ["number", "null"]}, {"type": ["string", "null"]}, {"type": "integer"}
    band = {"type": ["string", "null"], "enum": ["good", "average", "poor", None]}
    figures = {k: integer for k in ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed")}
    return {
        "Campaign": {"type": "object", "properties": {
            "id": integer, "name": {"type": "string"}, "status": {"type": "string"}, "category": {"type": "string"},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "position": integer, "kind": {"type": "string"}}}},
            "audience": {"type": "object"}, "goal": {"type": ["object", "null"]}, "conversion_days": integer,
            "enrolled": integer, "activated_at": text, "finished_at": text}},
        "CampaignStats": {"type": "object", "required": ["campaign", "steps", "days"], "properties": {
            "campaign": {"type": "object", "properties": {
                "id": integer, "name": {"type": "string"}, "status": {"type": "string"}, **figures,
                "enrolled": integer, "active": integer, "goal_reached": integer, "converted": integer,
                "conversion_rate": num}},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "position": integer, "kind": {"type": "string"}, **figures}}},
            "days": {"type": "array", "items": {"type": "object", "properties": {
                "day": {"type": "string", "format": "date"}, **figures, "goal_reached": integer}}}}},
        "AccountRow": {"type": "object", "properties": {
            "id": integer, "name": {"type": "string"}, "score": num, "band": band, "trend_per_day": num,
            "renewal_date": text, "arr": num, "open_alerts": integer, "csm": text,
            "csm_user_id": {"type": ["integer", "null"]}, "owner_email": text, "segment": text, "tier": text,
            "lifecycle_stage": text}},
        "Account": {"type": "object", "properties": {
            "id": integer, "name": {"type": "string"}, "as_of": text,
            "health": {"type": "object", "properties": {"score": num, "band": band, "trend_per_day": num,
                                                        "reasons": {"type": "array", "items": {"type": "string"}}}},
            "measures": {"type": "array", "items": {"type": "object"}},
            "history": {"type": "array", "items": {"type": "object", "properties": {"day": text, "score": num}}},
            "band_changes": {"type": "array", "items": {"type": "object"}},
            "links": {"type": "array", "items": {"type": "object"}},
            "open_alerts": {"type": "array", "items": {"type": "object"}}}},
        "List": {"type": "object", "properties": {
            "id": integer, "name": {"type": "string"}, "description": {"type": "string"}, "key": text,
            "version": integer, "evaluated_on": text, "accounts": integer, "arr": {"type": "number"},
            "entered_7d": integer, "left_7d": integer, "followed": {"type": "boolean"}}},
        "ListAccount": {"allOf": [{"$ref": "#/components/schemas/AccountRow"}, {"type": "object", "properties": {
            "entered_on": {"type": "string"}, "reasons": {"type": "array", "items": {"type": "string"}}}}]},
        "Alert": {"type": "object", "properties": {
            "id": integer, "account_id": integer, "rule": {"type": "string"}, "severity": {"type": "string"},
            "title": {"type": "string"}, "status": {"type": "string"}, "raised_at": text, "resolved_at": text}},
        "Task": {"type": "object", "properties": {
            "id": integer, "account_id": integer, "title": {"type": "string"}, "owner_email": text,
            "assignee_user_id": {"type": ["integer", "null"]}, "priority": {"type": "string"},
            "source": {"type": "string"}, "due_date": text, "status": {"type": "string"}, "completed_at": text,
            "crm": {"type": "array", "description": "The task's copies in the CRMs",
                    "items": {"type": "object", "properties": {
                        "system": {"type": "string"}, "external_id": text, "state": {"type": "string"}}}}}},
        "User": {"type": "object", "properties": {
            "id": integer, "email": {"type": "string"}, "name": text, "role": {"type": "string"},
            "manager_id": {"type": ["integer", "null"]}, "active": {"type": "boolean"}}},
        **_play_schemas(),
        "RevenueReport": {"type": "object", "properties": {
            "as_of": {"type": "string", "format": "date"}, "unit": {"type": "string", "enum": ["arr", "mrr"]},
            "gross_margin": {"type": "number"}, "recurring_now": {"type": "number"},
            "definitions": {"type": "object", "additionalProperties": {"type": "string"}},
            "months": {"type": "array", "items": {"type": "object", "properties": {
                "month": {"type": "string"}, "complete": {"type": "boolean"},
                **{k: {"type": ["number", "null"]} for k in (
                    "start", "churn", "contraction", "expansion", "new", "reactivation", "closing", "grr", "nrr",
                    "logo_churn", "revenue_churn", "expansion_rate", "contraction_rate", "net_mrr_churn",
                    "quick_ratio", "arr_renewal_rate", "customer_renewal_rate", "undecided", "cltv")}}}}}},
    }
