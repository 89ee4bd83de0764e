"""collectstatic's bundling (keisei_site.static_bundles): a page script and what it imports
become one file; a script the bundler refuses stops collectstatic with its name."""

from __future__ import annotations

import pytest

from keisei_site.static_bundles import StaticBundleError, bundle_scripts


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_page_script_and_its_imports_become_one_file(tmp_path):
    write(
        tmp_path / "js" / "page.js",
        'import { shout } from "./words.js";\n'
        'import { twice } from "../vendor/lib/twice.js";\n'
        'document.title = twice(shout("keisei"));\n',
    )
    write(tmp_path / "js" / "words.js", "export const shout = (w) => w.toUpperCase() + '!';\n")
    write(tmp_path / "vendor" / "lib" / "twice.js", "export const twice = (w) => w + w;\n")

    written = bundle_scripts(tmp_path)

    assert "bundle/js/page.js" in written and "bundle/js/page.js.map" in written
    bundle = (tmp_path / "bundle" / "js" / "page.js").read_text()
    assert "import" not in bundle  # nothing left for the browser to fetch
    assert "toUpperCase" in bundle and "document.title" in bundle


def test_a_script_the_bundler_refuses_is_named(tmp_path):
    write(tmp_path / "js" / "broken.js", 'import { gone } from "./missing.js";\ngone();\n')
    with pytest.raises(StaticBundleError, match=r"broken\.js"):
        bundle_scripts(tmp_path)
