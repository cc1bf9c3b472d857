"""Layers point one way: what each layer may import, and no vendor branches outside the vendor packages."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDORS = ("salesforce", "zendesk", "hubspot")


def _python_files(*parts: str) -> list[Path]:
    files: list[Path] = []
    for part in parts:
        path = ROOT / part
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    assert files, f"no Python files under {parts}"
    return files


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _forbidden_imports(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {module}" for path in files for module in sorted(_imported_modules(path))
            if module.split(".")[0] in forbidden]


PURE_MAIL = ("integrations", "store", "sync", "widgets", "collector", "cli", "app", "extensions", "sandbox", "flask",
             "sqlalchemy", "console", "api", "requests", "smtplib", "socket", "jobs", "time", "secrets", "random")
"""The mail package's pure modules (templates, MIME): no I/O, no clock, no randomness — callers pass them in."""

PURE_INAPP = (*PURE_MAIL, "inapp", "mail", "pywebpush", "py_vapid", "http", "os")
"""The in-app rules (identity hashes, origins, message fields, push endpoints): no I/O, no clock, no randomness."""


@pytest.mark.parametrize(("layer", "forbidden"), [
    ("integrations", ("store", "sync", "widgets", "collector", "cli", "app", "extensions", "sandbox", "flask",
                      "sqlalchemy")),
    ("store", ("integrations", "sync", "widgets", "collector", "cli", "app", "extensions", "sandbox", "flask")),
    ("scoring", ("integrations", "store", "sync", "widgets", "collector", "cli", "app", "sandbox", "flask")),
    ("worklists", ("integrations", "store", "sync", "widgets", "collector", "cli", "app", "extensions", "sandbox",
                   "flask", "sqlalchemy", "console", "api")),
    ("plays", ("integrations", "store", "sync", "widgets", "collector", "cli", "app", "extensions", "sandbox",
               "flask", "sqlalchemy", "console", "api", "requests", "smtplib")),
    ("analytics", ("integrations", "store", "sync", "widgets", "collector", "cli", "app", "extensions", "sandbox",
                   "flask", "sqlalchemy", "console", "api", "requests", "smtplib", "jobs", "webhooks")),
    ("mail", ("integrations", "sync", "widgets", "collector", "cli", "app", "sandbox", "console", "api", "jobs",
              "webhooks", "scoring", "worklists", "analytics")),
    ("campaigns", ("integrations", "sync", "widgets", "collector", "cli", "sandbox", "console", "api", "jobs",
                   "webhooks", "scoring", "analytics")),
    ("campaigns/definition.py", PURE_MAIL),
    ("campaigns/timing.py", PURE_MAIL),
    ("mail/templates.py", PURE_MAIL),
    ("mail/message.py", PURE_MAIL),
    ("inapp", ("integrations", "sync", "widgets", "cli", "app", "sandbox", "console", "api", "jobs", "webhooks",
               "scoring", "worklists", "analytics", "plays", "mail")),
    ("inapp/rules.py", PURE_INAPP),
    ("notify", ("integrations", "sync", "widgets", "collector", "cli", "app", "sandbox", "console", "api", "jobs",
                "webhooks", "flask", "extensions")),
    ("notify/rules.py", (*PURE_MAIL, "requests", "mail")),
    ("console", ("sandbox",)),
    ("api", ("sandbox", "console.views")),
])
def test_a_layer_imports_nothing_above_it(layer: str, forbidden: tuple[str, ...]) -> None:
    assert _forbidden_imports(_python_files(layer), forbidden) == []


def test_the_import_rule_sees_imports(tmp_path: Path) -> None:
    """The checker itself: a file that imports the store (plainly, from-style, or inside a function) is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("import store.db\nfrom flask import Flask\n\ndef f():\n    from sandbox import server\n")
    assert _imported_modules(bad) == {"store.db", "flask", "sandbox"}


_NAMES = "|".join(VENDORS)
VENDOR_BRANCH = re.compile(rf"""(==|!=)\s*["']({_NAMES})["']|\bin\s*[(\[{{]\s*["']({_NAMES})["']""")


@pytest.mark.parametrize("line", ['if system == "zendesk":', "x = vendor != 'salesforce'",
                                  'if name in ("hubspot", "zendesk"):'])
def test_the_branch_rule_sees_branches(line: str) -> None:
    assert VENDOR_BRANCH.search(line)


def test_no_vendor_branches_outside_the_vendor_packages() -> None:
    files = _python_files("app.py", "extensions.py", "cli", "sync", "widgets", "store", "collector",
                          "integrations", "console", "api")
    files = [f for f in files if not any(f.is_relative_to(ROOT / "integrations" / v) for v in VENDORS)]
    branches = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for path in files
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if VENDOR_BRANCH.search(line)]
    assert branches == []


def test_importing_the_app_loads_no_sandbox_module() -> None:
    code = ("import sys, app\n"
            "app.create_app({'TESTING': True, 'DATABASE_URL': 'sqlite://', 'SECRET_KEY': 'x' * 32})\n"
            "loaded = sorted(m for m in sys.modules if m == 'sandbox' or m.startswith('sandbox.'))\n"
            "assert 'app' in sys.modules and 'integrations.registry' in sys.modules\n"
            "print(','.join(loaded) or 'none')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


def test_the_sandbox_verb_is_still_there() -> None:
    from click.testing import CliRunner

    import app

    result = CliRunner().invoke(app.cli, ["sandbox", "--help"])
    assert result.exit_code == 0 and "serve" in result.output


def test_no_integration_code_touches_the_process_environment() -> None:
    writes = re.compile(r"os\.environ\s*(\[[^]]*\]\s*=|\.(pop|update|setdefault|clear)\b)|os\.(putenv|unsetenv)\b")
    touched = [f"{path.relative_to(ROOT)}:{n}" for path in _python_files("integrations")
               for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if writes.search(line)]
    assert touched == []
