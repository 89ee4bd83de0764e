"""The pages' scripts put user strings (run names, tags, notes, log messages, players) into
the page as text (``textContent``, ``append`` of a string), never as markup: any HTML sink in
static/js/ must be one of the listed ones, each of which parses a same-origin fragment that
Django rendered with autoescaping (tests/integration/test_input_safety.py checks them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "static" / "js"
SINKS = re.compile(
    r"\.(innerHTML|outerHTML|insertAdjacentHTML|srcdoc)\b|document\.write|createContextualFragment"
    r"|DOMParser|\.setHTML(Unsafe)?\b|new Function\(|\beval\("
)
# file -> the exact lines allowed, each a server-rendered fragment fetched from our own pages.
ALLOWED = {
    "fragment.js": {"holder.innerHTML = await response.text();"},  # fragmentRefresher's swap
    "run_page.js": {"holder.innerHTML = await response.text();"},  # "Load older" timeline
}


def sinks() -> list[tuple[str, str]]:
    found = []
    for path in sorted(JS.glob("*.js")):
        for line in path.read_text().splitlines():
            if SINKS.search(line):
                found.append((path.name, line.strip()))
    return found


def test_the_scripts_are_where_the_scan_looks():
    assert (JS / "run_page.js").exists() and len(list(JS.glob("*.js"))) >= 10


def test_no_script_writes_markup_except_server_rendered_fragments():
    unexpected = [(name, line) for name, line in sinks() if line not in ALLOWED.get(name, ())]
    assert not unexpected, f"HTML sinks in static/js: {unexpected}"


@pytest.mark.parametrize("line", ["el.innerHTML = msg.data.name;", "el.insertAdjacentHTML('x', s)"])
def test_the_scan_finds_a_sink(line):
    assert SINKS.search(line)
