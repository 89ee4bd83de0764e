"""Checkpoint downloads from S3-like storage: the signed link is for the address browsers use
(``S3_PUBLIC_ENDPOINT_URL``), short-lived, and saves under the checkpoint's name. Signing is
local computation, so no store is needed: the signature is checked here as SigV4 defines it."""

from __future__ import annotations

import hashlib
import hmac
import runpy
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.test import override_settings

from runs.downloads import checkpoint_download_response
from runs.models import Checkpoint

SETTINGS_FILE = Path(__file__).resolve().parents[3] / "keisei_site" / "settings.py"
SECRET = "minio-secret-key"
PUBLIC = "https://keisei.example.org"


def s3_settings(monkeypatch, public: str | None) -> dict:
    """STORAGES and S3_PUBLIC_ENDPOINT_URL as settings.py makes them for the compose file."""
    for name, value in {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": "keisei",
        "S3_ENDPOINT_URL": "http://minio:9000",
        "S3_ACCESS_KEY_ID": "keisei",
        "S3_SECRET_ACCESS_KEY": SECRET,
        "S3_REGION": "us-east-1",
        "S3_PUBLIC_ENDPOINT_URL": public or "",
    }.items():
        monkeypatch.setenv(name, value)
    made = runpy.run_path(str(SETTINGS_FILE))
    return {"STORAGES": made["STORAGES"], "S3_PUBLIC_ENDPOINT_URL": made["S3_PUBLIC_ENDPOINT_URL"]}


def download_location(monkeypatch, public: str | None) -> str:
    checkpoint = Checkpoint(
        run_id=7, step=1200, kind="periodic", file="runs/7/checkpoints/step1200.pt", size=1
    )
    with override_settings(**s3_settings(monkeypatch, public)):
        response = checkpoint_download_response(checkpoint)
    assert response.status_code == 302
    return response["Location"]


def sigv4_valid(url: str, host: str, secret: str) -> bool:
    """Whether a presigned GET verifies for a request carrying ``Host: host`` (SigV4, S3)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature")

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query.items()))
    assert query["X-Amz-SignedHeaders"] == "host"
    canonical = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{host}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    date, region, service, _ = query["X-Amz-Credential"].split("/")[1:]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def test_the_link_is_signed_for_the_public_address(monkeypatch):
    location = download_location(monkeypatch, PUBLIC)
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC
    # Path style: the proxy hands /<bucket>/... to MinIO as it came (docker/Caddyfile).
    assert parts.path == "/keisei/runs/7/checkpoints/step1200.pt"
    query = dict(parse_qsl(parts.query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith("keisei/")
    # settings.py's querystring_expire: minutes, not boto's default hour.
    assert query["X-Amz-Expires"] == "300"
    assert query["response-content-disposition"] == (
        'attachment; filename="run7-step1200-periodic.pt"'
    )
    assert query["response-content-type"] == "application/octet-stream"
    # The store checks the signature against the Host header the browser sends.
    assert sigv4_valid(location, "keisei.example.org", SECRET)
    assert not sigv4_valid(location, "minio:9000", SECRET)


def test_without_a_public_address_the_link_stays_on_the_store_endpoint(monkeypatch):
    location = download_location(monkeypatch, None)
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc) == ("http", "minio:9000")
    assert dict(parse_qsl(parts.query))["X-Amz-Expires"] == "300"
    assert sigv4_valid(location, "minio:9000", SECRET)
    assert not sigv4_valid(location, "keisei.example.org", SECRET)


def test_a_link_moved_to_another_host_after_signing_does_not_verify(monkeypatch):
    """Why a second storage signs: rewriting the host of an internal link is refused."""
    location = download_location(monkeypatch, None)
    moved = location.replace("http://minio:9000", PUBLIC)
    assert not sigv4_valid(moved, "keisei.example.org", SECRET)


@pytest.mark.parametrize(
    "raw", ["keisei.example.org", "ftp://files", "https://", "https://h/path", "https://h:x"]
)
def test_a_bad_public_endpoint_is_refused_by_name(monkeypatch, raw):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="S3_PUBLIC_ENDPOINT_URL must be"):
        s3_settings(monkeypatch, raw)
