"""Every page carries the security headers, over a real Daphne; HSTS is sent where the site
is served over TLS (``BEHIND_TLS_PROXY``), and a request the proxy marks as https gets it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx


def test_a_page_carries_the_security_headers(daphne_server):
    response = httpx.get(f"{daphne_server}/accounts/login/", timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def hsts_seconds(**env: str) -> int:
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(settings.SECURE_HSTS_SECONDS)"
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "keisei_site.settings", **env}
    environment.pop("SECURE_HSTS_SECONDS", None)
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip().splitlines()[-1])


def test_hsts_is_on_behind_the_tls_proxy_and_off_otherwise():
    assert hsts_seconds(BEHIND_TLS_PROXY="1") == 31_536_000
    assert hsts_seconds(BEHIND_TLS_PROXY="0") == 0
    assert hsts_seconds(BEHIND_TLS_PROXY="1", SECURE_HSTS_SECONDS="0") == 0
