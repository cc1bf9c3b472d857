"""The manifest checker: the built apps pass, and each documented rule catches a deliberate breakage."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from marketplace.build import BuildResult, write_zip
from marketplace.check import Problem, check_hubspot, check_salesforce, check_zendesk, errors, png_size

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def png(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00\xff" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def messages(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def test_built_apps_pass(built: BuildResult) -> None:
    assert built.problems == []
    assert check_zendesk(built.zendesk_zip) == []
    assert check_salesforce(built.salesforce_dir) == []
    assert check_hubspot(built.hubspot_dir) == []


@pytest.mark.parametrize("app", ["zendesk", "salesforce", "hubspot"])
def test_sources_pass_in_source_mode_but_not_as_artefacts(app: str) -> None:
    check = {"zendesk": check_zendesk, "salesforce": check_salesforce, "hubspot": check_hubspot}[app]
    assert check(MANIFESTS / app, source=True) == []
    assert "placeholder not substituted: {{CANARY_BASE_URL}}" in messages(check(MANIFESTS / app))


def test_png_size_reads_the_header() -> None:
    assert png_size(png(320, 320)) == (320, 320)
    assert png_size(png(7, 3)) == (7, 3)
    assert png_size(b"GIF89a" + b"\x00" * 30) is None
    assert png_size((MANIFESTS / "zendesk/assets/logo-small.png").read_bytes()) == (128, 128)


# --- Zendesk ----------------------------------------------------------------------------


def zip_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def edit_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, bytes]], None]:
    def apply(files: dict[str, bytes]) -> None:
        manifest = json.loads(files["manifest.json"])
        change(manifest)
        files["manifest.json"] = json.dumps(manifest).encode()

    return apply


def edit_translations(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, bytes]], None]:
    def apply(files: dict[str, bytes]) -> None:
        data = json.loads(files["translations/en.json"])
        change(data)
        files["translations/en.json"] = json.dumps(data).encode()

    return apply


def nest_in_folder(files: dict[str, bytes]) -> None:
    for name in list(files):
        files[f"canary/{name}"] = files.pop(name)


ZENDESK_BREAKAGES: list[tuple[str, Callable[[dict[str, bytes]], None], str]] = [
    ("zipped-the-folder", nest_in_folder, "manifest.json: must be at the root of the zip (found canary/manifest.json"),
    ("macos-clutter", lambda f: f.update({"__MACOSX/._manifest.json": b"x"}), "operating-system clutter"),
    ("invalid-json", lambda f: f.update({"manifest.json": b'{"name": "Canary",}'}), "invalid JSON"),
    ("no-author", edit_manifest(lambda m: m.pop("author")), "missing required key 'author'"),
    ("framework-1", edit_manifest(lambda m: m.update(frameworkVersion="1.0")), "frameworkVersion must be '2.0'"),
    ("unknown-location", edit_manifest(lambda m: m["location"]["support"].update(ticket_footer={"url": "x"})),
     "location.support.ticket_footer: unknown location"),
    ("plain-http", edit_manifest(lambda m: m["location"]["support"]["ticket_sidebar"].update(
        url="http://canary.example.com/widgets/zendesk/sidebar")), "must use https"),
    ("missing-asset", edit_manifest(lambda m: m["location"]["support"]["user_sidebar"].update(url="assets/gone.html")),
     "assets/gone.html does not exist"),
    ("insecure-key", edit_manifest(lambda m: m["parameters"][1].pop("secure")), "looks like a credential"),
    ("bad-param-type", edit_manifest(lambda m: m["parameters"][0].update(type="dropdown")), "unknown type 'dropdown'"),
    ("whitelist-url", edit_manifest(lambda m: m.update(domainWhitelist=["https://canary.example.com"])),
     "must be a bare domain"),
    ("no-long-description", edit_translations(lambda t: t["app"].pop("long_description")),
     "missing app.long_description"),
    ("no-param-label", edit_translations(lambda t: t["app"]["parameters"].pop("tenant_key")),
     "missing app.parameters.tenant_key.label"),
    ("small-logo", lambda f: f.update({"assets/logo.png": png(128, 128)}), "is 128x128 pixels; must be 320x320"),
    ("no-small-logo", lambda f: f.__delitem__("assets/logo-small.png"), "assets/logo-small.png: missing"),
    ("jpeg-logo", lambda f: f.update({"assets/logo.png": b"\xff\xd8\xff\xe0" + b"0" * 40}), "is not a PNG"),
    ("cdn-sdk", lambda f: f.update({"assets/iframe.html": f["assets/iframe.html"].replace(
        b'src="zaf_sdk.min.js"', b'src="https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"')}),
     "from the network; bundle it"),
    ("no-sdk", lambda f: f.__delitem__("assets/zaf_sdk.min.js"), "script zaf_sdk.min.js is not in the app"),
    ("broken-svg", lambda f: f.update({"assets/logo.svg": b"<svg><g></svg>"}), "XML is not well-formed"),
    ("placeholder-left", lambda f: f.update({"assets/iframe.html": f["assets/iframe.html"] + b"{{CANARY_TENANT}}"}),
     "placeholder not substituted: {{CANARY_TENANT}}"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in ZENDESK_BREAKAGES],
                         ids=[i for i, _, _ in ZENDESK_BREAKAGES])
def test_zendesk_rules(built: BuildResult, tmp_path: Path, change: Callable[[dict[str, bytes]], None],
                       expected: str) -> None:
    files = zip_files(built.zendesk_zip)
    change(files)
    problems = check_zendesk(write_zip(files, tmp_path / "app.zip"))
    assert expected in messages(problems)
    assert errors(problems)


def test_zendesk_zip_size_limit(built: BuildResult, tmp_path: Path) -> None:
    files = zip_files(built.zendesk_zip)
    files["assets/noise.bin"] = os.urandom(2_200_000)  # incompressible
    problems = check_zendesk(write_zip(files, tmp_path / "big.zip"))
    assert re.search(r"zip is \d+ bytes; Zendesk accepts at most 2097152 \(2 MB\)", messages(problems))


def test_zendesk_huge_entry_is_not_unpacked(built: BuildResult, tmp_path: Path) -> None:
    files = zip_files(built.zendesk_zip)
    files["assets/zeros.bin"] = bytes(20 * 1024 * 1024)
    problems = check_zendesk(write_zip(files, tmp_path / "bomb.zip"))
    assert "assets/zeros.bin: unpacks to 20971520 bytes; not read" in messages(problems)


def test_zendesk_not_a_zip(tmp_path: Path) -> None:
    bogus = tmp_path / "app.zip"
    bogus.write_bytes(b"PK not really")
    assert "not a zip file" in messages(check_zendesk(bogus))


def test_zendesk_folder_is_checked_like_the_zip(built: BuildResult, tmp_path: Path) -> None:
    with zipfile.ZipFile(built.zendesk_zip) as archive:
        archive.extractall(tmp_path / "app")
    assert check_zendesk(tmp_path / "app") == []
    (tmp_path / "app/translations/en.json").unlink()
    assert "translations/en.json: missing" in messages(check_zendesk(tmp_path / "app"))


# --- Salesforce -------------------------------------------------------------------------


def replace_in(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    return apply


def regex_in(relative: str, pattern: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / relative
        text, count = re.subn(pattern, new, path.read_text(), flags=re.S)
        assert count, f"{pattern!r} not in {relative}"
        path.write_text(text)

    return apply


SALESFORCE_BREAKAGES: list[tuple[str, Callable[[Path], None], str]] = [
    ("help-text-too-long", replace_in("objects/Account.object", "<inlineHelpText>Canary's",
                                      "<inlineHelpText>" + "x" * 520), "characters; at most 510"),
    ("no-help-text", regex_in("objects/Account.object", r"<inlineHelpText>When Canary computed.*?</inlineHelpText>",
                              ""),
     "Canary_Scored_At__c: missing inlineHelpText"),
    ("wrong-type", replace_in("objects/Account.object", "<type>DateTime</type>", "<type>Date</type>"),
     "Canary_Scored_At__c is Date, expected DateTime"),
    ("precision", replace_in("objects/Account.object", "<precision>5</precision>", "<precision>19</precision>"),
     "precision from 1 to 18"),
    ("band-values", replace_in("objects/Account.object", "<fullName>average</fullName>", "<fullName>ok</fullName>"),
     "band values must be good, average, poor"),
    ("long-text-length", replace_in("objects/Account.object", "<length>4000</length>", "<length>100</length>"),
     "LongTextArea needs a length from 256 to 131072"),
    ("not-well-formed", replace_in("permissionsets/Canary_Health.permissionset", "</label>", "</lable>"),
     "XML is not well-formed"),
    ("wrong-root", regex_in("connectedApps/Canary.connectedApp", r"(</?)ConnectedApp\b", r"\1App"),
     "root element is {http://soap.sforce.com/2006/04/metadata}App"),
    ("perm-unknown-field", replace_in("permissionsets/Canary_Health.permissionset", "Account.Canary_Health_Band__c",
                                      "Account.Canary_Mood__c"), "grants access to Account.Canary_Mood__c"),
    ("editable-not-readable", replace_in("permissionsets/Canary_Health_Sync.permissionset",
                                         "<readable>true</readable>", "<readable>false</readable>"),
     "an editable field must also be readable"),
    ("canvas-http", replace_in("connectedApps/Canary.connectedApp", "https://canary.example.com/widgets",
                               "http://canary.example.com/widgets"), "canvasUrl 'http://canary.example.com"),
    ("canvas-location", replace_in("connectedApps/Canary.connectedApp", "<locations>Aura</locations>",
                                   "<locations>Sidebar</locations>"), "unknown location 'Sidebar'"),
    ("lwc-target", replace_in("lwc/canaryHealth/canaryHealth.js-meta.xml", "<target>lightning__RecordPage</target>",
                              "<target>lightning__AccountPage</target>"), "unknown target 'lightning__AccountPage'"),
    ("lwc-not-exposed", replace_in("lwc/canaryHealth/canaryHealth.js-meta.xml", "<isExposed>true",
                                   "<isExposed>false"), "isExposed must be true"),
    ("lwc-imports-unknown-field", replace_in("lwc/canaryHealth/canaryHealth.js", "Account.Canary_Scored_At__c",
                                             "Account.Canary_Scored_On__c"), "imports Account.Canary_Scored_On__c"),
    ("lwc-no-template", lambda root: (root / "lwc/canaryHealth/canaryHealth.html").unlink(),
     "bundle has no canaryHealth.html"),
    ("package-missing-member", replace_in("package.xml", "<members>Canary_Health_Sync</members>",
                                          "<members>Canary_Admin</members>"),
     "lists PermissionSet Canary_Admin but permissionsets/Canary_Admin.permissionset is missing"),
    ("package-unlisted-field", replace_in("package.xml", "<members>Account.Canary_Health_Trend__c</members>", ""),
     "does not list CustomField Account.Canary_Health_Trend__c"),
    ("placeholder-left", replace_in("connectedApps/Canary.connectedApp", "https://canary.example.com/install",
                                    "{{CANARY_BASE_URL}}/install"), "placeholder not substituted"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in SALESFORCE_BREAKAGES],
                         ids=[i for i, _, _ in SALESFORCE_BREAKAGES])
def test_salesforce_rules(built: BuildResult, copy_of: Callable[[Path], Path], change: Callable[[Path], None],
                          expected: str) -> None:
    root = copy_of(built.salesforce_dir)
    change(root)
    assert expected in messages(check_salesforce(root))


def test_salesforce_source_field_file_name_must_match(tmp_path: Path) -> None:
    shutil.copytree(MANIFESTS / "salesforce", tmp_path / "sf")
    fields = tmp_path / "sf/force-app/main/default/objects/Account/fields"
    (fields / "Canary_Health_Score__c.field-meta.xml").rename(fields / "Canary_Score__c.field-meta.xml")
    assert "fullName does not match the file name" in messages(check_salesforce(tmp_path / "sf", source=True))


# --- HubSpot ----------------------------------------------------------------------------


def edit_json(relative: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / relative
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return apply


def add_file(relative: str, text: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)

    return apply


APP = "src/app/app-hsmeta.json"
CARD = "src/app/cards/canary-health-card-hsmeta.json"
JSX = "src/app/cards/CanaryHealthCard.jsx"
HUBSPOT_BREAKAGES: list[tuple[str, Callable[[Path], None], str]] = [
    ("old-platform", edit_json("hsproject.json", lambda d: d.update(platformVersion="2023.2")),
     "platformVersion '2023.2'"),
    ("card-type", edit_json(CARD, lambda d: d.update(type="crm-card")), "type must be 'card'"),
    ("card-location", edit_json(CARD, lambda d: d["config"].update(location="crm.record.bottom")),
     "config.location 'crm.record.bottom'"),
    ("object-type", edit_json(CARD, lambda d: d["config"].update(objectTypes=["COMPANY"])),
     "objectTypes entry 'COMPANY'"),
    ("entrypoint-missing", edit_json(CARD, lambda d: d["config"].update(entrypoint="/app/cards/Gone.jsx")),
     "entrypoint src/app/cards/Gone.jsx does not exist"),
    ("no-oauth-scope", edit_json(APP, lambda d: d["config"]["auth"]["requiredScopes"].remove("oauth")),
     "requiredScopes must include 'oauth'"),
    ("no-company-write", edit_json(APP, lambda d: d["config"]["auth"]["requiredScopes"].remove(
        "crm.objects.companies.write")), "crm.objects.companies.read and .write"),
    ("http-redirect", edit_json(APP, lambda d: d["config"]["auth"].update(redirectUrls=["http://canary.example.com/cb"])),
     "redirect URL 'http://canary.example.com/cb' must be https"),
    ("no-permitted-fetch", edit_json(APP, lambda d: d["config"].update(permittedUrls={"fetch": []})),
     "permittedUrls.fetch must list Canary's URL"),
    ("fetch-not-permitted", edit_json(APP, lambda d: d["config"].update(
        permittedUrls={"fetch": ["https://other.example.com"]})), "https://canary.example.com is not under"),
    ("no-permitted-iframe", edit_json(APP, lambda d: d["config"]["permittedUrls"].update(iframe=[])),
     "opens an iframe modal, but permittedUrls.iframe lists no URL"),
    ("http-iframe", edit_json(APP, lambda d: d["config"]["permittedUrls"].update(iframe=["http://canary.example.com"])),
     "permittedUrls.iframe entry 'http://canary.example.com' must be https"),
    ("plain-fetch", replace_in(JSX, "await hubspot.fetch(", "await fetch("), "calls fetch() directly"),
    ("no-extend", replace_in(JSX, "hubspot.extend(", "hubspot.render("), "never calls hubspot.extend()"),
    ("no-react-dep", edit_json("src/app/cards/package.json", lambda d: d["dependencies"].pop("react")),
     "missing dependency react"),
    ("legacy-card", add_file("src/app/crm-card.json", "{}"), "legacy CRM cards were sunset"),
    ("misplaced-hsmeta", add_file("src/app/cards/extra/x-hsmeta.json", "{}"),
     "must sit at the root of their feature folder"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in HUBSPOT_BREAKAGES],
                         ids=[i for i, _, _ in HUBSPOT_BREAKAGES])
def test_hubspot_rules(built: BuildResult, copy_of: Callable[[Path], Path], change: Callable[[Path], None],
                       expected: str) -> None:
    root = copy_of(built.hubspot_dir)
    change(root)
    assert expected in messages(check_hubspot(root))


def test_missing_paths_are_problems_not_exceptions(tmp_path: Path) -> None:
    assert "no such file or folder" in messages(check_zendesk(tmp_path / "nope.zip"))
    assert "no such folder" in messages(check_salesforce(tmp_path / "nope"))
    assert "no such folder" in messages(check_hubspot(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    assert "neither sfdx-project.json" in messages(check_salesforce(tmp_path / "empty"))
    assert "hsproject.json: missing" in messages(check_hubspot(tmp_path / "empty"))
