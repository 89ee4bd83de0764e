"""collectstatic bundles the pages' scripts: one file per page instead of a module per import.

Each ``js/<name>.js`` and every module it imports (ours and npm's, from ``vendor/``) become one
minified ES module, ``bundle/js/<name>.js`` (with its source map), written by esbuild (npm)
into ``STATIC_ROOT`` after the files are collected and before WhiteNoise compresses them. The
templates load the bundles: the run page loaded 8 scripts (its 6 modules, uPlot and the board)
and loads 2. The sources stay in ``js/`` (the source maps point at them); nothing built is
committed.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from whitenoise.storage import CompressedStaticFilesStorage  # type: ignore[import-untyped]

from keisei_site.env import BASE_DIR

SOURCE_DIR = "js"
BUNDLE_DIR = "bundle/js"
NODE_MODULES = BASE_DIR / "node_modules"
_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def esbuild_binary() -> Path:
    """esbuild's native binary from its platform package (@esbuild/linux-x64, ...): it runs
    without Node.js, as in the image's build stage, which has node_modules but no node."""
    machine = platform.machine().lower()
    native = NODE_MODULES / "@esbuild" / f"{sys.platform}-{_ARCH.get(machine, machine)}" / "bin"
    if (native / "esbuild").exists():
        return native / "esbuild"
    return NODE_MODULES / "esbuild" / "bin" / "esbuild"  # npm's launcher (may need node)


class StaticBundleError(ImproperlyConfigured):
    """The bundler is missing or refused a script (its message names the file and line)."""


def bundle_scripts(root: Path) -> list[str]:
    """Bundle every ``root/js/*.js`` into ``root/bundle/js/``; the written names, relative
    to ``root`` (the bundles and their maps)."""
    entries = sorted((root / SOURCE_DIR).glob("*.js"))
    if not entries:
        return []
    esbuild = esbuild_binary()
    if not esbuild.exists():
        raise StaticBundleError(f"{esbuild} is missing: install the npm packages (`make setup`)")
    out = root / BUNDLE_DIR
    args = [
        str(esbuild),
        *map(str, entries),
        "--bundle",
        "--format=esm",
        "--minify",
        "--sourcemap",
        "--log-level=error",
        f"--outdir={out}",
    ]
    # Bare imports inside npm packages (shogiops imports "@badrap/result") resolve from the
    # checkout's node_modules even when STATIC_ROOT lies outside it.
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StaticBundleError(f"bundling {root / SOURCE_DIR} failed:\n{done.stderr.strip()}")
    written = [out / f"{e.stem}.js" for e in entries] + [out / f"{e.stem}.js.map" for e in entries]
    return [str(path.relative_to(root)) for path in written]


class BundlingStaticFilesStorage(CompressedStaticFilesStorage):
    """WhiteNoise's compressed storage that first bundles the collected page scripts."""

    def post_process(
        self, paths: dict[str, Any], dry_run: bool = False, **options: Any
    ) -> Iterator[tuple[str, str, bool]]:
        if not dry_run:
            bundled = bundle_scripts(Path(self.location))
            paths = {**paths, **{name: (self, name) for name in bundled}}
        yield from super().post_process(paths, dry_run, **options)
