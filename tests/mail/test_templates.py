"""Templates: variables rendered and escaped, the plain-text part, the sandbox, and errors with their line."""

from __future__ import annotations

import pytest

from mail.templates import MailTemplate, TemplateError, check_template, html_to_text, render

VARIABLES = {"account": {"name": "Acme & Sons", "arr": 120000}, "user": {"name": "<Ann>", "email": "ann@acme.test"},
             "health": {"band": "poor", "score": 41, "reasons": ["Weekly active users fell from 12 to 3"]},
             "workspace": {"name": "Alpha"}}


def test_variables_from_account_user_and_health_are_rendered_and_escaped_in_html_only() -> None:
    template = MailTemplate(
        subject="{{ account.name }}: health {{ health.band }}",
        html=("<p>Hi {{ user.name }},</p>\n<p>{{ account.name }} scores {{ health.score }}.</p>\n"
              "<ul>{% for r in health.reasons %}<li>{{ r }}</li>{% endfor %}</ul>"))
    out = render(template, VARIABLES)
    assert out.subject == "Acme & Sons: health poor"
    assert "<p>Hi &lt;Ann&gt;,</p>" in out.html and "Acme &amp; Sons scores 41." in out.html
    assert out.text == "Hi <Ann>,\n\nAcme & Sons scores 41.\n\n- Weekly active users fell from 12 to 3\n"


def test_a_given_text_part_is_used_as_written() -> None:
    out = render(MailTemplate("S", "<p>x</p>", text="Dear {{ user.name }}\n"), VARIABLES)
    assert out.text == "Dear <Ann>\n"


def test_html_to_text_keeps_links_and_drops_style() -> None:
    html = ('<html><head><style>p{color:red}</style></head><body><h1>Title</h1><p>Go <a href="https://x.test/a">'
            "here</a>&nbsp;now<br>next line</p><script>alert(1)</script></body></html>")
    assert html_to_text(html) == "Title\n\nGo here (https://x.test/a) now\nnext line\n"


def test_a_missing_value_prints_nothing_but_an_unknown_attribute_is_an_error_with_its_line() -> None:
    assert render(MailTemplate("S", "<p>[{{ user.title }}]</p>"), {"user": {"title": None}}).html == "<p>[]</p>"
    with pytest.raises(TemplateError) as caught:
        render(MailTemplate("S", "<p>one</p>\n<p>{{ account.nmae }}</p>"), VARIABLES)
    assert (caught.value.part, caught.value.line) == ("html", 2)
    assert "has no attribute 'nmae'" in str(caught.value) and str(caught.value).startswith("html line 2: ")


def test_an_unknown_variable_and_a_syntax_error_name_part_and_line() -> None:
    with pytest.raises(TemplateError, match=r"^subject line 1: unknown variable 'acount'"):
        check_template(MailTemplate("{{ acount.name }}", "<p></p>"))
    with pytest.raises(TemplateError) as caught:
        render(MailTemplate("S", "<p>a</p>\n<p>b</p>\n{% if health.band %}<p>c</p>"), VARIABLES)
    assert (caught.value.part, caught.value.line) == ("html", 3)
    assert "endif" in caught.value.problem


@pytest.mark.parametrize("source", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ user.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ account.update({'name': 'x'}) }}",
    "{{ health.reasons.append('x') }}",
])
def test_the_sandbox_refuses_internals_and_mutation(source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(MailTemplate("S", "<p>ok</p>\n" + source), VARIABLES)
    assert caught.value.line == 2 and caught.value.part == "html"
    assert VARIABLES["account"]["name"] == "Acme & Sons" and len(VARIABLES["health"]["reasons"]) == 1


def test_an_empty_subject_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"^subject: renders empty"):
        render(MailTemplate("{{ user.title }}", "<p></p>"), {"user": {"title": None}})


def test_the_mime_message_reads_back_with_the_standard_parser_non_ascii_included() -> None:
    import datetime as dt
    from email import message_from_bytes
    from email.policy import default

    from mail.message import Unsubscribe, build_message
    from mail.templates import Rendered

    long_line = "Zoë's café — " + "x" * 200 + " = 100 % sûr.\n.starts with a dot\n"
    rendered = Rendered("Santé de Zoë & Co: ☂", "<p>Zoë</p>", long_line)
    raw = build_message(rendered, to="zoe@cafe.test", sender="cs@alpha.example", message_id="<abc@alpha.example>",
                        date=dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC),
                        unsubscribe=Unsubscribe("https://c.example/u/T", "cs@alpha.example?subject=unsubscribe%20T"))
    assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = message_from_bytes(raw, policy=default)
    assert message["Subject"] == "Santé de Zoë & Co: ☂" and message["Date"] == "Mon, 30 Nov 2026 10:00:00 +0000"
    assert message["List-Unsubscribe"] == ("<https://c.example/u/T>, "
                                           "<mailto:cs@alpha.example?subject=unsubscribe%20T>")
    text, html = list(message.iter_parts())
    assert text.get_content().replace("\r\n", "\n") == long_line and html.get_content().strip() == "<p>Zoë</p>"
    assert message.defects == [] and text.defects == [] and html.defects == []
