"""Render the three marketplace apps in ``manifests/`` for one Canary deployment URL.

``build_all(base_url, out)`` writes:

- ``out/zendesk/canary-zendesk.zip``: the ZAF app as Zendesk's upload expects it (manifest.json
  at the zip root) with the ZAF SDK bundled from the npm package ``zendesk_app_framework_sdk``
  as ``assets/zaf_sdk.min.js``: never loaded from a CDN;
- ``out/salesforce/``: the sfdx source converted to Metadata API format (``package.xml``,
  ``objects/Account.object``, ``permissionsets/``, ``lwc/``, ``connectedApps/``), the layout
  ``sf project convert source`` produces, deployable with ``sf project deploy start --metadata-dir``;
- ``out/hubspot/``: the developer-platform project folder, ready for ``hs project upload``.

Sources carry ``{{CANARY_BASE_URL}}`` and ``{{CANARY_HOST}}`` placeholders; every output is
run through `marketplace.check` and the problems are returned with the result.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from marketplace.check import (
    LOOPBACK_HOSTS,
    SF_NS,
    TEXT_SUFFIXES,
    Problem,
    check_hubspot,
    check_salesforce,
    check_zendesk,
    errors,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = REPO_ROOT / "manifests"
DEFAULT_NPM_CACHE = REPO_ROOT / "build" / "npm"
ZAF_TOOLING = MANIFESTS / "tooling" / "zaf"
LWC_TOOLING = MANIFESTS / "tooling" / "lwc"
DEFAULT_LWC_CACHE = REPO_ROOT / "build" / "npm-lwc"
ZAF_ENTRY = Path("node_modules", "zendesk_app_framework_sdk", "lib", "index.js")
ESBUILD = Path("node_modules", ".bin", "esbuild")
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_UNSAFE_URL_CHARACTERS = set("\"'<>&\\ `{}|^")

ET.register_namespace("", SF_NS)


class BuildError(Exception):
    """The build cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BuildResult:
    base_url: str
    out: Path
    zendesk_zip: Path
    salesforce_dir: Path
    hubspot_dir: Path
    zaf_sdk: Path
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


def validate_base_url(base_url: str) -> str:
    """Return the deployment URL without a trailing slash; https only, plain http only on loopback."""
    url = base_url.strip()
    if not url:
        raise BuildError("--base-url is empty: give the URL Canary is served at, e.g. https://canary.example.com")
    if any(c in _UNSAFE_URL_CHARACTERS for c in url):
        raise BuildError(f"base URL {url!r} contains characters that are not allowed in a URL")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BuildError(f"base URL {url!r} must be an absolute https:// URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise BuildError(f"base URL {url!r} must use https: the vendors only embed https apps "
                         "(plain http is accepted for localhost and 127.0.0.1 during development)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BuildError(f"base URL {url!r} must not carry a query, a fragment or credentials")
    return url.rstrip("/")


def placeholders_for(base_url: str) -> dict[str, str]:
    return {"{{CANARY_BASE_URL}}": base_url, "{{CANARY_HOST}}": urlsplit(base_url).hostname or ""}


def render(data: bytes, name: str, values: dict[str, str]) -> bytes:
    """Substitute placeholders in text files; binary files pass through unchanged."""
    if PurePosixPath(name).suffix not in TEXT_SUFFIXES and not name.endswith("-meta.xml"):
        return data
    text = data.decode("utf-8")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text.encode("utf-8")


def _source_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "node_modules" not in p.relative_to(root).parts
            and p.name not in {".DS_Store", "Thumbs.db"}}


# --- ZAF SDK from npm -------------------------------------------------------------------


