"""The run page leads to the run's alert rules."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_run_page_links_to_its_alert_rules(owner, client):
    from runs.models import Run, RunStatus

    run = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.RUNNING)
    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert f'id="alert-rules-link" href="/alerts/runs/{run.pk}/rules/"' in page
    assert client.get(f"/alerts/runs/{run.pk}/rules/").status_code == 200
