"""A list definition is validated data: every problem is named by its field path, and a valid document
reads back to the same list (as stored per version, and as the console's editor shows it)."""

from __future__ import annotations

import pytest

from worklists import ListError, default_lists, dump_text, load_definition

VALID = {"name": "Poor renewals", "description": "Escalate.", "match": "all", "conditions": [
    {"field": "subscription.renewal_date", "op": "within", "from_days": 0, "to_days": 90},
    {"field": "health.band", "op": "in", "values": ["poor"]}]}


def errors_of(document: object) -> list[str]:
    with pytest.raises(ListError) as caught:
        load_definition(document)  # type: ignore[arg-type]
    assert str(caught.value).startswith("invalid list definition:")
    return caught.value.errors


def test_a_valid_definition_loads_and_reads_back_the_same() -> None:
    definition = load_definition(VALID)
    assert definition.name == "Poor renewals" and definition.match == "all" and len(definition.conditions) == 2
    assert definition.as_dict() == {"version": 1, **VALID}
    assert load_definition(definition.as_dict()) == definition
    assert load_definition(dump_text(definition)) == definition


def test_every_shipped_list_reads_back_from_its_editor_text() -> None:
    lists = default_lists()
    assert len(lists) == 12
    for definition in lists:
        text = dump_text(definition)
        assert "key:" not in text  # the shipped key is the store's, not the editor's
        assert load_definition(text).as_dict() == {k: v for k, v in definition.as_dict().items() if k != "key"}


@pytest.mark.parametrize(("condition", "expected"), [
    ({"field": "account.colour", "op": "in", "values": ["x"]}, "conditions.0.field: unknown field 'account.colour'"),
    ({"field": "health.band", "op": "gte", "value": 3},
     "conditions.0.op: 'gte' does not apply to health.band (a band field); use one of in, not_in"),
    ({"field": "health.band", "op": "in", "values": ["great"]},
     "conditions.0.values.0: must be one of good, average, poor, none"),
    ({"field": "alert.open_rule", "op": "any", "values": ["usage_dropped"]},
     "conditions.0.values.0: unknown alert rule 'usage_dropped'"),
    ({"field": "subscription.renewal_date", "op": "within", "from_days": 10},
     "conditions.0.to_days: required for op within"),
    ({"field": "subscription.renewal_date", "op": "within", "from_days": 10, "to_days": 0},
     "conditions.0.to_days: must not be before from_days"),
    ({"field": "health.score", "op": "between", "min": 70, "max": 40}, "conditions.0.max: must not be below min"),
    ({"field": "health.score", "op": "gte", "value": "high"}, "conditions.0.value: must be a number"),
    ({"field": "health.score", "op": "gte", "value": 40, "days": 3}, "conditions.0.days: not used by op gte"),
    ({"field": "subscription.arr", "op": "rose_by", "by": 5, "days": 7},
     "conditions.0.op: rose_by compares health over time"),
    ({"field": "health.score", "op": "fell_by", "by": 10, "days": 120},
     "conditions.0.days: must be from 1 to 90"),
    ({"field": "health.score", "op": "fell_by", "by": -1, "days": 7},
     "conditions.0.by: Must be greater than 0"),
    ({"field": "subscription.anniversary", "op": "within", "from_days": 0, "to_days": 30},
     "conditions.0.months: required for op within"),
    ({"field": "subscription.renewal_date", "op": "within", "from_days": 0, "to_days": 30, "months": [3]},
     "conditions.0.months: not used by op within"),
    ({"field": "health.measures.", "op": "gte", "value": 1}, "conditions.0.field: name a measure after"),
    ({"field": "subscription.renewal_date", "op": "within", "from_days": 0, "to_days": 99999},
     "conditions.0.to_days: Must be greater than or equal to -3660 and less than or equal to 3660."),
])
def test_a_bad_condition_is_named_by_its_path(condition: dict[str, object], expected: str) -> None:
    found = errors_of({"name": "x", "conditions": [condition]})
    assert any(line.startswith(expected) for line in found), found


def test_every_problem_of_a_document_is_listed() -> None:
    found = errors_of({"name": " ", "match": "most", "version": 2, "colour": "red", "conditions": [
        VALID["conditions"][0], {"field": "health.band", "op": "in"}]})
    assert found == sorted(found) and len(found) == 5
    assert "colour: Unknown field." in found
    assert "conditions.1.values: required for op in" in found
    assert "match: Must be one of: all, any." in found
    assert "version: Must be equal to 1." in found
    assert "name: must hold visible text and no control characters" in found


def test_name_and_conditions_are_required() -> None:
    assert errors_of({"description": "x"}) == ["conditions: Missing data for required field.",
                                                "name: Missing data for required field."]
    assert errors_of({"name": "x", "conditions": []}) == ["conditions: Length must be between 1 and 20."]
    assert errors_of({"name": "\t", "conditions": VALID["conditions"]}) == [
        "name: must hold visible text and no control characters"]


def test_text_that_is_not_a_mapping_or_not_yaml_says_so() -> None:
    assert errors_of("- just\n- a list\n") == ["(document): must be a mapping with name and conditions"]
    found = errors_of("name: x\nconditions: [\n")
    assert len(found) == 1 and found[0].startswith("(document): not valid YAML or JSON (line")