def _run(command: list[str], cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise BuildError(f"{what}: {command[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what}: timed out after 300 s") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise BuildError(f"{what} failed (exit {result.returncode}):\n{tail}")


def ensure_npm_packages(tooling: Path, cache: Path) -> Path:
    """Install the pinned ``package.json`` + ``package-lock.json`` of ``tooling`` into ``cache`` once.

    Re-installs only when the lockfile changes (a hash stamp in the cache says which one is installed).
    Callers may race (``make test`` runs one pytest worker per core, each with its own session
    fixtures): an exclusive lock beside the cache lets one of them install while the others wait and
    then find the stamp. Without it two ``npm ci`` runs delete each other's ``node_modules``.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is not available: install Node.js 20+ and npm (Debian: apt-get install nodejs npm); "
                         "the build bundles the ZAF SDK from the npm registry and never uses a CDN")
    lock = tooling / "package-lock.json"
    digest = hashlib.sha256((tooling / "package.json").read_bytes() + lock.read_bytes()).hexdigest()
    stamp = cache / ".canary-installed"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f".{cache.name}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest and (cache / "node_modules").is_dir():
            return cache
        cache.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        shutil.copy2(tooling / "package.json", cache / "package.json")
        shutil.copy2(lock, cache / "package-lock.json")
        _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cache,
             f"npm ci in {cache}")
        stamp.write_text(digest)
    return cache


def bundle_zaf_sdk(dest: Path, *, npm_cache: Path = DEFAULT_NPM_CACHE) -> Path:
    """Write ``zaf_sdk.min.js`` (global ``ZAFClient``) bundled with esbuild from the pinned npm package."""
    dest = dest.resolve()  # esbuild runs inside the npm cache folder
    cache = ensure_npm_packages(ZAF_TOOLING, npm_cache)
    entry, esbuild = cache / ZAF_ENTRY, cache / ESBUILD
    if not entry.exists() or not esbuild.exists():
        raise BuildError(f"the npm install in {cache} is incomplete: delete the folder and build again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run([str(esbuild), str(entry), "--bundle", "--minify", "--format=iife", "--global-name=ZAFClient",
          "--target=es2017", "--log-level=error", f"--outfile={dest}"], cache, "bundling the ZAF SDK")
    return dest


# --- Zendesk ----------------------------------------------------------------------------


def write_zip(files: dict[str, bytes], dest: Path) -> Path:
    """A deterministic zip: sorted entries at the root, fixed timestamps, no folder entries."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return dest


def build_zendesk(base_url: str, out: Path, zaf_sdk: Path, sources: Path = MANIFESTS) -> Path:
    values = placeholders_for(base_url)
    files = {name: render(data, name, values) for name, data in _source_files(sources / "zendesk").items()}
    files["assets/zaf_sdk.min.js"] = zaf_sdk.read_bytes()
    return write_zip(files, out / "zendesk" / "canary-zendesk.zip")


# --- Salesforce: source format → metadata format ----------------------------------------

_SF_DIRECT = {
    "permissionsets": ("PermissionSet", ".permissionset-meta.xml", ".permissionset"),
    "connectedApps": ("ConnectedApp", ".connectedApp-meta.xml", ".connectedApp"),
}


def _sf(tag: str) -> str:
    return f"{{{SF_NS}}}{tag}"


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root, space="    ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                      xml_declaration=False) + b"\n"


def _parse(data: bytes, name: str) -> ET.Element:
    try:
        return ET.fromstring(data)  # noqa: S314 - our own package files, not network input
    except ET.ParseError as exc:
        raise BuildError(f"salesforce: {name} is not well-formed XML: {exc}") from exc


def convert_sfdx_source(project: Path, out: Path, values: dict[str, str]) -> Path:
    """Convert an sfdx source-format project to a metadata-format folder with ``package.xml``."""
    config = json.loads((project / "sfdx-project.json").read_text())
    api_version = str(config.get("sourceApiVersion", "62.0"))
    members: dict[str, set[str]] = {}
    objects: dict[str, ET.Element] = {}
    written: dict[str, bytes] = {}
    for directory in config.get("packageDirectories", []):
        base = project / directory["path"]
        for name, data in _source_files(base).items():
            parts = PurePosixPath(name).parts
            data = render(data, name, values)
            if "objects" in parts:
                index = parts.index("objects")
                obj = parts[index + 1]
                root = objects.setdefault(obj, ET.Element(_sf("CustomObject")))
                if len(parts) > index + 3 and parts[index + 2] == "fields":
                    field_root = _parse(data, name)
                    field = ET.SubElement(root, _sf("fields"))
                    field.extend(list(field_root))
                    full_name = field_root.findtext(_sf("fullName"), default="").strip()
                    members.setdefault("CustomField", set()).add(f"{obj}.{full_name}")
                elif name.endswith(".object-meta.xml"):
                    for position, child in enumerate(_parse(data, name)):
                        root.insert(position, child)
                    members.setdefault("CustomObject", set()).add(obj)
                else:
                    raise BuildError(f"salesforce: don't know how to convert {name}")
            elif "lwc" in parts:
                index = parts.index("lwc")
                bundle = parts[index + 1]
                written["lwc/" + "/".join(parts[index + 1:])] = data
                members.setdefault("LightningComponentBundle", set()).add(bundle)
            elif any(folder in parts for folder in _SF_DIRECT):
                folder = next(f for f in _SF_DIRECT if f in parts)
                type_name, source_suffix, target_suffix = _SF_DIRECT[folder]
                file_name = parts[-1]
                if not file_name.endswith(source_suffix):
                    raise BuildError(f"salesforce: {name} should end in {source_suffix}")
                member = file_name[: -len(source_suffix)]
                _parse(data, name)
                written[f"{folder}/{member}{target_suffix}"] = data
                members.setdefault(type_name, set()).add(member)
            else:
                raise BuildError(f"salesforce: don't know how to convert {name}")
    for obj, root in objects.items():
        written[f"objects/{obj}.object"] = _xml_bytes(root)
    package = ET.Element(_sf("Package"))
    for type_name in sorted(members):
        types = ET.SubElement(package, _sf("types"))
        for member in sorted(members[type_name]):
            ET.SubElement(types, _sf("members")).text = member
        ET.SubElement(types, _sf("name")).text = type_name
    ET.SubElement(package, _sf("version")).text = api_version
    written["package.xml"] = _xml_bytes(package)
    if out.exists():
        shutil.rmtree(out)
    for name, data in written.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return out


# --- HubSpot ----------------------------------------------------------------------------


def build_hubspot(base_url: str, out: Path, sources: Path = MANIFESTS) -> Path:
    target = out / "hubspot"
    if target.exists():
        shutil.rmtree(target)
    values = placeholders_for(base_url)
    for name, data in _source_files(sources / "hubspot").items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(data, name, values))
    return target


