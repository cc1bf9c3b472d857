"""E-mail templates: subject, HTML and an optional plain-text part, rendered in a sandbox (pure: no I/O, no clock).

Templates are Jinja in jinja2's `ImmutableSandboxedEnvironment`: no attribute starting with ``_`` (so no
``''.__class__`` walk to Python's internals), no call of unsafe methods, no mutation of the values
passed in. Undefined names and attributes are errors (`StrictUndefined`), never an empty string in a
customer's inbox. HTML is autoescaped; subject and text are not (they are not HTML). Every error is a
`TemplateError` naming the part and line.

The variables are plain mappings: ``account``, ``user``, ``health``, ``workspace`` (see `VARIABLES`) and
``unsubscribe_url`` (filled by the outbox for campaign e-mail), and ``message`` (``subject``, ``body``: text
written elsewhere, e.g. a play step's, passed as a value so it is never parsed as a template).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

VARIABLES = ("account", "user", "health", "workspace", "unsubscribe_url", "message")
"""The names a template may use: each a mapping (see `mail.context`) but ``unsubscribe_url``, a string."""
MAX_TEMPLATE_CHARS = 200_000
MAX_SUBJECT_CHARS = 300


class TemplateError(ValueError):
    """A template cannot be used: its part (subject, html, text), line and what is wrong, in words."""

    def __init__(self, part: str, line: int | None, problem: str) -> None:
        self.part, self.line, self.problem = part, line, problem
        where = f"{part} line {line}" if line else part
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class MailTemplate:
    subject: str
    html: str
    text: str | None = None
    """None: the plain-text part is made from the HTML (`html_to_text`)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def _blank_none(value: Any) -> Any:
    """A known variable without a value (a contact with no name) prints nothing, never "None"."""
    return "" if value is None else value


_HTML_ENV = ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True,
                                          finalize=_blank_none)
_TEXT_ENV = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True,
                                          finalize=_blank_none)


def _env(part: str) -> ImmutableSandboxedEnvironment:
    return _HTML_ENV if part == "html" else _TEXT_ENV


def check_template(template: MailTemplate) -> None:
    """Parse every part; refuse syntax errors and names outside `VARIABLES` (with the part and line)."""
    for part, source in (("subject", template.subject), ("html", template.html), ("text", template.text)):
        if source is not None:
            _check_part(part, source)


@lru_cache(maxsize=256)
def _check_part(part: str, source: str) -> None:
    """Checked once per distinct source (a campaign renders one template for thousands of people)."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(part, None, f"longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        tree = _env(part).parse(source, name=part)
    except TemplateSyntaxError as exc:
        raise TemplateError(part, exc.lineno, exc.message or "syntax error") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - set(VARIABLES))
    if unknown:
        raise TemplateError(part, _first_line(source, unknown[0]), f"unknown variable {unknown[0]!r} "
                            f"(known: {', '.join(VARIABLES)})")


def _first_line(source: str, name: str) -> int | None:
    found = re.search(rf"\b{re.escape(name)}\b", source)
    return source.count("\n", 0, found.start()) + 1 if found else None


def _template_line(part: str) -> int | None:
    """The template line of the error being handled: Jinja puts the template's own frames in the traceback."""
    tb = sys.exc_info()[2]
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == part:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@lru_cache(maxsize=256)
def _compiled(part: str, source: str) -> Template:
    """The part compiled once (a campaign renders one template for thousands of people); its file name is
    the part's, so the template's frames in a traceback say which part failed."""
    env = _env(part)
    code = env.compile(source, name=part, filename=part)
    return env.template_class.from_code(env, code, env.make_globals(None))


def _render_part(part: str, source: str, variables: Mapping[str, Any]) -> str:
    try:
        return _compiled(part, source).render(variables)
    except TemplateSyntaxError as exc:
        raise TemplateError(part, exc.lineno, exc.message or "syntax error") from None
    except SecurityError as exc:
        raise TemplateError(part, _template_line(part), f"not allowed in a template: {exc}") from None
    except UndefinedError as exc:
        raise TemplateError(part, _template_line(part), f"unknown variable: {exc.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(part, _template_line(part), f"{type(exc).__name__}: {exc}") from None


def render(template: MailTemplate, variables: Mapping[str, Any]) -> Rendered:
    """The three parts with these variables; raises `TemplateError` (part, line, problem)."""
    check_template(template)
    subject = " ".join(_render_part("subject", template.subject, variables).split())
    if not subject:
        raise TemplateError("subject", None, "renders empty")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise TemplateError("subject", None, f"renders longer than {MAX_SUBJECT_CHARS} characters")
    html = _render_part("html", template.html, variables)
    text = _render_part("text", template.text, variables) if template.text is not None else html_to_text(html)
    return Rendered(subject, html, text)


# --- HTML to plain text -------------------------------------------------------------------------------------

_BLOCKS = frozenset({"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
                     "blockquote", "hr", "section", "article", "header", "footer"})
_SKIP = frozenset({"style", "script", "head", "title"})


class _TextMaker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.out.append("\n\n" if tag not in ("br", "li", "tr") else "\n")
            if tag == "li":
                self.out.append("- ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.out.append("\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and href.startswith(("http://", "https://", "mailto:")):
                self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text part from HTML: paragraphs and line breaks kept, links as ``text (url)``,
    style and script dropped, entities decoded."""
    maker = _TextMaker()
    maker.feed(html)
    maker.close()
    lines = [" ".join(unescape(line).split()) for line in "".join(maker.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
