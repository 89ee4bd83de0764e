"""Serving checkpoint files to people allowed to see the run."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse, HttpResponseRedirect

from runs.models import Checkpoint


def checkpoint_download_response(checkpoint: Checkpoint) -> HttpResponse:
    """The file itself from local storage; a short-lived signed URL from S3-like storage."""
    storage = checkpoint.file.storage
    filename = f"run{checkpoint.run_id}-step{checkpoint.step}-{checkpoint.kind}.pt"
    try:
        storage.path(checkpoint.file.name)
    except NotImplementedError:
        return HttpResponseRedirect(storage.url(checkpoint.file.name))
    response = FileResponse(
        storage.open(checkpoint.file.name, "rb"), as_attachment=True, filename=filename
    )
    response["X-Checksum-Sha256"] = checkpoint.sha256
    return response
