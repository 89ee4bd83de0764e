"""A file streamed from a sync iterator, under ASGI as under WSGI.

It lives in the lowest app so that every app's downloads share it (the audit CSV, a run's
metric CSV).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import AnyStr

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse


def streamed_file(
    request: HttpRequest, chunks: Iterator[AnyStr], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    """An attachment whose body is ``chunks``, pulled one at a time.

    Under ASGI (Daphne) Django reads a sync iterator whole into memory before the first byte
    goes out; an async iterator that pulls one chunk at a time on the request's thread (where
    its database connection and any server-side cursor live) keeps memory flat.
    """
    content = _pulled(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _next_chunk(chunks: Iterator[AnyStr]) -> AnyStr | None:
    return next(chunks, None)


async def _pulled(chunks: Iterator[AnyStr]) -> AsyncIterator[AnyStr]:
    pull = sync_to_async(_next_chunk, thread_sensitive=True)
    try:
        while (chunk := await pull(chunks)) is not None:
            yield chunk
    finally:
        # A client that goes away mid-file: close the cursor (or end the COPY) on the same
        # thread.
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()
