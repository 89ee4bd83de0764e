"""The API's browsable docs (/api/docs/, Swagger UI from our own static files) render the
schema in Chromium under the site's Content-Security-Policy: no inline script or style."""

from __future__ import annotations

from playwright.sync_api import expect


def test_the_api_docs_render_under_the_content_security_policy(page, daphne_server):
    """Seen failing with drf-spectacular's own page (inline start-up script and style block):
    CSP violations reported, and no operations drawn."""
    response = page.goto(f"{daphne_server}/api/docs/")
    assert (
        response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    )
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Keisei Site API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
