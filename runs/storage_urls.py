"""Signed download links for S3-like storage, on the address the browser will use.

SigV4 signs the host, so a link cannot be re-pointed after signing: with
``S3_PUBLIC_ENDPOINT_URL`` set, a second storage with that endpoint signs it. Signing is local
computation (no request to the store), so the second storage is never used for anything else.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.files.storage import Storage
from storages.backends.s3 import S3Storage


def signed_download_url(storage: Storage, name: str, filename: str) -> str:
    """A short-lived URL (the storage's ``querystring_expire``) that saves as ``filename``."""
    if not isinstance(storage, S3Storage):
        return storage.url(name)
    # default_storage is a LazyObject (set up by the isinstance above): the cache and the copy
    # below want the storage itself, which is a new one after a settings change.
    storage = getattr(storage, "_wrapped", storage)
    signer = _signer(storage, settings.S3_PUBLIC_ENDPOINT_URL)
    # Part of the signature: the store answers with these headers, and they cannot be altered.
    parameters = {
        "ResponseContentDisposition": f'attachment; filename="{filename}"',
        "ResponseContentType": "application/octet-stream",
    }
    return str(signer.url(name, parameters=parameters))


# Kept: building a boto3 client loads S3's service model (tens of milliseconds a time).
@functools.lru_cache(maxsize=8)
def _signer(storage: S3Storage, public_endpoint: str | None) -> S3Storage:
    if not public_endpoint or public_endpoint == storage.endpoint_url:
        return storage
    options = {key: getattr(storage, key) for key in storage.get_default_settings()}
    return type(storage)(**{**options, "endpoint_url": public_endpoint})
