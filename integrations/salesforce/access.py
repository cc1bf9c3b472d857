"""Field-level security: the permission set that lets the integration user read and write Canary's fields.

A field created through the Tooling API has no field permissions: until a permission set (or
profile) grants them, the API user cannot query or write it (``INVALID_FIELD``), and creating it
again answers ``DUPLICATE_DEVELOPER_NAME``. `FieldAccess.grant` makes sure that the permission
set `PERMISSION_SET` (the one Canary's package installs, ``Canary_Health_Sync``) exists, is
assigned to the connected user (``PermissionSetAssignment``) and grants ``PermissionsRead`` and
``PermissionsEdit`` on each field (``FieldPermissions``). Every step reads before it writes, so
a grant already in place costs reads only.

When Salesforce refuses one of those writes (the integration user may not manage permission
sets), the grant stops with a `FatalError` that says which permission set to assign to which
user (`FieldAccess.instruction`); a push that meets ``INVALID_FIELD`` stops with the same words.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from integrations.errors import FatalError, VendorRefused
from integrations.salesforce.soql import ids_query, soql_string
from integrations.salesforce.wire import AccessRefused, SalesforceConnection, error_text, identity_user_id
from integrations.values import text_or_none

log = logging.getLogger("canary.salesforce")

PERMISSION_SET = "Canary_Health_Sync"
"""The package's permission set for the integration user (manifests/salesforce permissionsets)."""
PERMISSION_SET_LABEL = "Canary Health Sync"
SOBJECT = "Account"


