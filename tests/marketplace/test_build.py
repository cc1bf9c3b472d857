"""`build_all` and `canary manifests build`: URL rules, artefact layout, determinism and clear failures."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from marketplace import build as build_module
from marketplace import cli as cli_module
from marketplace.build import BuildError, BuildResult, build_all, validate_base_url
from marketplace.check import PLACEHOLDER, check_hubspot
from marketplace.cli import manifests_cli

NS = "{http://soap.sforce.com/2006/04/metadata}"
FIELDS = {"Canary_Health_Band__c", "Canary_Health_Reasons__c", "Canary_Health_Score__c", "Canary_Health_Trend__c",
          "Canary_Scored_At__c"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://canary.example.com", "https://canary.example.com"),
        ("https://canary.example.com/", "https://canary.example.com"),
        ("  https://acme.example.com/canary/ ", "https://acme.example.com/canary"),
        ("https://canary.example.com:8443", "https://canary.example.com:8443"),
        ("http://localhost:5000", "http://localhost:5000"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
    ],
)
def test_valid_base_urls(given: str, expected: str) -> None:
    assert validate_base_url(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "--base-url is empty"),
        ("http://canary.example.com", "must use https"),
        ("ftp://canary.example.com", "must be an absolute https:// URL"),
        ("canary.example.com", "must be an absolute https:// URL"),
        ("https://", "must be an absolute https:// URL"),
        ("https://canary.example.com/?tenant=1", "must not carry a query"),
        ("https://user:pw@canary.example.com", "must not carry a query, a fragment or credentials"),
        ('https://canary.example.com/"><script>', "not allowed in a URL"),
        ("https://canary.example.com/a&b", "not allowed in a URL"),
    ],
)
def test_invalid_base_urls(given: str, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        validate_base_url(given)


def test_zendesk_zip_layout(built: BuildResult) -> None:
    with zipfile.ZipFile(built.zendesk_zip) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        sdk = archive.read("assets/zaf_sdk.min.js")
        iframe = archive.read("assets/iframe.html").decode()
    assert sorted(names) == names
    assert set(names) == {"manifest.json", "translations/en.json", "assets/iframe.html", "assets/logo.png",
                          "assets/logo-small.png", "assets/logo.svg", "assets/zaf_sdk.min.js"}
    assert manifest["signedUrls"] is True
    assert manifest["frameworkVersion"] == "2.0"
    assert set(manifest["location"]["support"]) == {"ticket_sidebar", "user_sidebar", "organization_sidebar"}
    assert {place["url"] for place in manifest["location"]["support"].values()} == {
        "https://canary.example.com/widgets/zendesk/sidebar"}
    assert manifest["domainWhitelist"] == ["canary.example.com"]
    assert {p["name"]: p.get("secure", False) for p in manifest["parameters"]} == {"canary_url": False,
                                                                                  "tenant_key": True}
    assert sdk == built.zaf_sdk.read_bytes()
    assert 'data-canary-url", "https://canary.example.com"' in iframe
    assert built.zendesk_zip.stat().st_size < 100_000


def test_bundled_zaf_sdk_defines_zafclient(built: BuildResult, node: str) -> None:
    probe = (
        "globalThis.window = globalThis; globalThis.document = { location: { search: '', hash: '' } };"
        f"require('vm').runInThisContext(require('fs').readFileSync({json.dumps(str(built.zaf_sdk))}, 'utf8'));"
        "process.stdout.write(typeof ZAFClient + ' ' + typeof ZAFClient.init);"
    )
    result = subprocess.run([node, "-e", probe], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "object function"


def test_salesforce_metadata_package(built: BuildResult) -> None:
    root = built.salesforce_dir
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "connectedApps/Canary.connectedApp",
        "lwc/canaryHealth/canaryHealth.css",
        "lwc/canaryHealth/canaryHealth.html",
        "lwc/canaryHealth/canaryHealth.js",
        "lwc/canaryHealth/canaryHealth.js-meta.xml",
        "objects/Account.object",
        "package.xml",
        "permissionsets/Canary_Health.permissionset",
        "permissionsets/Canary_Health_Sync.permissionset",
    ]
    package = ET.parse(root / "package.xml").getroot()
    members = {t.findtext(f"{NS}name"): [m.text for m in t.findall(f"{NS}members")] for t in package}
    assert members.pop(None) == []  # the <version> element
    assert members == {
        "ConnectedApp": ["Canary"],
        "CustomField": sorted(f"Account.{f}" for f in FIELDS),
        "LightningComponentBundle": ["canaryHealth"],
        "PermissionSet": ["Canary_Health", "Canary_Health_Sync"],
    }
    assert package.findtext(f"{NS}version") == "62.0"
    account = ET.parse(root / "objects/Account.object").getroot()
    fields = {f.findtext(f"{NS}fullName"): f for f in account.findall(f"{NS}fields")}
    assert set(fields) == FIELDS
    assert all(len(f.findtext(f"{NS}inlineHelpText") or "") > 40 for f in fields.values())
    canvas = ET.parse(root / "connectedApps/Canary.connectedApp").getroot().find(f"{NS}canvasConfig")
    assert canvas is not None
    assert canvas.findtext(f"{NS}canvasUrl") == "https://canary.example.com/widgets/salesforce/canvas"
    assert canvas.findtext(f"{NS}accessMethod") == "Post"
    read_only = ET.parse(root / "permissionsets/Canary_Health.permissionset").getroot()
    assert {p.findtext(f"{NS}editable") for p in read_only.findall(f"{NS}fieldPermissions")} == {"false"}


def test_hubspot_project(built: BuildResult) -> None:
    root = built.hubspot_dir
    app = json.loads((root / "src/app/app-hsmeta.json").read_text())
    assert app["config"]["permittedUrls"]["fetch"] == ["https://canary.example.com"]
    assert app["config"]["auth"]["redirectUrls"] == ["https://canary.example.com/install/hubspot/callback"]
    card = json.loads((root / "src/app/cards/canary-health-card-hsmeta.json").read_text())
    assert card["config"]["location"] == "crm.record.tab"
    assert card["config"]["objectTypes"] == ["companies"]
    assert json.loads((root / "hsproject.json").read_text())["platformVersion"] == "2025.2"


def test_no_placeholder_survives(built: BuildResult) -> None:
    with zipfile.ZipFile(built.zendesk_zip) as archive:
        texts = [archive.read(n).decode() for n in archive.namelist() if not n.endswith(".png")]
    texts += [p.read_text() for d in (built.salesforce_dir, built.hubspot_dir) for p in d.rglob("*") if p.is_file()]
    assert [t for t in texts if PLACEHOLDER.search(t)] == []


def test_builds_are_deterministic(built: BuildResult, tmp_path: Path) -> None:
    again = build_all(built.base_url, tmp_path, zaf_sdk=built.zaf_sdk)
    assert again.zendesk_zip.read_bytes() == built.zendesk_zip.read_bytes()
    assert (again.salesforce_dir / "package.xml").read_bytes() == (built.salesforce_dir / "package.xml").read_bytes()


def test_loopback_build_passes_with_a_hubspot_warning(built: BuildResult, tmp_path: Path) -> None:
    result = build_all("http://127.0.0.1:5000", tmp_path, zaf_sdk=built.zaf_sdk)
    assert result.ok
    assert [(p.app, p.severity) for p in result.problems] == [("hubspot", "warning")] * 2
    assert [p.message.split(" entry ")[0] for p in result.problems] == ["permittedUrls.fetch", "permittedUrls.iframe"]
    assert all("hs project dev" in p.message for p in result.problems)
    assert {p.severity for p in check_hubspot(result.hubspot_dir)} == {"warning"}


def test_npm_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module.shutil, "which", lambda name: None)
    with pytest.raises(BuildError, match=r"npm is not available: install Node\.js 20"):
        build_all("https://canary.example.com", tmp_path / "dist", npm_cache=tmp_path / "npm")


def test_failing_npm_reports_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "npm"
    fake.write_text("#!/bin/sh\necho 'npm ERR! 404 Not Found - zendesk_app_framework_sdk' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(build_module.shutil, "which", lambda name: str(fake))
    with pytest.raises(BuildError, match=r"(?s)npm ci in .* failed \(exit 1\):\nnpm ERR! 404"):
        build_all("https://canary.example.com", tmp_path / "dist", npm_cache=tmp_path / "cache")


def test_racing_installs_run_npm_ci_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pytest workers asking for the same cache at once: one installs, the other waits and reuses it."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "npm"
    # A slow install that, like the real `npm ci`, starts by removing node_modules.
    fake.write_text(f"#!/bin/sh\necho ci >> {log}\nrm -rf node_modules\nsleep 0.4\n"
                    "mkdir -p node_modules/pkg && echo ok > node_modules/pkg/index.js\n")
    fake.chmod(0o755)
    monkeypatch.setattr(build_module.shutil, "which", lambda name: str(fake))
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: build_module.ensure_npm_packages(build_module.ZAF_TOOLING, cache), range(3)))
    assert results == [cache, cache, cache]
    assert log.read_text().splitlines() == ["ci"]
    assert (cache / "node_modules" / "pkg" / "index.js").read_text() == "ok\n"
    # A changed lockfile installs again, once.
    tooling = tmp_path / "tooling"
    shutil.copytree(build_module.ZAF_TOOLING, tooling)
    (tooling / "package-lock.json").write_text((tooling / "package-lock.json").read_text() + "\n")
    build_module.ensure_npm_packages(tooling, cache)
    build_module.ensure_npm_packages(tooling, cache)
    assert log.read_text().splitlines() == ["ci", "ci"]


def test_cli_build_prints_artefacts_and_verdict(built: BuildResult, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "bundle_zaf_sdk", lambda dest, npm_cache: built.zaf_sdk)
    result = CliRunner().invoke(manifests_cli, ["build", "--base-url", "https://canary.example.com",
                                                "--out", str(tmp_path / "dist")])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path}/dist/zendesk/canary-zendesk.zip" in result.output
    assert f"{tmp_path}/dist/salesforce" in result.output
    assert f"{tmp_path}/dist/hubspot" in result.output
    assert result.output.rstrip().endswith("Manifest check passed.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "http://canary.example.com"], "must use https"),
        (["--base-url", "https://canary.example.com?x=1"], "must not carry a query"),
        ([], "Missing option '--base-url'"),
    ],
)
def test_cli_build_refuses_bad_input_without_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(manifests_cli, ["build", "--out", str(tmp_path), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_build_fails_when_the_check_fails(built: BuildResult, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bad_sources = tmp_path / "manifests"
    shutil.copytree(build_module.MANIFESTS, bad_sources, ignore=shutil.ignore_patterns("tooling"))
    (bad_sources / "zendesk/assets/logo.png").write_bytes(b"not a png")
    monkeypatch.setattr(cli_module, "build_all", functools.partial(build_all, sources=bad_sources,
                                                                   zaf_sdk=built.zaf_sdk))
    result = CliRunner().invoke(manifests_cli, ["build", "--base-url", "https://canary.example.com",
                                                "--out", str(tmp_path / "dist")])
    assert result.exit_code == 1
    assert "zendesk: assets/logo.png: is not a PNG file" in result.output
    assert "manifest check failed: 1 problem(s) above" in result.output
