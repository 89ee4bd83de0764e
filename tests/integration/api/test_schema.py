"""``/api/schema/`` is a valid OpenAPI 3 document that names every route and method of the
API (walked from the URL configuration, so a route added later cannot be left out), with the
one refusal body; ``/api/docs/`` shows it with Swagger UI from our own static files."""

from __future__ import annotations

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> dict[str, set[str]]:
    """Every route under /api/v1/ as the schema writes it (``{run_id}``), with the methods
    its view answers."""
    found: dict[str, set[str]] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("/api/v1/"):
                view = pattern.callback.view_class  # type: ignore[attr-defined]
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
                found[path] = {m for m in METHODS if hasattr(view, m)}

    walk(get_resolver().url_patterns, "/")
    return found


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 meta-schema


def test_yaml_is_the_default_and_says_the_same(client, schema):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert "yaml" in response["Content-Type"] or "openapi" in response["Content-Type"]
    assert yaml.safe_load(response.content) == schema


def test_every_route_and_method_is_in_the_schema(schema):
    routes = api_routes()
    assert len(routes) >= 25
    for path, methods in routes.items():
        assert path in schema["paths"], f"{path} is missing from the schema"
        described = set(schema["paths"][path]) & set(METHODS)
        assert methods <= described, f"{path}: {methods - described} not described"
    for new in (
        "/api/v1/runs/{run_id}/events/",
        "/api/v1/trainers/{name}/validate/",
        "/api/v1/me/",
    ):
        assert new in schema["paths"]


def test_every_operation_answers_success_and_the_one_refusal_body(schema):
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error", "detail"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert any(s.startswith(("2", "3")) for s in statuses), (method, path)
            assert {"401", "429"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            for status, response in operation["responses"].items():
                if status.startswith("4") or status.startswith("5"):
                    body = response["content"]["application/json"]["schema"]
                    assert body == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_the_run_list_describes_its_filters_and_paging(schema):
    listing = schema["paths"]["/api/v1/runs/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {
        "status",
        "trainer",
        "owner",
        "tag",
        "created_after",
        "created_before",
        "search",
        "ordering",
        "cursor",
        "page_size",
    } <= names
    ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(page["required"]) == {"next", "previous", "results"}
    patch = schema["paths"]["/api/v1/runs/{run_id}/"]["patch"]
    assert "409" in patch["responses"]


def test_the_docs_page_uses_our_own_swagger_ui(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert f"/static/vendor/swagger-ui/{asset}" in page
        assert finders.find(f"vendor/swagger-ui/{asset}"), f"{asset} is not a static file"
    assert not re.search(r"""(src|href)=["']https?://""", page), "an asset from elsewhere"
    # The start-up script is fetched, not inline (the CSP): it names the schema.
    assert 'src="/api/docs/?script="' in page
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
