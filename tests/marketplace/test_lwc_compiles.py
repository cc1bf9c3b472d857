"""The Salesforce LWC compiles with @lwc/compiler and the HubSpot card's JSX bundles with esbuild (both from npm)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from marketplace.build import BuildResult

LWC_SOURCE = Path(__file__).resolve().parents[2] / "manifests/salesforce/force-app/main/default/lwc/canaryHealth"
COMPILE_LWC = """
const { transformSync } = require("@lwc/compiler");
const fs = require("fs");
const path = require("path");
const dir = process.argv[2];
const name = path.basename(dir);
const out = {};
for (const file of fs.readdirSync(dir).filter((f) => /\\.(js|html|css)$/.test(f))) {
  try {
    const result = transformSync(fs.readFileSync(path.join(dir, file), "utf8"), file, { namespace: "c", name });
    out[file] = { code: result.code, warnings: (result.warnings || []).map((w) => w.message) };
  } catch (error) {
    out[file] = { error: String(error.message || error) };
  }
}
process.stdout.write(JSON.stringify(out));
"""
FIELDS = ["Canary_Health_Score__c", "Canary_Health_Band__c", "Canary_Health_Trend__c", "Canary_Health_Reasons__c",
          "Canary_Scored_At__c"]


def compile_lwc(node: str, compilers: Path, bundle: Path, tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "compile-lwc.js"
    script.write_text(COMPILE_LWC)
    result = subprocess.run([node, str(script), str(bundle)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "NODE_PATH": str(compilers)}, check=False)
    assert result.returncode == 0, result.stderr
    compiled: dict[str, Any] = json.loads(result.stdout)
    return compiled


def test_lwc_compiles_with_the_expected_component_code(node: str, compilers: Path, tmp_path: Path) -> None:
    compiled = compile_lwc(node, compilers, LWC_SOURCE, tmp_path)
    assert set(compiled) == {"canaryHealth.js", "canaryHealth.html", "canaryHealth.css"}
    for file, result in compiled.items():
        assert "error" not in result, f"{file}: {result.get('error')}"
        assert result["warnings"] == [], f"{file}: {result['warnings']}"
    js = compiled["canaryHealth.js"]["code"]
    assert 'sel: "c-canary-health"' in js
    assert "recordId" in js.split("publicProps", 1)[1].split("wire", 1)[0]
    assert "adapter: getRecord" in js
    assert 'from "lightning/uiRecordApi"' in js
    for field in FIELDS:
        assert f'"@salesforce/schema/Account.{field}"' in js
    html = compiled["canaryHealth.html"]["code"]
    for module in ("lightning/card", "lightning/icon", "lightning/spinner", "lightning/formattedDateTime"):
        assert f'from "{module}"' in html
    assert "registerTemplate" in html
    assert "Why" in html


@pytest.mark.parametrize(
    ("file", "broken", "message"),
    [
        ("canaryHealth.html", "<template><p>{score + 1}</p></template>", "expression"),
        ("canaryHealth.html", "<template><template for:each={reasons} for:item=\"r\"><li>{r}</li></template>"
                              "</template>", "key"),
        ("canaryHealth.js", "import { LightningElement } from 'lwc';\nexport default class extends LightningElement {"
                            "\n  @api recordId\n", "Unexpected token"),
    ],
    ids=["expression-in-template", "for-each-without-key", "js-syntax-error"],
)
def test_the_compile_check_catches_broken_components(node: str, compilers: Path, tmp_path: Path, file: str,
                                                     broken: str, message: str) -> None:
    bundle = tmp_path / "canaryHealth"
    shutil.copytree(LWC_SOURCE, bundle)
    (bundle / file).write_text(broken)
    result = compile_lwc(node, compilers, bundle, tmp_path)[file]
    problems = result.get("error", "") + " ".join(result.get("warnings", []))
    assert message.lower() in problems.lower()


def bundle_card(compilers: Path, entry: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compilers / ".bin" / "esbuild"), str(entry), "--bundle", "--format=esm", "--jsx=automatic",
         "--external:react", "--external:react/*", "--external:@hubspot/ui-extensions", "--log-level=error"],
        capture_output=True, text=True, timeout=60, check=False)


def test_hubspot_card_jsx_bundles(built: BuildResult, compilers: Path) -> None:
    result = bundle_card(compilers, built.hubspot_dir / "src/app/cards/CanaryHealthCard.jsx")
    assert result.returncode == 0, result.stderr
    code = result.stdout
    assert 'from "@hubspot/ui-extensions"' in code
    assert "hubspot.extend(" in code
    assert "hubspot.fetch(cardUrl(companyId)" in code
    assert 'var CANARY_BASE_URL = "https://canary.example.com";' in code
    assert "/widgets/hubspot/card?" in code


def test_the_bundle_check_catches_broken_jsx(compilers: Path, tmp_path: Path) -> None:
    entry = tmp_path / "Broken.jsx"
    entry.write_text("export const Card = () => <Flex><Text>unclosed</Flex>;\n")
    result = bundle_card(compilers, entry)
    assert result.returncode != 0
    assert "Text" in result.stderr
