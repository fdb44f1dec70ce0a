import pytest
from django.db import connection
from django.test import override_settings

from core import outbox
from core.tests.test_cache import DOWN_REDIS
from tests.commit import committed
from tests.redis_server import DEAD_BROKER, celery_broker

pytestmark = pytest.mark.django_db


def test_healthz_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


def test_readyz_checks_database_cache_and_broker(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["ready"], body["degraded"]) == ("ok", True, [])
    assert set(body["checks"]) == {"database", "cache", "broker", "outbox"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["critical"] is True
    assert body["checks"]["outbox"]["pending"] == 0


def test_a_broken_cache_is_reported_without_taking_the_node_out(client):
    with override_settings(CACHES=DOWN_REDIS):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["ready"], body["degraded"]) == ("degraded", True, ["cache"])
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_a_broker_outage_is_reported_with_the_waiting_tasks_without_taking_the_node_out(client):
    with celery_broker(DEAD_BROKER):
        with committed():
            outbox.enqueue("core.tasks.sweep_outbox")  # cannot be published: it waits in the outbox
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["ready"], body["degraded"]) == ("degraded", True, ["broker"])
    assert body["checks"]["broker"] == {"ok": False, "error": "OperationalError", "critical": False,
                                        "ms": body["checks"]["broker"]["ms"]}
    assert body["checks"]["outbox"]["pending"] == 1


@pytest.mark.django_db(transaction=True)
def test_readyz_fails_only_when_the_database_does_not_answer(client):
    settings_dict = connection.settings_dict
    saved = settings_dict["HOST"], settings_dict["PORT"]
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", "1"  # nothing listens there
    try:
        with override_settings(CACHES=DOWN_REDIS):  # Redis down too: the database still decides
            response = client.get("/readyz")
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["ready"]) == ("unavailable", False)
    assert body["checks"]["database"]["ok"] is False
    assert "outbox" not in body["checks"]
    assert client.get("/readyz").status_code == 200  # and back once it answers


def test_request_id_is_echoed_when_sane(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id!\n")["X-Request-ID"] != "bad id!\n"


def test_the_favicon_is_the_shops_icon_and_every_page_names_it(client):
    """Browsers ask for /favicon.ico where a page names no icon (the admin's): never a 404 there."""
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
    assert finders.find("img/favicon.svg")
    assert 'rel="icon"' in client.get("/cart/").content.decode()
