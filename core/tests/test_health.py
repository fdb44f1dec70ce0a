import pytest
from django.test import override_settings

from core.tests.test_cache import DOWN_REDIS

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
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_reports_a_broken_cache_as_unavailable(client):
    with override_settings(CACHES=DOWN_REDIS):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_request_id_is_echoed_when_sane(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id!\n")["X-Request-ID"] != "bad id!\n"
