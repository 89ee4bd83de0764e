"""Serving checkpoint files and game records (the caller checked access: ``runs.access``)."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

from runs.models import Checkpoint, GameRecord
from runs.storage_urls import signed_download_url

GAME_RECORD_FORMATS = ("kif", "csa")


def checkpoint_download_response(checkpoint: Checkpoint) -> HttpResponseBase:
    """The file itself from local storage; a short-lived signed URL from S3-like storage."""
    storage = checkpoint.file.storage
    filename = f"run{checkpoint.run_id}-step{checkpoint.step}-{checkpoint.kind}.pt"
    try:
        storage.path(checkpoint.file.name)
    except NotImplementedError:
        return HttpResponseRedirect(signed_download_url(storage, checkpoint.file.name, filename))
    # Said outright: guessed from ".pt", the type would be a Super Nintendo page table.
    response = FileResponse(
        storage.open(checkpoint.file.name, "rb"),
        as_attachment=True,
        filename=filename,
        content_type="application/octet-stream",
    )
    response["X-Checksum-Sha256"] = checkpoint.sha256
    return response


def game_record_download_response(record: GameRecord, fmt: str) -> HttpResponse:
    """One game as a KIF or CSA text file."""
    text = record.kif if fmt == "kif" else record.csa
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    filename = f"run{record.run_id}-game{record.pk}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
