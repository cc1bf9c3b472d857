"""SOQL subset: tokenizer, parser and compiled filters/ordering, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.schema import standard_objects

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)

ROWS: list[dict[str, Any]] = [
    {"Id": "001000000000001AAA", "Name": "acme", "NumberOfEmployees": 50, "Industry": "Software",
     "SystemModstamp": "2026-03-15T08:00:00.000+0000", "ParentId": None, "Website": "acme.com"},
    {"Id": "001000000000002AAA", "Name": "Beta Corp", "NumberOfEmployees": 5, "Industry": None,
     "SystemModstamp": "2026-03-01T00:00:00.000+0000", "ParentId": "001000000000001AAA", "Website": None},
    {"Id": "001000000000003AAA", "Name": "Acme EU", "NumberOfEmployees": None, "Industry": "Retail",
     "SystemModstamp": "2026-03-15T08:00:00.000+0000", "ParentId": "001000000000001AAA",
     "Website": "www.acme.eu"},
    {"Id": "001000000000004AAA", "Name": "Zed", "NumberOfEmployees": 500, "Industry": "software",
     "SystemModstamp": "2025-12-31T23:59:59.000+0000", "ParentId": None, "Website": "zed.io"},
]  # fmt: skip


def run(source: str) -> list[str]:
    compiled = soql.compile_query(soql.parse(source), standard_objects(), NOW)
    return [r["Id"][-4] for r in compiled.run(ROWS)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'ACME'", ["1"]),
        ("Name != 'acme'", ["2", "3", "4"]),
        ("NumberOfEmployees > 5", ["1", "4"]),
        ("NumberOfEmployees >= 5", ["1", "2", "4"]),
        ("NumberOfEmployees < 50", ["2"]),
        ("NumberOfEmployees <= 50.0", ["1", "2"]),
        ("NumberOfEmployees = null", ["3"]),
        ("Industry != NULL AND Industry = 'Software'", ["1", "4"]),
        ("Industry IN ('retail', 'Nope')", ["3"]),
        ("Industry NOT IN ('Retail')", ["1", "2", "4"]),
        ("ParentId = '001000000000001AAA'", ["2", "3"]),
        ("ParentId = '001000000000001'", ["2", "3"]),
        ("Name LIKE 'acme%'", ["1", "3"]),
        ("Website LIKE '%.io'", ["4"]),
        ("Name = 'Zed' OR NumberOfEmployees < 10", ["2", "4"]),
        ("(Name = 'Zed' OR Name = 'acme') AND NumberOfEmployees > 100", ["4"]),
        ("NOT Name = 'Zed'", ["1", "2", "3"]),
        ("SystemModstamp >= 2026-03-15T08:00:00Z", ["1", "3"]),
        ("SystemModstamp > 2026-03-15T08:00:00.000+0000", []),
        ("SystemModstamp >= 2026-03-15T09:00:00+01:00", ["1", "3"]),
        ("SystemModstamp < 2026-01-01T00:00:00Z", ["4"]),
        ("SystemModstamp = TODAY", ["1", "3"]),
        ("SystemModstamp < TODAY", ["2", "4"]),
        ("SystemModstamp = LAST_N_DAYS:14", ["1", "2", "3"]),
        ("SystemModstamp > YESTERDAY", ["1", "3"]),
    ],
)
def test_where_filters(where: str, expected: list[str]) -> None:
    assert run(f"SELECT Id FROM Account WHERE {where}") == expected


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("ORDER BY Name", ["1", "3", "2", "4"]),
        ("ORDER BY Name DESC", ["4", "2", "3", "1"]),
        ("ORDER BY NumberOfEmployees", ["3", "2", "1", "4"]),
        ("ORDER BY NumberOfEmployees DESC", ["4", "1", "2", "3"]),
        ("ORDER BY NumberOfEmployees ASC NULLS LAST", ["2", "1", "4", "3"]),
        ("ORDER BY SystemModstamp, Id", ["4", "2", "1", "3"]),
        ("ORDER BY SystemModstamp DESC, Id DESC", ["3", "1", "2", "4"]),
        ("ORDER BY SystemModstamp DESC, Id", ["1", "3", "2", "4"]),
        ("ORDER BY SystemModstamp LIMIT 2", ["4", "2"]),
        ("ORDER BY SystemModstamp LIMIT 2 OFFSET 1", ["2", "1"]),
        ("LIMIT 0", []),
    ],
)
def test_order_by_and_limit(tail: str, expected: list[str]) -> None:
    assert run(f"select id from account {tail}") == expected


def test_select_list_resolves_case_and_count() -> None:
    compiled = soql.compile_query(
        soql.parse("SELECT id, NAME, zendesk_organization_id__c FROM account"), standard_objects(), NOW
    )
    assert compiled.fields == ("Id", "Name", "Zendesk_Organization_Id__c")
    assert compiled.sobject.name == "Account"
    counted = soql.compile_query(
        soql.parse("SELECT COUNT() FROM Account WHERE NumberOfEmployees > 1"), standard_objects(), NOW
    )
    assert counted.count and len(counted.run(ROWS)) == 3


@pytest.mark.parametrize(
    ("source", "code", "fragment"),
    [
        ("invalid", "MALFORMED_QUERY", "unexpected token: invalid"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT Id, FROM Account", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Account WHERE Name = 'x", "MALFORMED_QUERY", "<EOF>"),
        ("SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY", "-1"),
        ("SELECT Id FROM Account WHERE Name ~ 'x'", "MALFORMED_QUERY", "'~'"),
        ("SELECT Id FROM Account ORDER Name", "MALFORMED_QUERY", "'Name'"),
        ("SELECT Id FROM Account WHERE SystemModstamp > 2026-13-01T00:00:00Z", "MALFORMED_QUERY", "2026-13"),
        ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
        ("SELECT Id FROM Account WHERE Canary_Health_Score__c > 1", "INVALID_FIELD", "Canary_Health_Score__c"),
        ("SELECT Id FROM Account ORDER BY Bogus", "INVALID_FIELD", "Bogus"),
        ("SELECT Owner.Email FROM Account", "INVALID_FIELD", "Didn't understand relationship 'Owner'"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE", "sObject type 'Widget__c' is not supported"),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_QUERY_FILTER_OPERATOR", "must be of type string"),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type dateTime",
        ),
        ("SELECT Id FROM Account WHERE NumberOfEmployees = '5'", "INVALID_QUERY_FILTER_OPERATOR", "type int"),
        ("SELECT Id FROM Account WHERE Name > TODAY", "INVALID_QUERY_FILTER_OPERATOR", "'Name'"),
    ],
)
def test_errors_carry_salesforce_codes(source: str, code: str, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        soql.compile_query(soql.parse(source), standard_objects(), NOW)
    body = caught.value.body()
    assert caught.value.status == 400
    assert body[0]["errorCode"] == code
    assert fragment in body[0]["message"]
    assert set(body[0]) == {"message", "errorCode"}


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("a >= 1", ["IDENT", "OP", "NUMBER", "EOF"]),
        ("x = 'it\\'s'", ["IDENT", "OP", "STRING", "EOF"]),
        ("d > 2026-01-01T00:00:00.000+0000", ["IDENT", "OP", "DATETIME", "EOF"]),
        ("d = 2026-01-01", ["IDENT", "OP", "DATE", "EOF"]),
        ("n IN (1,-2.5)", ["IDENT", "KEYWORD", "LPAREN", "NUMBER", "COMMA", "NUMBER", "RPAREN", "EOF"]),
        ("d = LAST_N_DAYS:7", ["IDENT", "OP", "IDENT", "COLON", "NUMBER", "EOF"]),
    ],
)
def test_tokenizer(text: str, kinds: list[str]) -> None:
    assert [t.kind for t in soql.tokenize(text)] == kinds


def test_string_escapes_and_datetime_normalisation() -> None:
    tokens = soql.tokenize("'a\\'b\\\\c' 2026-01-01T01:30:00+01:30")
    assert tokens[0].value == "a'b\\c"
    assert tokens[1].value == "2026-01-01T00:00:00.000+0000"
