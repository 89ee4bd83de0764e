"""The audit export's cells and the audit page's filters, without a database."""

from __future__ import annotations

import csv
import datetime as dt
import io

from audit.forms import AuditFilterForm
from audit.views import _csv_chunks


def _parsed(rows):
    return list(csv.reader(io.StringIO("".join(_csv_chunks(iter(rows))))))


def test_cells_a_spreadsheet_would_run_are_written_as_text():
    rows = _parsed([['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "plain", 7, ""]])
    assert rows[0][0] == "time"  # the header first
    assert rows[1] == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "plain", "7", ""]


def test_many_rows_come_in_several_chunks_and_none_is_lost():
    chunks = list(_csv_chunks(iter([["row", i] for i in range(1234)])))
    assert len(chunks) > 1
    assert len(_parsed([["row", i] for i in range(1234)])) == 1235


def test_filters_are_read_from_the_query():
    form = AuditFilterForm(
        {"user": " olivia ", "action": "run.edit", "target": "run:12", "since": "2026-01-02"}
    )
    assert form.is_valid(), form.errors
    filters = form.filters()
    assert (filters.username, filters.action, filters.target_type, filters.target_id) == (
        "olivia",
        "run.edit",
        "run",
        "12",
    )
    assert filters.since == dt.date(2026, 1, 2) and filters.until is None


def test_bad_filters_are_refused_naming_the_field():
    form = AuditFilterForm(
        {"action": "run.explode", "target": "run 12", "since": "2026-02-30", "until": "yesterday"}
    )
    assert not form.is_valid()
    assert set(form.errors) == {"action", "target", "since", "until"}
    backwards = AuditFilterForm({"since": "2026-03-02", "until": "2026-03-01"})
    assert not backwards.is_valid() and set(backwards.errors) == {"until"}
