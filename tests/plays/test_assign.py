"""Assignment rules over plain facts: owner, role, round-robin, fewest work, named user, fallbacks."""

from __future__ import annotations

from plays import AccountPeople, Assign, Assigner, Person


def team() -> dict[int, Person]:
    people = [Person(1, "boss@x.io", "manager"), Person(2, "ana@x.io", "csm", manager_id=1),
              Person(3, "ben@x.io", "csm", manager_id=1), Person(4, "cy@x.io", "csm", manager_id=1),
              Person(5, "gone@x.io", "csm", active=False, manager_id=1), Person(6, "solo@x.io", "csm"),
              Person(7, "boss2@x.io", "manager", active=False)]
    return {p.id: p for p in people}


def test_the_owner_and_when_the_owner_left_the_fallbacks() -> None:
    assigner = Assigner(team())
    assert assigner.choose(Assign(), AccountPeople(10, 2, "ana@x.io")).user_id == 2
    gone = AccountPeople(11, 5, "gone@x.io")
    to_manager = assigner.choose(Assign(fallback="owner_manager"), gone)
    assert (to_manager.user_id, to_manager.owner_email) == (1, "boss@x.io")
    assert "fell back to the CSM's manager" in to_manager.why
    nobody = assigner.choose(Assign(fallback="unassigned"), gone)
    assert (nobody.user_id, nobody.owner_email) == (None, "gone@x.io")
    rr = assigner.choose(Assign(fallback="round_robin"), gone)  # round-robin in the departed CSM's team
    assert rr.user_id in (2, 3, 4) and "fell back to round-robin" in rr.why


def test_roles_on_the_account() -> None:
    assigner = Assigner(team())
    account = AccountPeople(10, 3, "ben@x.io", {"crm_owner": "ANA@x.io", "support_owner": "cy@x.io"})
    assert assigner.choose(Assign(to="role", role="crm_owner"), account).user_id == 2
    assert assigner.choose(Assign(to="role", role="support_owner"), account).user_id == 4
    assert assigner.choose(Assign(to="role", role="owner_manager"), account).user_id == 1
    missing = assigner.choose(Assign(to="role", role="support_owner", fallback="unassigned"),
                              AccountPeople(12, 3, "ben@x.io"))
    assert missing.user_id is None and "support owner (none) is no active user" in missing.why
    assert assigner.choose(Assign(to="user", user="cy@x.io"), account).user_id == 4


def test_round_robin_rotates_within_the_team_and_remembers_where_it_stopped() -> None:
    assigner = Assigner(team())
    account = AccountPeople(10, 2, "ana@x.io")
    picks = [assigner.choose(Assign(to="round_robin"), account).user_id for _ in range(5)]
    assert picks == [2, 3, 4, 2, 3]  # the inactive CSM 5 is never picked; the manager is not in the team
    later = Assigner(team(), round_robin=dict(assigner.round_robin))
    assert later.choose(Assign(to="round_robin"), account).user_id == 4
    everyone = [assigner.choose(Assign(to="round_robin", team="all_csms"), account).user_id for _ in range(4)]
    assert everyone == [2, 3, 4, 6]
    named = Assigner(team()).choose(Assign(to="round_robin", team="manager:boss@x.io"), account)
    assert named.user_id == 2


def test_fewest_open_tasks_counts_what_it_assigns_and_fewest_accounts_reads_the_books() -> None:
    assigner = Assigner(team(), open_tasks={2: 5, 3: 1, 4: 2}, accounts={2: 1, 3: 9, 4: 9})
    account = AccountPeople(10, 2, "ana@x.io")
    picks = [assigner.choose(Assign(to="fewest_open_tasks"), account).user_id for _ in range(4)]
    assert picks == [3, 3, 4, 3]  # ben 1→2; ben 2 = cy 2: the lower id; cy 2→3; ben 3 = cy 3: ben
    assert assigner.open_tasks == {2: 5, 3: 4, 4: 3}
    assert assigner.choose(Assign(to="fewest_accounts"), account).user_id == 2
