"""CSV cells a spreadsheet will not run (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return as a formula (``=HYPERLINK(...)``, ``@SUM(...)``, DDE). Every CSV
export that writes a string someone typed (a metric key, a name, a tag) passes it through
``neutralise_cell`` first, so it opens as text. Numbers are written as numbers and never
passed here: ``-1.5`` must stay a number. Standard library alone, so the site, the audit
log and the command-line client share it.
"""

from __future__ import annotations

# What a spreadsheet reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula; the
    apostrophe is what spreadsheets themselves use to mark a cell as text."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