class FieldAccess:
    """Grants the connected user read and edit on Canary's Account fields through `PERMISSION_SET`."""

    def __init__(self, connection: SalesforceConnection) -> None:
        self.connection = connection
        self._user_id: str | None = None

    def grant(self, field_names: Sequence[str], sobject: str = SOBJECT) -> None:
        """Permission set, its assignment to the connected user, Read and Edit on each field of ``sobject``."""
        user_id = self.user_id()
        try:
            permission_set = self._permission_set()
            self._assign(permission_set, user_id)
            self._field_permissions(permission_set, field_names, sobject)
        except (VendorRefused, AccessRefused) as exc:
            raise FatalError(self.instruction(field_names, f"granting access was refused: {exc}", sobject)) from None

    def read_user_id(self) -> str | None:
        """The connected user's id, from the ``identity`` URL of the Resources by Version answer (one call,
        then remembered); None when the answer names no identity."""
        if self._user_id is None:
            sf = self.connection.sf
            resources = self.connection.call("read identity", lambda: sf.restful(""))
            self._user_id = identity_user_id(resources)
        return self._user_id

    def known_user_id(self) -> str | None:
        """The connected user's id when `read_user_id` asked already (no call)."""
        return self._user_id

    def user_id(self) -> str:
        """The connected user's id (`read_user_id`), or `FatalError` saying what to do by hand."""
        user_id = self.read_user_id()
        if user_id is None:
            raise FatalError("salesforce: the API answered without the connected user's identity URL; "
                             f"assign the permission set {PERMISSION_SET} to the integration user by hand")
        return user_id

    def instruction(self, field_names: Sequence[str], cause: str, sobject: str = SOBJECT) -> str:
        """What an admin must do, naming the permission set, the user and the fields."""
        try:
            user = self._describe_user(self.user_id())
        except FatalError:  # the words must come through even when the look-up does not
            user = self._user_id or "the user Canary connects as"
        fields = ", ".join(f"{sobject}.{name}" for name in field_names) or f"Canary's {sobject} fields"
        return (f"salesforce: Canary's integration user cannot read and write its fields ({cause}). "
                f"Ask a Salesforce admin to assign the permission set {PERMISSION_SET} "
                f"(\"{PERMISSION_SET_LABEL}\", from Canary's package; Read and Edit on {fields}) "
                f"to the user {user}, then run the push again.")

    def _describe_user(self, user_id: str) -> str:
        sf = self.connection.sf
        query = ids_query("User", ("Id", "Username"), [user_id])
        try:
            answer = self.connection.call("query User", partial(sf.query, query))
        except (VendorRefused, AccessRefused):
            return user_id
        rows = answer.get("records") or []
        username = text_or_none(rows[0].get("Username")) if rows else None
        return f"{username} ({user_id})" if username else user_id

    def _permission_set(self) -> str:
        sf = self.connection.sf
        query = f"SELECT Id FROM PermissionSet WHERE Name = {soql_string(PERMISSION_SET)}"  # noqa: S608
        answer = self.connection.call("query PermissionSet", partial(sf.query, query))
        rows = answer.get("records") or []
        if rows:
            return str(rows[0]["Id"])
        body = {"Name": PERMISSION_SET, "Label": PERMISSION_SET_LABEL,
                "Description": "Lets the Canary integration user write the Canary health fields on Accounts."}
        created = self.connection.call("create PermissionSet", lambda: sf.restful(
            "sobjects/PermissionSet/", method="POST", json=body))
        new_id = created.get("id") if isinstance(created, Mapping) else None
        if not new_id:
            raise VendorRefused(f"salesforce create PermissionSet: no id in the answer ({created!r:.200})", status=None)
        log.info("salesforce: created the permission set %s", PERMISSION_SET)
        return str(new_id)

    def _assign(self, permission_set: str, user_id: str) -> None:
        sf = self.connection.sf
        query = (f"SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = {soql_string(permission_set)} "  # noqa: S608
                 f"AND AssigneeId = {soql_string(user_id)}")
        if self.connection.call("query PermissionSetAssignment", partial(sf.query, query)).get("records"):
            return
        body = {"PermissionSetId": permission_set, "AssigneeId": user_id}
        self.connection.call("assign PermissionSet", lambda: sf.restful(
            "sobjects/PermissionSetAssignment/", method="POST", json=body))
        log.info("salesforce: assigned the permission set %s to %s", PERMISSION_SET, user_id)

    def _field_permissions(self, permission_set: str, field_names: Sequence[str], sobject: str = SOBJECT) -> None:
        """Create the missing ``FieldPermissions`` and turn on Read and Edit where one lacks them."""
        sf = self.connection.sf
        query = ("SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "  # noqa: S608
                 f"WHERE ParentId = {soql_string(permission_set)} AND SobjectType = {soql_string(sobject)}")
        rows = self.connection.call("query FieldPermissions", partial(sf.query, query)).get("records") or []
        existing = {str(r.get("Field")): r for r in rows}
        wanted = [f"{sobject}.{name}" for name in field_names]
        grant = {"PermissionsRead": True, "PermissionsEdit": True}
        missing = [{"attributes": {"type": "FieldPermissions"}, "ParentId": permission_set, "SobjectType": sobject,
                    "Field": field, **grant} for field in wanted if field not in existing]
        lacking = [{"attributes": {"type": "FieldPermissions"}, "id": str(existing[field]["Id"]), **grant}
                   for field in wanted if field in existing
                   and not (existing[field].get("PermissionsRead") and existing[field].get("PermissionsEdit"))]
        for method, records in (("POST", missing), ("PATCH", lacking)):
            if records:
                self._write_permissions(method, records)

    def _write_permissions(self, method: str, records: list[dict[str, Any]]) -> None:
        sf = self.connection.sf
        body = {"allOrNone": False, "records": records}
        results = self.connection.call("grant FieldPermissions", lambda: sf.restful(
            "composite/sobjects", method=method, json=body))
        refused = [r for r in results or [] if not (isinstance(r, Mapping) and r.get("success") is True)]
        if refused or len(results or []) != len(records):
            reasons = "; ".join(error_text(r.get("errors") or []) for r in refused if isinstance(r, Mapping))
            raise VendorRefused(f"salesforce FieldPermissions: {reasons or 'no result for every record'}",
                                status=200, code="FIELD_PERMISSIONS")
