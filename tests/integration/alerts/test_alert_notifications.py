"""What a fired alert sets off: the owner's notification (read/unread, over the API), an
e-mail through Django's backend, and webhooks signed with HMAC-SHA256, delivered by a real
worker to a real HTTP server on 127.0.0.1, retried with backoff, logged; and rule tuning over
the API, refused field by field."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from alerts import services
from alerts.models import Alert, WebhookDelivery
from runs.models import Run, RunStatus
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ALERT = {
    "rule": "kl_spike",
    "key": "losses/approx_kl",
    "step": 320,
    "value": 0.4,
    "threshold": 0.05,
    "evidence": {"updates": 3, "since_step": 256},
    "paused": False,
}


def a_run(owner) -> Run:
    return Run.objects.create(owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.RUNNING)


class Hook:
    """A webhook receiver: answers each POST with the next status of ``answers`` (then 200)
    and keeps what it received."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.received: list[tuple[float, dict[str, str], bytes]] = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append((time.monotonic(), dict(self.headers), body))
                status = hook.answers.pop(0) if hook.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook([500])  # the first attempt fails: a retry must follow
    yield receiver
    receiver.close()


def test_a_webhook_is_signed_retried_with_backoff_and_logged(
    celery_worker, owner, outsider, hook, api_client
):
    endpoint = services.webhook_endpoint_create(user=owner, url=hook.url)
    services.webhook_endpoint_create(user=outsider, url=hook.url)  # not the run's owner
    alert = services.alert_record(run_id=a_run(owner).pk, message="kl_spike: high", data=ALERT)
    delivery = WebhookDelivery.objects.get(alert=alert)
    assert delivery.endpoint == endpoint

    def delivered():
        delivery.refresh_from_db()
        return delivery.state == "delivered"

    wait_for(delivered, timeout=60, what="the webhook delivery")
    assert (delivery.attempts, delivery.status_code, delivery.last_error) == (2, 200, "")
    assert len(hook.received) == 2  # the outsider's endpoint got nothing
    (first_at, first_headers, first_body), (second_at, headers, body) = hook.received
    assert second_at - first_at >= services.WEBHOOK_FIRST_RETRY_SECONDS * 0.9
    assert (first_headers["X-Keisei-Attempt"], headers["X-Keisei-Attempt"]) == ("1", "2")
    expected = "sha256=" + hmac.new(endpoint.secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Keisei-Signature"], expected)
    payload = json.loads(body)
    assert (payload["rule"], payload["run"], payload["step"], payload["evidence"]) == (
        "kl_spike",
        alert.run_id,
        320,
        ALERT["evidence"],
    )
    log = api_client(owner).get("/api/v1/alerts/webhooks/deliveries/").json()
    assert [(d["alert"], d["state"], d["attempts"], d["status_code"]) for d in log] == [
        (alert.pk, "delivered", 2, 200)
    ]
    assert api_client(outsider).get("/api/v1/alerts/webhooks/deliveries/").json() == []


def test_a_failed_attempt_schedules_the_next_and_the_last_gives_up(celery_worker, owner):
    # Port 9 (discard): nobody listens, every attempt fails to connect.
    endpoint = services.webhook_endpoint_create(user=owner, url="http://127.0.0.1:9/hook")
    alert = services.alert_record(run_id=a_run(owner).pk, message="m", data=ALERT)
    delivery = WebhookDelivery.objects.get(alert=alert, endpoint=endpoint)

    def retry_scheduled():
        delivery.refresh_from_db()
        return delivery.attempts >= 1 and delivery.next_retry_at is not None

    wait_for(retry_scheduled, timeout=60, what="the first attempt's retry to be scheduled")
    assert delivery.state == "pending" and delivery.status_code is None
    assert "Connection" in delivery.last_error or "refused" in delivery.last_error

    # The last attempt (asked here, of a delivery no task was sent for) gives up.
    last = WebhookDelivery.objects.create(
        endpoint=endpoint,
        alert=Alert.objects.create(run=alert.run, rule="kl_spike", step=1, message="m"),
        attempts=services.WEBHOOK_ATTEMPTS - 1,
    )
    assert services.webhook_deliver(delivery_id=last.pk) == "failed"
    last.refresh_from_db()
    assert (last.state, last.attempts, last.next_retry_at) == (
        "failed",
        services.WEBHOOK_ATTEMPTS,
        None,
    )
    assert services.webhook_deliver(delivery_id=last.pk) == "nothing to do"
    assert [services.webhook_retry_delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]


def test_the_owner_is_emailed_through_djangos_backend(owner, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    owner.email = "olivia@example.org"
    owner.save()
    run = a_run(owner)
    alert = services.alert_record(run_id=run.pk, message="kl_spike: high", data=ALERT)
    assert services.alert_email_send(alert_id=alert.pk) is True
    (sent,) = list(tmp_path.iterdir())
    text = sent.read_text()
    assert "To: olivia@example.org" in text
    assert f"run {run.pk}" in text and "kl_spike: high" in text and "since_step" in text


def test_notifications_are_the_owners_and_can_be_marked_read(owner, outsider, api_client):
    alert = services.alert_record(run_id=a_run(owner).pk, message="kl_spike: high", data=ALERT)
    mine = api_client(owner).get("/api/v1/alerts/notifications/").json()
    assert mine["unread"] == 1
    assert [n["alert"]["id"] for n in mine["results"]] == [alert.pk]
    assert mine["results"][0]["alert"]["evidence"] == ALERT["evidence"]
    assert api_client(outsider).get("/api/v1/alerts/notifications/").json()["unread"] == 0
    assert api_client(outsider).post("/api/v1/alerts/notifications/read/").json() == {"marked": 0}
    marked = api_client(owner).post(
        "/api/v1/alerts/notifications/read/", {"ids": [mine["results"][0]["id"]]}, format="json"
    )
    assert marked.json() == {"marked": 1}
    assert api_client(owner).get("/api/v1/alerts/notifications/").json()["unread"] == 0


def test_rules_are_tuned_per_run_and_bad_settings_are_refused_by_field(owner, outsider, api_client):
    run = a_run(owner)
    url = f"/api/v1/runs/{run.pk}/alert-rules/"
    bad = api_client(owner).put(
        url, {"rules": {"kl_spike": {"target": -1}, "nope": {}}}, format="json"
    )
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert fields["rules.kl_spike.target"] == ["must be at least 0"]
    assert "rules.nope" in fields
    assert api_client(owner).get(url).json()["overrides"] == {}  # nothing stored
    good = api_client(owner).put(
        url, {"rules": {"kl_spike": {"target": 0.02, "pause": True}}}, format="json"
    )
    assert good.status_code == 200, good.content
    effective = good.json()["effective"]["kl_spike"]
    assert (effective["target"], effective["pause"], effective["updates"]) == (0.02, True, 3)
    assert api_client(outsider).put(url, {"rules": {}}, format="json").status_code == 404


def test_a_run_following_a_preset_takes_its_rules_under_its_own(owner, outsider, api_client):
    from runs.models import Preset

    preset = Preset.objects.create(owner=owner, name="watched", trainer="shogi-ppo", config={})
    others = Preset.objects.create(owner=outsider, name="theirs", trainer="shogi-ppo", config={})
    preset_url = f"/api/v1/presets/{preset.pk}/alert-rules/"
    answer = api_client(owner).put(
        preset_url, {"rules": {"clip_stuck": {"bound": 0.5, "updates": 20}}}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert api_client(outsider).get(preset_url).status_code == 404
    run = a_run(owner)
    url = f"/api/v1/runs/{run.pk}/alert-rules/"
    refused = api_client(owner).put(url, {"rules": {}, "follows_preset": others.pk}, format="json")
    assert refused.status_code == 400 and "follows_preset" in refused.json()["error"]["fields"]
    answer = api_client(owner).put(
        url,
        {"rules": {"clip_stuck": {"updates": 5}}, "follows_preset": preset.pk},
        format="json",
    )
    clip = answer.json()["effective"]["clip_stuck"]
    assert (clip["bound"], clip["updates"]) == (0.5, 5)  # the preset's, then the run's own
    assert answer.json()["effective"]["kl_spike"]["target"] == 0.05  # the trainer's default


def test_the_header_count_is_the_unread_alerts_of_whoever_asks(owner, outsider, rf):
    from alerts.context_processors import unread

    services.alert_record(run_id=a_run(owner).pk, message="m", data=ALERT)
    for user, count in ((owner, 1), (outsider, 0)):
        request = rf.get("/")
        request.user = user
        assert unread(request)["alerts_unread"]() == count


def test_the_pages_list_alerts_mark_them_read_and_tune_rules(owner, client):
    run = a_run(owner)
    services.alert_record(run_id=run.pk, message="kl_spike: approximate KL high", data=ALERT)
    client.force_login(owner)
    page = client.get("/alerts/").content.decode()
    assert "approximate KL high" in page and "(1 unread)" in page
    assert client.post("/alerts/read/").status_code == 302
    assert "(0 unread)" in client.get("/alerts/").content.decode()

    rules_url = f"/alerts/runs/{run.pk}/rules/"
    bad = client.post(rules_url, {"rules": '{"kl_spike": {"updates": 0}}'})
    assert bad.status_code == 400
    assert "rules.kl_spike.updates: must be at least 1" in bad.content.decode()
    not_json = client.post(rules_url, {"rules": "{kl"})
    assert not_json.status_code == 400 and "not JSON" in not_json.content.decode()
    saved = client.post(rules_url, {"rules": '{"kl_spike": {"updates": 7}}'})
    assert saved.status_code == 302
    assert 'data-rule="kl_spike"' in client.get(rules_url).content.decode()
    from alerts.selectors import rules_for_run

    assert rules_for_run(run=run)["effective"]["kl_spike"]["updates"] == 7
