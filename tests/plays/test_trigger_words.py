"""`Trigger.summary`: every template's trigger in words (the API's ``trigger.text``), and the edge cases."""

from __future__ import annotations

from plays import load_definition, templates


def test_every_template_trigger_in_words() -> None:
    words = {t.name: t.trigger.summary() for t in templates()}
    assert words == {
        "Onboarding stalled": "When an account enters list “onboarding-stalled” (accounts already in count when "
                              "first published)",
        "30-day check-in": "30 days after the onboarding start, for 7 days",
        "Quarterly business review": "14 days before each 3, 6, 9 and 12-month subscription anniversary, every "
                                     "year, for 14 days",
        "Champion gone quiet": "When an account enters list “champion-quiet” (accounts already in count when first "
                               "published)",
        "Usage drop get-well plan": "When alert usage_drop is raised on an account (alerts already open count when "
                                    "first published)",
        "Users need training": "When alert training_needed is raised on an account (alerts already open count when "
                               "first published)",
        "Upsell-ready": "When an account enters list “upgrade-ready” (accounts already in count when first "
                        "published)",
        "Renewal 120-day path": "120 days before the renewal date, for 30 days",
        "NPS detractor follow-up": "When alert nps_detractor is raised on an account (alerts already open count "
                                   "when first published)",
    }


def _trigger(**trigger: object) -> str:
    return load_definition({"name": "T", "trigger": trigger,
                            "steps": [{"type": "task", "subject": "Call {account}"}]}).trigger.summary()


def test_words_for_other_shapes() -> None:
    assert _trigger(type="list_left", list="renewal-30") == "When an account leaves list “renewal-30”"
    assert _trigger(type="list_entered", list="7", include_current=False) == "When an account enters list “7”"
    assert _trigger(type="date", field="subscription.start_date", offset_days=0, window_days=1) == (
        "On the subscription start, for 1 day")
    assert _trigger(type="date", field="subscription.renewal_date", offset_days=-1) == (
        "1 day before the renewal date, for 7 days")
    assert _trigger(type="anniversary", months=[12], every_year=False, offset_days=0) == (
        "On each 12-month subscription anniversary, for 7 days")
    assert _trigger(type="manual") == "Started by hand"
