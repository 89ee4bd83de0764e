"""The audit log for staff: ``/audit/`` (filters and pages) and ``/audit/export.csv``.

Anyone signed in who is not staff gets a 404 on both, as for a page that does not exist;
nobody signed in is sent to the login page.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from audit import selectors
from audit.forms import AuditFilterForm
from audit.streaming import streamed_file
from keisei_fields.spreadsheet import neutralise_cell

PAGE_SIZE = 50
# Rows per chunk of the streamed CSV (one thread hop and one write each under ASGI).
CSV_CHUNK_ROWS = 500


def _staff_only(request: HttpRequest) -> None:
    if not selectors.audit_readable_by(request.user):
        raise Http404("no such page")


@login_required
def audit_page(request: HttpRequest) -> HttpResponse:
    """One page of the entries the filters pick, newest first."""
    _staff_only(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/entries.html", {"form": form, "page": None}, status=400)
    entries = selectors.entries_filtered(form.filters())
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/entries.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


class _Echo:
    """A file whose write hands the line back, for csv.writer in a streamed response."""

    def write(self, value: str) -> str:
        return value


def _csv_chunks(rows: Iterator[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    chunk = [writer.writerow(selectors.CSV_COLUMNS)]
    for row in rows:
        # A cell a spreadsheet would run as a formula (= + - @ ...) is written as text.
        chunk.append(
            writer.writerow([neutralise_cell(c) if isinstance(c, str) else c for c in row])
        )
        if len(chunk) >= CSV_CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


@login_required
def audit_export(request: HttpRequest) -> HttpResponseBase:
    """Every entry the filters pick, as CSV (streamed: the log can be long)."""
    _staff_only(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        reasons = "; ".join(
            f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in form.errors.items()
        )
        return HttpResponse(
            f"Bad filter: {reasons}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    chunks = _csv_chunks(selectors.entries_as_rows(selectors.entries_filtered(form.filters())))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return streamed_file(
        request, chunks, content_type="text/csv; charset=utf-8", filename=f"audit-{stamp}.csv"
    )
