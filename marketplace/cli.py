"""``canary manifests build --base-url URL [--out dist/]``: render the marketplace apps and check them.

The lead attaches `manifests_cli` to the ``canary`` Flask CLI group (``cli.add_command(manifests_cli)``).
"""

from __future__ import annotations

from pathlib import Path

import click

from marketplace.build import DEFAULT_NPM_CACHE, BuildError, build_all
from marketplace.check import errors


@click.group("manifests", help="Build and check the Zendesk, Salesforce and HubSpot marketplace apps.")
def manifests_cli() -> None:
    """Marketplace packaging commands."""


def _size(path: Path) -> str:
    total = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return f"{total / 1024:.1f} KiB"


@manifests_cli.command("build")
@click.option("--base-url", required=True, help="The URL this Canary is served at, e.g. https://canary.example.com.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"),
              show_default=True, help="Folder for the artefacts.")
@click.option("--npm-cache", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_NPM_CACHE,
              show_default=True, help="Where the pinned ZAF SDK npm package is installed.")
def build_command(base_url: str, out: Path, npm_cache: Path) -> None:
    """Render the three apps for BASE_URL into OUT and run the manifest checker on them."""
    try:
        result = build_all(base_url, out, npm_cache=npm_cache)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Built the marketplace apps for {result.base_url}:")
    for label, path in (("Zendesk app (upload this zip)", result.zendesk_zip),
                        ("Salesforce metadata package", result.salesforce_dir),
                        ("HubSpot project (hs project upload)", result.hubspot_dir)):
        click.echo(f"  {label:<38} {path}  ({_size(path)})")
    blocking = errors(result.problems)
    for problem in result.problems:
        click.echo(f"  {problem}", err=True)
    if blocking:
        raise click.ClickException(f"manifest check failed: {len(blocking)} problem(s) above")
    warnings = len(result.problems)
    click.echo("Manifest check passed" + (f" with {warnings} warning(s)." if warnings else "."))
