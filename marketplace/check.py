"""Manifest checker: validate the three marketplace apps against the vendors' documented rules.

Each ``check_*`` function takes an app (a folder, or for Zendesk also the uploadable zip) and
returns a list of `Problem`; an empty list means the app passed. Rules come from the vendors'
pages: Zendesk "Manifest reference", "Create app brand assets" and "Uploading and installing a
private app" (zip <= 2 MB, manifest at the zip root); Salesforce Metadata API reference
(CustomField, PermissionSet, LightningComponentBundle, ConnectedApp); HubSpot developer
platform 2025.2 "App configuration" and "App cards reference".

``source=True`` checks the unbuilt sources in ``manifests/``: ``{{CANARY_...}}`` placeholders
and the files the build adds (the bundled ZAF SDK) are then allowed.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

SF_NS = "http://soap.sforce.com/2006/04/metadata"
PLACEHOLDER = re.compile(r"\{\{\s*[A-Z][A-Z0-9_]*\s*\}\}")
TEXT_SUFFIXES = frozenset({".json", ".html", ".js", ".jsx", ".ts", ".tsx", ".xml", ".css", ".svg", ".md", ".txt",
                           ".object", ".permissionset", ".connectedApp"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# --- Zendesk ----------------------------------------------------------------------------
ZENDESK_ZIP_MAX_BYTES = 2 * 1024 * 1024
ZENDESK_PRODUCTS: Mapping[str, frozenset[str]] = {
    "support": frozenset({"ticket_sidebar", "new_ticket_sidebar", "user_sidebar", "organization_sidebar",
                          "top_bar", "nav_bar", "background", "modal", "ticket_editor", "system_top_bar"}),
    "chat": frozenset({"chat_sidebar", "background", "modal"}),
    "sell": frozenset({"deal_card", "lead_card", "person_card", "company_card", "top_bar", "background",
                       "modal", "note_editor", "call_log_editor", "email_editor"}),
}
ZENDESK_PARAMETER_TYPES = frozenset({"text", "password", "checkbox", "url", "number", "multiline", "hidden",
                                     "oauth"})
ZENDESK_LOGOS = {"assets/logo.png": (320, 320), "assets/logo-small.png": (128, 128)}
ZENDESK_REQUIRED_TRANSLATIONS = ("name", "short_description", "long_description", "installation_instructions")
ZENDESK_BUILD_PROVIDED = frozenset({"assets/zaf_sdk.min.js"})

# --- Salesforce -------------------------------------------------------------------------
SF_ROOTS = {
    ".field-meta.xml": "CustomField",
    ".object-meta.xml": "CustomObject",
    ".permissionset-meta.xml": "PermissionSet",
    ".js-meta.xml": "LightningComponentBundle",
    ".connectedApp-meta.xml": "ConnectedApp",
    ".object": "CustomObject",
    ".permissionset": "PermissionSet",
    ".connectedApp": "ConnectedApp",
    "package.xml": "Package",
}
SF_FIELD_TYPES = frozenset({"Number", "Text", "Picklist", "LongTextArea", "TextArea", "DateTime", "Date",
                            "Checkbox", "Currency", "Percent", "Url", "Email", "Phone", "MultiselectPicklist"})
SF_LWC_TARGETS = frozenset({"lightning__RecordPage", "lightning__AppPage", "lightning__HomePage",
                            "lightning__RecordAction", "lightning__UtilityBar", "lightning__FlowScreen",
                            "lightningCommunity__Page", "lightningCommunity__Default", "lightning__Tab"})
SF_CANVAS_LOCATIONS = frozenset({"None", "Chatter", "UserProfile", "Visualforce", "Aura", "Publisher",
                                 "ChatterFeed", "ServiceDesk", "OpenCTI", "AppLauncher", "MobileNav", "PageLayout",
                                 "UserProfileBox"})
CANARY_SF_FIELDS: Mapping[str, frozenset[str]] = {
    "Canary_Health_Score__c": frozenset({"Number"}),
    "Canary_Health_Band__c": frozenset({"Text", "Picklist"}),
    "Canary_Health_Trend__c": frozenset({"Number"}),
    "Canary_Health_Reasons__c": frozenset({"LongTextArea"}),
    "Canary_Scored_At__c": frozenset({"DateTime"}),
}
SF_API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c$")

# --- HubSpot ----------------------------------------------------------------------------
HUBSPOT_CARD_LOCATIONS = frozenset({"crm.record.tab", "crm.record.sidebar", "crm.preview", "helpdesk.sidebar"})
HUBSPOT_OBJECT_TYPES = frozenset({"contacts", "companies", "deals", "tickets"})
HUBSPOT_MIN_PLATFORM = (2025, 2)
HUBSPOT_UID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Problem:
    """One rule an app breaks: which app, which file (relative to the app root) and what is wrong."""

    app: Literal["zendesk", "salesforce", "hubspot"]
    file: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.app}: {self.file}: {prefix}{self.message}"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None if ``data`` is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _app_url_ok(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


class _Files:
    """An app's files as relative POSIX path → bytes, read from a folder or a zip."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    @classmethod
    def from_dir(cls, root: Path) -> _Files:
        files = {}
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and "node_modules/" not in relative + "/":
                files[relative] = path.read_bytes()
        return cls(files)

    def text(self, name: str) -> str | None:
        data = self.files.get(name)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def json(self, app: Literal["zendesk", "salesforce", "hubspot"], name: str,
             problems: list[Problem]) -> Any:
        text = self.text(name)
        if text is None:
            problems.append(Problem(app, name, "missing" if name not in self.files else "not UTF-8 text"))
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(Problem(app, name, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"))
            return None


def _placeholders(app: Literal["zendesk", "salesforce", "hubspot"], files: _Files, source: bool) -> list[Problem]:
    if source:
        return []
    problems = []
    for name, data in files.files.items():
        if PurePosixPath(name).suffix not in TEXT_SUFFIXES and not name.endswith("-meta.xml"):
            continue
        found = sorted(set(PLACEHOLDER.findall(data.decode("utf-8", "replace"))))
        if found:
            problems.append(Problem(app, name, f"placeholder not substituted: {', '.join(found)}"))
    return problems


# --- Zendesk ----------------------------------------------------------------------------


def _zendesk_zip(path: Path, problems: list[Problem]) -> _Files:
    size = path.stat().st_size
    if size > ZENDESK_ZIP_MAX_BYTES:
        problems.append(Problem("zendesk", path.name, f"zip is {size} bytes; Zendesk accepts at most "
                                                      f"{ZENDESK_ZIP_MAX_BYTES} (2 MB)"))
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename
                if name.startswith("__MACOSX/") or PurePosixPath(name).name in {".DS_Store", "Thumbs.db"}:
                    problems.append(Problem("zendesk", name, "operating-system clutter must not be in the zip"))
                    continue
                if name.startswith("/") or ".." in PurePosixPath(name).parts or "\\" in name:
                    problems.append(Problem("zendesk", name, "unsafe path in the zip"))
                    continue
                if info.file_size > ZENDESK_ZIP_MAX_BYTES * 8:
                    problems.append(Problem("zendesk", name, f"unpacks to {info.file_size} bytes; not read"))
                elif not info.is_dir():
                    files[name] = archive.read(info)
    except zipfile.BadZipFile:
        problems.append(Problem("zendesk", path.name, "not a zip file"))
        return _Files({})
    if "manifest.json" not in files:
        nested = [n for n in files if n.endswith("/manifest.json")]
        hint = f" (found {nested[0]}: zip the app's contents, not its folder)" if nested else ""
        problems.append(Problem("zendesk", "manifest.json", f"must be at the root of the zip{hint}"))
    return _Files(files)


def check_zendesk(path: Path | str, *, source: bool = False) -> list[Problem]:
    """Check a ZAF 2.0 app folder or its zip (manifest, translations, assets, layout, size)."""
    path = Path(path)
    problems: list[Problem] = []
    if path.is_file():
        files = _zendesk_zip(path, problems)
    elif path.is_dir():
        files = _Files.from_dir(path)
    else:
        return [Problem("zendesk", str(path), "no such file or folder")]
    manifest = files.json("zendesk", "manifest.json", problems)
    if isinstance(manifest, dict):
        _zendesk_manifest(manifest, files, problems, source)
    elif manifest is not None:
        problems.append(Problem("zendesk", "manifest.json", "must be a JSON object"))
    for name, (width, height) in ZENDESK_LOGOS.items():
        data = files.files.get(name)
        if data is None:
            problems.append(Problem("zendesk", name, f"missing: the marketplace requires a {width}x{height} PNG"))
            continue
        size = png_size(data)
        if size is None:
            problems.append(Problem("zendesk", name, "is not a PNG file"))
        elif size != (width, height):
            problems.append(Problem("zendesk", name, f"is {size[0]}x{size[1]} pixels; must be {width}x{height}"))
    for name in files.files:
        if name.endswith(".svg"):
            _xml_root("zendesk", name, files.files[name], "{http://www.w3.org/2000/svg}svg", problems)
        if name.endswith(".html"):
            _zendesk_html(name, files, problems, source)
    problems += _placeholders("zendesk", files, source)
    return problems


def _zendesk_manifest(manifest: dict[str, Any], files: _Files, problems: list[Problem], source: bool) -> None:
    def problem(message: str) -> None:
        problems.append(Problem("zendesk", "manifest.json", message))

    for key in ("name", "author", "defaultLocale", "location", "frameworkVersion", "version"):
        if key not in manifest:
            problem(f"missing required key {key!r}")
    author = manifest.get("author")
    if author is not None and (not isinstance(author, dict) or not author.get("name")
                               or "@" not in str(author.get("email", ""))):
        problem("author must be an object with a name and an email")
    if manifest.get("frameworkVersion", "2.0") != "2.0":
        problem(f"frameworkVersion must be '2.0', not {manifest.get('frameworkVersion')!r}")
    if "private" in manifest and not isinstance(manifest["private"], bool):
        problem("private must be true or false")
    if "signedUrls" in manifest and not isinstance(manifest["signedUrls"], bool):
        problem("signedUrls must be true or false")
    _zendesk_locations(manifest.get("location"), files, problem, bool(manifest.get("signedUrls")))
    names = _zendesk_parameters(manifest.get("parameters", []), problem)
    whitelist = manifest.get("domainWhitelist", [])
    if not isinstance(whitelist, list) or not all(isinstance(d, str) and d for d in whitelist):
        problem("domainWhitelist must be a list of domain names")
    else:
        for domain in whitelist:
            if "://" in domain or "/" in domain:
                problem(f"domainWhitelist entry {domain!r} must be a bare domain (no scheme or path)")
    locale = manifest.get("defaultLocale")
    if isinstance(locale, str):
        _zendesk_translations(f"translations/{locale}.json", names, files, problems)


def _zendesk_locations(location: Any, files: _Files, problem: Any, signed: bool) -> None:
    if location is None:
        return
    if not isinstance(location, dict) or not location:
        problem("location must map a product (support, chat, sell) to its locations")
        return
    for product, places in location.items():
        allowed = ZENDESK_PRODUCTS.get(product)
        if allowed is None:
            problem(f"unknown product {product!r} in location (expected one of {sorted(ZENDESK_PRODUCTS)})")
            continue
        if not isinstance(places, dict) or not places:
            problem(f"location.{product} must name at least one location")
            continue
        for place, spec in places.items():
            where = f"location.{product}.{place}"
            if place not in allowed:
                problem(f"{where}: unknown location (allowed: {', '.join(sorted(allowed))})")
                continue
            url = spec if isinstance(spec, str) else spec.get("url", "assets/iframe.html") \
                if isinstance(spec, dict) else None
            if not isinstance(url, str) or not url:
                problem(f"{where} must be a URL or an object with a url")
                continue
            if isinstance(spec, dict) and "flexible" in spec and not isinstance(spec["flexible"], bool):
                problem(f"{where}.flexible must be true or false")
            if url.startswith(("http://", "https://")):
                if not _app_url_ok(url):
                    problem(f"{where}: remote URL {url!r} must use https (plain http only for localhost)")
            elif "{{" in url:
                if not url.startswith("{{"):
                    problem(f"{where}: {url!r} is neither an asset nor an absolute URL")
            elif not url.startswith("assets/"):
                problem(f"{where}: local URL {url!r} must point into assets/")
            elif url.split("?")[0] not in files.files:
                problem(f"{where}: {url.split('?')[0]} does not exist")
            elif signed:
                problem(f"{where}: signedUrls only signs remote URLs; {url!r} is a packaged asset")


def _zendesk_parameters(parameters: Any, problem: Any) -> list[str]:
    if not isinstance(parameters, list):
        problem("parameters must be a list")
        return []
    names: list[str] = []
    for index, parameter in enumerate(parameters):
        if not isinstance(parameter, dict):
            problem(f"parameters[{index}] must be an object")
            continue
        name = parameter.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problem(f"parameters[{index}].name must be lower_snake_case, not {name!r}")
            continue
        if name in names:
            problem(f"parameter {name!r} is declared twice")
        names.append(name)
        kind = parameter.get("type", "text")
        if kind not in ZENDESK_PARAMETER_TYPES:
            allowed = ", ".join(sorted(ZENDESK_PARAMETER_TYPES))
            problem(f"parameter {name!r}: unknown type {kind!r} (allowed: {allowed})")
        for flag in ("secure", "required"):
            if flag in parameter and not isinstance(parameter[flag], bool):
                problem(f"parameter {name!r}: {flag} must be true or false")
        if parameter.get("secure") and "default" in parameter:
            problem(f"parameter {name!r}: a secure parameter cannot have a default")
        if re.search(r"(key|secret|token|password)", name) and not parameter.get("secure") and kind != "hidden":
            problem(f"parameter {name!r} looks like a credential but is not secure")
    return names


def _zendesk_translations(name: str, parameters: list[str], files: _Files, problems: list[Problem]) -> None:
    data = files.json("zendesk", name, problems)
    if data is None:
        return
    app = data.get("app") if isinstance(data, dict) else None
    if not isinstance(app, dict):
        problems.append(Problem("zendesk", name, "must contain an 'app' object"))
        return
    for key in ZENDESK_REQUIRED_TRANSLATIONS:
        if not isinstance(app.get(key), str) or not app[key].strip():
            problems.append(Problem("zendesk", name, f"missing app.{key}"))
    short = app.get("short_description")
    if isinstance(short, str) and len(short) > 80:
        problems.append(Problem("zendesk", name, f"app.short_description is {len(short)} characters; keep it to 80",
                                "warning"))
    labels = app.get("parameters", {})
    for parameter in parameters:
        entry = labels.get(parameter) if isinstance(labels, dict) else None
        if not isinstance(entry, dict) or not entry.get("label"):
            problems.append(Problem("zendesk", name, f"missing app.parameters.{parameter}.label"))


def _zendesk_html(name: str, files: _Files, problems: list[Problem], source: bool) -> None:
    text = files.text(name) or ""
    folder = PurePosixPath(name).parent
    for src in re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)[\"']", text, flags=re.IGNORECASE):
        if src.startswith(("http://", "https://", "//")):
            problems.append(Problem("zendesk", name, f"loads {src} from the network; bundle it into assets/"))
            continue
        target = (folder / src).as_posix()
        if target not in files.files and not (source and target in ZENDESK_BUILD_PROVIDED):
            problems.append(Problem("zendesk", name, f"script {src} is not in the app"))


# --- XML helpers ------------------------------------------------------------------------


def _xml_root(app: Literal["zendesk", "salesforce", "hubspot"], name: str, data: bytes, expected: str,
              problems: list[Problem]) -> ET.Element | None:
    try:
        root = ET.fromstring(data)  # noqa: S314 - our own package files, not network input
    except ET.ParseError as exc:
        problems.append(Problem(app, name, f"XML is not well-formed: {exc}"))
        return None
    if root.tag != expected:
        problems.append(Problem(app, name, f"root element is {root.tag}, expected {expected}"))
        return None
    return root


def _sf(tag: str) -> str:
    return f"{{{SF_NS}}}{tag}"


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(_sf(tag))
    return None if child is None or child.text is None else child.text.strip()


def _sf_kind(name: str) -> str | None:
    base = PurePosixPath(name).name
    if base == "package.xml":
        return "package.xml"
    for suffix in sorted(SF_ROOTS, key=len, reverse=True):
        if base.endswith(suffix) and suffix != "package.xml":
            return suffix
    return None


# --- Salesforce -------------------------------------------------------------------------


def check_salesforce(path: Path | str, *, source: bool = False) -> list[Problem]:
    """Check an sfdx project (``sfdx-project.json``) or a metadata-format package (``package.xml``)."""
    root = Path(path)
    if not root.is_dir():
        return [Problem("salesforce", str(root), "no such folder")]
    files = _Files.from_dir(root)
    problems: list[Problem] = []
    if "sfdx-project.json" in files.files:
        _sfdx_project(files, problems)
    elif "package.xml" not in files.files:
        return [Problem("salesforce", ".", "neither sfdx-project.json (source format) nor package.xml "
                                          "(metadata format) found")]
    fields: dict[str, str] = {}
    elements: dict[str, ET.Element] = {}
    for name, data in files.files.items():
        kind = _sf_kind(name)
        if kind is None:
            continue
        element = _xml_root("salesforce", name, data, _sf(SF_ROOTS[kind]), problems)
        if element is None:
            continue
        elements[name] = element
        if kind == ".field-meta.xml":
            obj = PurePosixPath(name).parent.parent.name
            fields[f"{obj}.{_sf_field(name, element, problems)}"] = _text(element, "type") or ""
        elif kind in (".object", ".object-meta.xml"):
            obj = PurePosixPath(name).name.split(".")[0]
            for field in element.findall(_sf("fields")):
                fields[f"{obj}.{_sf_field(name, field, problems)}"] = _text(field, "type") or ""
    for api_name, types in CANARY_SF_FIELDS.items():
        found = fields.get(f"Account.{api_name}")
        if found is None:
            problems.append(Problem("salesforce", "objects/Account", f"missing field {api_name}"))
        elif found not in types:
            problems.append(Problem("salesforce", "objects/Account",
                                    f"{api_name} is {found}, expected {' or '.join(sorted(types))}"))
    for name, element in elements.items():
        kind = _sf_kind(name)
        if kind in (".permissionset-meta.xml", ".permissionset"):
            _sf_permission_set(name, element, fields, problems)
        elif kind in (".connectedApp-meta.xml", ".connectedApp"):
            _sf_connected_app(name, element, problems, source)
        elif kind == ".js-meta.xml":
            _sf_lwc(name, element, files, fields, problems)
        elif kind == "package.xml":
            _sf_package(name, element, files, fields, problems)
    problems += _placeholders("salesforce", files, source)
    return problems


def _sfdx_project(files: _Files, problems: list[Problem]) -> None:
    project = files.json("salesforce", "sfdx-project.json", problems)
    if not isinstance(project, dict):
        return
    directories = project.get("packageDirectories")
    if not isinstance(directories, list) or not directories:
        problems.append(Problem("salesforce", "sfdx-project.json", "packageDirectories must list at least one path"))
        return
    if sum(1 for d in directories if isinstance(d, dict) and d.get("default")) != 1:
        problems.append(Problem("salesforce", "sfdx-project.json", "exactly one package directory must be default"))
    for directory in directories:
        folder = directory.get("path") if isinstance(directory, dict) else None
        if not isinstance(folder, str) or not any(n.startswith(folder.rstrip("/") + "/") for n in files.files):
            problems.append(Problem("salesforce", "sfdx-project.json", f"package directory {folder!r} is empty"))
    version = project.get("sourceApiVersion")
    if not isinstance(version, str) or not re.fullmatch(r"\d{2,3}\.0", version):
        problems.append(Problem("salesforce", "sfdx-project.json", f"sourceApiVersion {version!r} is not like '62.0'"))


def _sf_field(name: str, field: ET.Element, problems: list[Problem]) -> str:
    full_name = _text(field, "fullName") or ""

    def problem(message: str) -> None:
        problems.append(Problem("salesforce", name, f"{full_name or 'field'}: {message}"))

    if name.endswith(".field-meta.xml") and PurePosixPath(name).name != f"{full_name}.field-meta.xml":
        problem("fullName does not match the file name")
    if not SF_API_NAME.fullmatch(full_name) or len(full_name) > 43:
        problem("API name must be letters, digits and single underscores, at most 40 characters, ending in __c")
    label = _text(field, "label")
    if not label:
        problem("missing label")
    elif len(label) > 40:
        problem(f"label is {len(label)} characters; at most 40")
    help_text = _text(field, "inlineHelpText")
    if not help_text:
        problem("missing inlineHelpText (field-level help)")
    elif len(help_text) > 510:
        problem(f"inlineHelpText is {len(help_text)} characters; at most 510")
    description = _text(field, "description") or ""
    if len(description) > 1000:
        problem(f"description is {len(description)} characters; at most 1000")
    kind = _text(field, "type")
    if kind not in SF_FIELD_TYPES:
        problem(f"unknown type {kind!r}")
    elif kind in ("Number", "Currency", "Percent"):
        precision, scale = _int(_text(field, "precision")), _int(_text(field, "scale"))
        if precision is None or not 1 <= precision <= 18:
            problem("Number needs a precision from 1 to 18")
        elif scale is None or not 0 <= scale <= precision:
            problem("Number needs a scale from 0 to its precision")
    elif kind == "LongTextArea":
        length = _int(_text(field, "length"))
        if length is None or not 256 <= length <= 131072:
            problem("LongTextArea needs a length from 256 to 131072")
        if _int(_text(field, "visibleLines")) is None:
            problem("LongTextArea needs visibleLines")
    elif kind == "Text":
        length = _int(_text(field, "length"))
        if length is None or not 1 <= length <= 255:
            problem("Text needs a length from 1 to 255")
    elif kind == "Picklist":
        values = field.findall(f"{_sf('valueSet')}/{_sf('valueSetDefinition')}/{_sf('value')}")
        if not values:
            problem("Picklist needs valueSet/valueSetDefinition/value entries")
        if full_name == "Canary_Health_Band__c":
            names = {_text(v, "fullName") for v in values}
            if names != {"good", "average", "poor"}:
                problem(f"band values must be good, average, poor (found {sorted(n or '' for n in names)})")
    return full_name


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _sf_permission_set(name: str, element: ET.Element, fields: Mapping[str, str], problems: list[Problem]) -> None:
    if not _text(element, "label"):
        problems.append(Problem("salesforce", name, "missing label"))
    for permission in element.findall(_sf("fieldPermissions")):
        field = _text(permission, "field") or ""
        if field.endswith("__c") and field not in fields:
            problems.append(Problem("salesforce", name, f"grants access to {field}, which is not in the package"))
        readable, editable = _text(permission, "readable"), _text(permission, "editable")
        if readable not in ("true", "false") or editable not in ("true", "false"):
            problems.append(Problem("salesforce", name, f"{field}: readable and editable must be true or false"))
        elif editable == "true" and readable != "true":
            problems.append(Problem("salesforce", name, f"{field}: an editable field must also be readable"))


def _sf_connected_app(name: str, element: ET.Element, problems: list[Problem], source: bool) -> None:
    def problem(message: str) -> None:
        problems.append(Problem("salesforce", name, message))

    for key in ("label", "contactEmail"):
        if not _text(element, key):
            problem(f"missing {key}")
    canvas = element.find(_sf("canvasConfig"))
    if canvas is None:
        problem("missing canvasConfig (the Canary full view is a Canvas app)")
    else:
        if _text(canvas, "accessMethod") not in ("Post", "Get"):
            problem("canvasConfig.accessMethod must be Post (signed request) or Get")
        url = _text(canvas, "canvasUrl") or ""
        if not (source and url.startswith("{{")) and not _app_url_ok(url):
            problem(f"canvasConfig.canvasUrl {url!r} must be https")
        locations = [loc.text or "" for loc in canvas.findall(_sf("locations"))]
        if not locations:
            problem("canvasConfig needs at least one location")
        for location in locations:
            if location not in SF_CANVAS_LOCATIONS:
                problem(f"canvasConfig: unknown location {location!r}")
    oauth = element.find(_sf("oauthConfig"))
    if oauth is not None:
        callback = _text(oauth, "callbackUrl") or ""
        if not (source and callback.startswith("{{")) and not _app_url_ok(callback):
            problem(f"oauthConfig.callbackUrl {callback!r} must be https")
        if not oauth.findall(_sf("scopes")):
            problem("oauthConfig needs scopes")


def _sf_lwc(name: str, element: ET.Element, files: _Files, fields: Mapping[str, str],
            problems: list[Problem]) -> None:
    bundle = PurePosixPath(name).parent
    component = bundle.name
    if PurePosixPath(name).name != f"{component}.js-meta.xml":
        problems.append(Problem("salesforce", name, f"must be named {component}.js-meta.xml like its folder"))
    for suffix in (".js", ".html"):
        if f"{bundle}/{component}{suffix}" not in files.files:
            problems.append(Problem("salesforce", name, f"bundle has no {component}{suffix}"))
    if not re.fullmatch(r"[a-z][A-Za-z0-9]*", component):
        problems.append(Problem("salesforce", name, "LWC folder names start with a lower-case letter (camelCase)"))
    if not (_text(element, "apiVersion") or "").endswith(".0"):
        problems.append(Problem("salesforce", name, "missing apiVersion"))
    targets = [t.text or "" for t in element.findall(f"{_sf('targets')}/{_sf('target')}")]
    if targets and _text(element, "isExposed") != "true":
        problems.append(Problem("salesforce", name, "isExposed must be true for the component to have targets"))
    for target in targets:
        if target not in SF_LWC_TARGETS:
            problems.append(Problem("salesforce", name, f"unknown target {target!r}"))
    script = files.text(f"{bundle}/{component}.js") or ""
    for obj, field in re.findall(r"@salesforce/schema/(\w+)\.(\w+__c)", script):
        if f"{obj}.{field}" not in fields:
            problems.append(Problem("salesforce", f"{bundle}/{component}.js",
                                    f"imports {obj}.{field}, which is not in the package"))


def _sf_package(name: str, element: ET.Element, files: _Files, fields: Mapping[str, str],
                problems: list[Problem]) -> None:
    if not re.fullmatch(r"\d{2,3}\.0", _text(element, "version") or ""):
        problems.append(Problem("salesforce", name, "missing version like 62.0"))
    folders = {"ConnectedApp": ("connectedApps", ".connectedApp"),
               "PermissionSet": ("permissionsets", ".permissionset"),
               "LightningComponentBundle": ("lwc", "")}
    listed_fields: set[str] = set()
    for types in element.findall(_sf("types")):
        type_name = _text(types, "name") or ""
        for member in (m.text or "" for m in types.findall(_sf("members"))):
            if type_name == "CustomField":
                listed_fields.add(member)
                if member not in fields:
                    problems.append(Problem("salesforce", name, f"lists CustomField {member}, which has no definition"))
            elif type_name in folders:
                folder, suffix = folders[type_name]
                expected = f"{folder}/{member}{suffix}" if suffix else f"{folder}/{member}/{member}.js-meta.xml"
                if expected not in files.files:
                    problems.append(Problem("salesforce", name,
                                            f"lists {type_name} {member} but {expected} is missing"))
    for field in fields:
        if field not in listed_fields:
            problems.append(Problem("salesforce", name, f"does not list CustomField {field}"))


# --- HubSpot ----------------------------------------------------------------------------


def check_hubspot(path: Path | str, *, source: bool = False) -> list[Problem]:
    """Check a developer-platform (2025.2) project: hsproject.json, app and card *-hsmeta.json, the card's files."""
    root = Path(path)
    if not root.is_dir():
        return [Problem("hubspot", str(root), "no such folder")]
    files = _Files.from_dir(root)
    problems: list[Problem] = []
    project = files.json("hubspot", "hsproject.json", problems)
    src = "src"
    if isinstance(project, dict):
        if not project.get("name"):
            problems.append(Problem("hubspot", "hsproject.json", "missing name"))
        src = str(project.get("srcDir", "src")).strip("/")
        version = str(project.get("platformVersion", ""))
        match = re.fullmatch(r"(\d{4})\.(\d)", version)
        if match is None or (int(match[1]), int(match[2])) < HUBSPOT_MIN_PLATFORM:
            problems.append(Problem("hubspot", "hsproject.json",
                                    f"platformVersion {version!r}: app cards with *-hsmeta.json need 2025.2 or later"))
    for name in files.files:
        if name.endswith("-hsmeta.json") and PurePosixPath(name).parent.as_posix() not in (
                f"{src}/app", f"{src}/app/cards", f"{src}/app/webhooks", f"{src}/app/settings"):
            problems.append(Problem("hubspot", name,
                                    "*-hsmeta.json files must sit at the root of their feature folder"))
        if name.endswith(".json") and ("crm-card" in name or "legacy" in name):
            problems.append(Problem("hubspot", name, "legacy CRM cards were sunset on 2026-10-31; use an app card"))
    app_configs = [n for n in files.files if PurePosixPath(n).parent.as_posix() == f"{src}/app"
                   and n.endswith("-hsmeta.json")]
    if len(app_configs) != 1:
        problems.append(Problem("hubspot", f"{src}/app",
                                f"needs exactly one app *-hsmeta.json, found {len(app_configs)}"))
    fetch_urls: list[str] = []
    iframe_urls: list[str] = []
    for name in app_configs:
        fetch, iframe = _hubspot_app(name, files, problems, source)
        fetch_urls += fetch
        iframe_urls += iframe
    cards = [n for n in files.files if PurePosixPath(n).parent.as_posix() == f"{src}/app/cards"
             and n.endswith("-hsmeta.json")]
    if not cards:
        problems.append(Problem("hubspot", f"{src}/app/cards", "no app card (*-hsmeta.json with type card)"))
    for name in cards:
        _hubspot_card(name, src, files, fetch_urls, iframe_urls, problems, source)
    if cards:
        _hubspot_card_package(f"{src}/app/cards/package.json", files, problems)
    problems += _placeholders("hubspot", files, source)
    return problems


def _hubspot_app(name: str, files: _Files, problems: list[Problem], source: bool) -> tuple[list[str], list[str]]:
    """Check the app config; returns its permitted fetch and iframe URLs."""
    config_file = files.json("hubspot", name, problems)
    if not isinstance(config_file, dict):
        return [], []

    def problem(message: str) -> None:
        problems.append(Problem("hubspot", name, message))

    if not HUBSPOT_UID.fullmatch(str(config_file.get("uid", ""))):
        problem("uid must be 1-64 letters, digits, '-' or '_'")
    if config_file.get("type") != "app":
        problem(f"type must be 'app', not {config_file.get('type')!r}")
    config = config_file.get("config")
    if not isinstance(config, dict):
        problem("missing config object")
        return [], []
    if not config.get("name"):
        problem("config.name is required")
    if config.get("distribution") not in ("marketplace", "private"):
        problem("config.distribution must be 'marketplace' or 'private'")
    auth = config.get("auth")
    if not isinstance(auth, dict) or auth.get("type") not in ("oauth", "static"):
        problem("config.auth.type must be 'oauth' or 'static'")
        auth = {}
    if auth.get("type") == "oauth":
        redirects = auth.get("redirectUrls")
        if not isinstance(redirects, list) or not redirects:
            problem("config.auth.redirectUrls must list the OAuth callback")
        else:
            for url in redirects:
                if not (source and str(url).startswith("{{")) and not _app_url_ok(str(url)):
                    problem(f"redirect URL {url!r} must be https (plain http only for localhost)")
        scopes = auth.get("requiredScopes")
        if not isinstance(scopes, list) or "oauth" not in scopes:
            problem("config.auth.requiredScopes must include 'oauth'")
        elif not {"crm.objects.companies.read", "crm.objects.companies.write"} <= set(scopes):
            problem("Canary needs crm.objects.companies.read and .write to show and write health")
    permitted = config.get("permittedUrls", {})
    fetch = permitted.get("fetch", []) if isinstance(permitted, dict) else None
    iframe = permitted.get("iframe", []) if isinstance(permitted, dict) else None
    if not isinstance(iframe, list):
        problem("config.permittedUrls.iframe must be a list of URLs")
        iframe = []
    if not isinstance(fetch, list) or not fetch:
        problem("config.permittedUrls.fetch must list Canary's URL (hubspot.fetch only calls permitted URLs)")
        return [], [str(u) for u in iframe]
    for kind, urls in (("fetch", fetch), ("iframe", iframe)):
        for url in urls:
            parts = urlsplit(str(url))
            if (source and str(url).startswith("{{")) or parts.scheme == "https":
                continue
            if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
                problems.append(Problem("hubspot", name, f"permittedUrls.{kind} entry {url!r} is plain http: "
                                                         "HubSpot only reaches it through `hs project dev` proxying",
                                        "warning"))
            else:
                problem(f"permittedUrls.{kind} entry {url!r} must be https (HubSpot refuses plain http)")
    return [str(u) for u in fetch], [str(u) for u in iframe]


def _hubspot_card(name: str, src: str, files: _Files, fetch_urls: list[str], iframe_urls: list[str],
                  problems: list[Problem], source: bool) -> None:
    card = files.json("hubspot", name, problems)
    if not isinstance(card, dict):
        return

    def problem(message: str) -> None:
        problems.append(Problem("hubspot", name, message))

    if not HUBSPOT_UID.fullmatch(str(card.get("uid", ""))):
        problem("uid must be 1-64 letters, digits, '-' or '_'")
    if card.get("type") != "card":
        problem(f"type must be 'card', not {card.get('type')!r}")
    config = card.get("config")
    if not isinstance(config, dict):
        problem("missing config object")
        return
    if not config.get("name"):
        problem("config.name is required")
    if config.get("location") not in HUBSPOT_CARD_LOCATIONS:
        problem(f"config.location {config.get('location')!r} is not one of {', '.join(sorted(HUBSPOT_CARD_LOCATIONS))}")
    objects = config.get("objectTypes")
    if not isinstance(objects, list) or not objects:
        problem("config.objectTypes must list the records the card appears on")
    else:
        for obj in objects:
            if obj not in HUBSPOT_OBJECT_TYPES and not str(obj).startswith("p_"):
                problem(f"objectTypes entry {obj!r} is not one of {', '.join(sorted(HUBSPOT_OBJECT_TYPES))}")
    entry = str(config.get("entrypoint", ""))
    entry_file = f"{src}/{entry.lstrip('/')}"
    if not entry.startswith("/app/") or PurePosixPath(entry).suffix not in (".jsx", ".tsx", ".js", ".ts"):
        problem(f"config.entrypoint {entry!r} must be a /app/... React file")
        return
    script = files.text(entry_file)
    if script is None:
        problem(f"entrypoint {entry_file} does not exist")
        return
    if "hubspot.extend" not in script:
        problems.append(Problem("hubspot", entry_file, "never calls hubspot.extend(), so the card renders nothing"))
    if "@hubspot/ui-extensions" not in script:
        problems.append(Problem("hubspot", entry_file, "does not import @hubspot/ui-extensions"))
    if re.search(r"\bfetch\(", script.replace("hubspot.fetch(", "")):
        problems.append(Problem("hubspot", entry_file, "calls fetch() directly; app cards must use hubspot.fetch()"))
    if "openIframeModal" in script and not iframe_urls:
        problems.append(Problem("hubspot", entry_file, "opens an iframe modal, but permittedUrls.iframe lists no URL "
                                                       "(HubSpot refuses to frame an unlisted page)"))
    for url in re.findall(r"[\"'`](https?://[^\"'`$]+)", script):
        if not source and not any(url.startswith(prefix.rstrip("/")) for prefix in fetch_urls):
            problems.append(Problem("hubspot", entry_file, f"{url} is not under permittedUrls.fetch"))


def _hubspot_card_package(name: str, files: _Files, problems: list[Problem]) -> None:
    package = files.json("hubspot", name, problems)
    if not isinstance(package, dict):
        return
    dependencies = package.get("dependencies", {})
    for dependency in ("@hubspot/ui-extensions", "react"):
        if not isinstance(dependencies, dict) or dependency not in dependencies:
            problems.append(Problem("hubspot", name, f"missing dependency {dependency}"))