# --- all --------------------------------------------------------------------------------


def build_all(base_url: str, out: Path, *, npm_cache: Path = DEFAULT_NPM_CACHE, zaf_sdk: Path | None = None,
              sources: Path = MANIFESTS) -> BuildResult:
    """Render the three apps for ``base_url`` into ``out`` and check them.

    ``zaf_sdk`` reuses an already bundled ``zaf_sdk.min.js``; by default it is bundled from npm
    into ``out/zendesk/zaf_sdk.min.js`` (the lead's widget shell can serve the same file).
    """
    url = validate_base_url(base_url)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sdk = zaf_sdk if zaf_sdk is not None else bundle_zaf_sdk(out / "zendesk" / "zaf_sdk.min.js", npm_cache=npm_cache)
    if not sdk.is_file():
        raise BuildError(f"ZAF SDK {sdk} does not exist")
    zendesk_zip = build_zendesk(url, out, sdk, sources)
    salesforce_dir = convert_sfdx_source(sources / "salesforce", out / "salesforce", placeholders_for(url))
    hubspot_dir = build_hubspot(url, out, sources)
    problems = check_zendesk(zendesk_zip) + check_salesforce(salesforce_dir) + check_hubspot(hubspot_dir)
    return BuildResult(url, out, zendesk_zip, salesforce_dir, hubspot_dir, sdk, problems)
