from __future__ import annotations

import pytest

from sync.normalise import normalise_domain, normalise_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("http://acme.co.uk:8080", "acme.co.uk"),
        ("WWW.ACME.COM.", "acme.com"),
        ("dana@acme.com", "acme.com"),
        ("dana@gmail.com", None),
        ("localhost", None),
        ("", None),
        (None, None),
        ("  ", None),
    ],
)
def test_normalise_domain(raw: str | None, expected: str | None) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme Corp", "acme"),
        ("ACME Corporation", "acme"),
        ("Acme, Inc.", "acme"),
        ("The Acme Group", "acme"),
        ("Acme Holdings", "acme holdings"),  # a holding company is another legal entity
        ("Société Générale SA", "societe generale"),
        ("Smith & Sons Ltd", "smith and sons"),
        ("Far Sync L.L.C.", "far sync"),
        ("Openwind Labs  GmbH & Co. KG", "openwind labs"),
        ("Quantum Hill, LLC ", "quantum hill"),
        ("U.S. Steel", "us steel"),
        ("Inc", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_name(raw: str | None, expected: str | None) -> None:
    assert normalise_name(raw) == expected
