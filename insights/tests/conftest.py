"""Insights test helpers: the Redis buffer as it is (the tests run on real Redis and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client

from core import analytics

SAME_ORIGIN = {"HTTP_SEC_FETCH_SITE": "same-origin"}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(autouse=True)
def _buffer_breaker_closed():
    """A test that took Redis down leaves the buffer bypassed for a few seconds: not for the next test."""
    analytics._breaker.open_until = 0.0
    yield
    analytics._breaker.open_until = 0.0


class Buffer:
    def __init__(self, client):
        self.client = client
        self.key = analytics.buffer_key()

    def records(self) -> list[dict]:
        return [json.loads(raw) for raw in self.client.lrange(self.key, 0, -1)]

    def push(self, *raw) -> None:
        self.client.rpush(self.key, *raw)

    def __len__(self) -> int:
        return self.client.llen(self.key)


@pytest.fixture
def buffer() -> Buffer:
    client = analytics.redis_client()
    if client is None:
        pytest.skip("needs REDIS_URL (services mode)")
    buffer = Buffer(client)
    client.delete(buffer.key)
    yield buffer
    client.delete(buffer.key)


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")


@pytest.fixture
def browser() -> Client:
    """A visitor's browser: a desktop user agent, and same-origin fetches."""
    return Client(HTTP_USER_AGENT=FIREFOX)
