"""Session fixtures: one real build (ZAF SDK bundled from npm) and the pinned compilers from npm.

npm packages are installed once into ``build/npm`` and ``build/npm-lwc`` (gitignored) from the
lockfiles in ``manifests/tooling/``; later sessions reuse them, and workers racing for them wait on a lock
(see `ensure_npm_packages`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from marketplace.build import DEFAULT_LWC_CACHE, LWC_TOOLING, BuildResult, build_all, ensure_npm_packages

BASE_URL = "https://canary.example.com"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build_all(BASE_URL, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def compilers() -> Path:
    """``node_modules`` with @lwc/compiler and esbuild, installed from the pinned lockfile."""
    return ensure_npm_packages(LWC_TOOLING, DEFAULT_LWC_CACHE) / "node_modules"


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not installed: the marketplace tests compile the LWC and the app card with Node.js 20+")
    return found


@pytest.fixture
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    """Copy a built artefact (file or folder) into this test's tmp folder so it can be broken."""

    def copy(source: Path) -> Path:
        target = tmp_path / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        return target

    return copy
