"""Who a play's task is for (pure): the assignment rules over plain facts about people and accounts.

Rules (`plays.definition.Assign.to`): the account's owner (its CSM); a role on the account (the CRM's
owner, the help desk's owner, the CSM's manager); round-robin within a team; whoever in a team has the
fewest open tasks, or the fewest accounts; a named user. A rule that finds nobody active falls back
(``fallback``): to the CSM's manager, to round-robin in the team, or to nobody (the task then goes to
the account's owner in each CRM). Teams: ``owner_team`` (the CSM's manager's team, else every CSM),
``all_csms``, ``manager:<e-mail>``. Ties go to the lower user id, so the same facts give the same
assignee. `Assigner` counts what it assigns, so a batch spreads work as it goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from plays.definition import Assign


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    email: str
    role: str = "csm"
    active: bool = True
    manager_id: int | None = None


@dataclass(frozen=True, slots=True)
class AccountPeople:
    account_id: int
    csm_user_id: int | None = None
    owner_email: str | None = None
    role_emails: Mapping[str, str] = field(default_factory=dict)
    """``crm_owner`` / ``support_owner`` → the e-mail that system names as the account's owner."""


@dataclass(frozen=True, slots=True)
class Assignment:
    user_id: int | None
    owner_email: str | None
    """The e-mail the task is for: the assignee's, else the account owner's (what the CRM falls back on)."""
    why: str


@dataclass
class Assigner:
    people: Mapping[int, Person]
    open_tasks: dict[int, int] = field(default_factory=dict)
    accounts: dict[int, int] = field(default_factory=dict)
    round_robin: dict[str, int] = field(default_factory=dict)
    """Team key → id of the user who got the last round-robin task (kept on the play between runs)."""

    def __post_init__(self) -> None:
        self._by_email = {p.email.lower(): p for p in self.people.values()}

    # --- people -------------------------------------------------------------------------------------

    def _active(self, user_id: int | None) -> Person | None:
        person = self.people.get(user_id) if user_id is not None else None
        return person if person is not None and person.active else None

    def _by(self, email: str | None) -> Person | None:
        person = self._by_email.get(email.lower()) if email else None
        return person if person is not None and person.active else None

    def team(self, team: str, account: AccountPeople) -> tuple[str, list[Person]]:
        """(team key, its active members by id) — the people a round-robin or fewest-work rule picks from."""
        if team.startswith("manager:"):
            manager = self._by_email.get(team[len("manager:"):])
            members = [p for p in self.people.values() if manager is not None and p.manager_id == manager.id]
            return team, sorted((p for p in members if p.active), key=lambda p: p.id)
        if team == "owner_team":
            csm = self.people.get(account.csm_user_id) if account.csm_user_id is not None else None
            if csm is not None and csm.manager_id is not None:
                members = [p for p in self.people.values() if p.manager_id == csm.manager_id and p.active]
                if members:
                    return f"manager-id:{csm.manager_id}", sorted(members, key=lambda p: p.id)
        members = [p for p in self.people.values() if p.role == "csm" and p.active]
        return "all_csms", sorted(members, key=lambda p: p.id)

    # --- rules --------------------------------------------------------------------------------------

    def _pick(self, rule: str, team: str, account: AccountPeople) -> tuple[Person | None, str]:
        key, members = self.team(team, account)
        if not members:
            return None, f"nobody active in team {key}"
        if rule == "round_robin":
            last = self.round_robin.get(key)
            later = [p for p in members if last is not None and p.id > last]
            chosen = later[0] if later else members[0]
            self.round_robin[key] = chosen.id
            return chosen, f"round-robin in team {key}"
        counts = self.open_tasks if rule == "fewest_open_tasks" else self.accounts
        chosen = min(members, key=lambda p: (counts.get(p.id, 0), p.id))
        what = "open tasks" if rule == "fewest_open_tasks" else "accounts"
        return chosen, f"fewest {what} in team {key} ({counts.get(chosen.id, 0)})"

    def _first_choice(self, rule: Assign, account: AccountPeople) -> tuple[Person | None, str]:
        if rule.to == "owner":
            person = self._active(account.csm_user_id)
            if person is not None:
                return person, "the account's owner"
            return None, f"the account's owner ({account.owner_email or 'none'}) is no active user"
        if rule.to == "role":
            if rule.role == "owner_manager":
                csm = self.people.get(account.csm_user_id) if account.csm_user_id is not None else None
                person = self._active(csm.manager_id) if csm is not None else None
                return person, "the CSM's manager" if person else "the account's CSM has no active manager"
            email = account.role_emails.get(rule.role or "")
            person = self._by(email)
            label = (rule.role or "").replace("_", " ")
            return person, f"the {label}" if person else f"the {label} ({email or 'none'}) is no active user"
        if rule.to == "user":
            person = self._by(rule.user)
            return person, f"named user {rule.user}" if person else f"{rule.user} is no active user"
        return self._pick(rule.to, rule.team, account)

    def choose(self, rule: Assign, account: AccountPeople) -> Assignment:
        person, why = self._first_choice(rule, account)
        if person is None:
            if rule.fallback == "owner_manager":
                csm = self.people.get(account.csm_user_id) if account.csm_user_id is not None else None
                person = self._active(csm.manager_id) if csm is not None else None
                if person is not None:
                    why += "; fell back to the CSM's manager"
            if person is None and rule.fallback in ("owner_manager", "round_robin"):
                person, how = self._pick("round_robin", rule.team, account)
                if person is not None:
                    why += f"; fell back to {how}"
            if person is None:
                return Assignment(None, account.owner_email, why + "; unassigned (the CRM's account owner)")
        self.open_tasks[person.id] = self.open_tasks.get(person.id, 0) + 1
        return Assignment(person.id, person.email, why)


def people_from(rows: Iterable[Person]) -> dict[int, Person]:
    return {p.id: p for p in rows}
