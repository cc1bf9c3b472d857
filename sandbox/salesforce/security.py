"""Field-level security: a custom field made through the Tooling API is invisible to the API user
until a permission set assigned to that user grants ``PermissionsRead`` on it in a
``FieldPermissions`` record (and writable only with ``PermissionsEdit``), as in a real org.

Hidden fields are kept aside; `FieldSecurity.refresh` puts each field into (or takes it out of)
its object's spec from the current ``FieldPermissions`` and ``PermissionSetAssignment`` records,
so describe, SOQL and writes all see exactly the granted fields.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .ids import to_18
from .schema import FieldSpec, ObjectSpec

SECURITY_OBJECTS = ("PermissionSet", "FieldPermissions", "PermissionSetAssignment")


class FieldSecurity:
    """Which Tooling-made custom fields one user may read and edit."""

    def __init__(self, objects: dict[str, ObjectSpec], user_id: str) -> None:
        self._objects = objects
        self._user_id = to_18(user_id)
        self._fields: dict[tuple[str, str], FieldSpec] = {}

    def knows(self, sobject: str, field_name: str) -> bool:
        """Whether the field exists at all, granted or not (for DUPLICATE_DEVELOPER_NAME)."""
        return any(o == sobject and n.lower() == field_name.lower() for o, n in self._fields)

    def add(self, sobject: str, spec: FieldSpec) -> None:
        """A new field, hidden until granted."""
        self._fields[(sobject, spec.name)] = spec

    def refresh(self, store: dict[str, dict[str, dict[str, Any]]]) -> None:
        assigned = {
            to_18(str(r["PermissionSetId"]))
            for r in store["PermissionSetAssignment"].values()
            if to_18(str(r["AssigneeId"])) == self._user_id
        }
        grants: dict[str, tuple[bool, bool]] = {}
        for permission in store["FieldPermissions"].values():
            if to_18(str(permission["ParentId"])) not in assigned:
                continue
            read, edit = grants.get(str(permission["Field"]), (False, False))
            grants[str(permission["Field"])] = (
                read or bool(permission["PermissionsRead"]),
                edit or bool(permission["PermissionsEdit"]),
            )
        for (sobject, name), spec in self._fields.items():
            read, edit = grants.get(f"{sobject}.{name}", (False, False))
            fields = self._objects[sobject].fields
            if read:
                fields[name] = replace(spec, updateable=spec.updateable and edit, createable=spec.createable and edit)
            else:
                fields.pop(name, None)
