from __future__ import annotations

import threading
import time

import pytest

from payments.providers import base as providers
from payments.providers.test import TestProvider
from tests.providers import payment_provider


class RecordingProvider(TestProvider):
    """The test provider, counting each call (and optionally slow, to overlap concurrent callers)."""

    code = "recording"

    def __init__(self, calls: list, delay: float = 0.0, fail: bool = False) -> None:
        self.calls, self.delay, self.fail = calls, delay, fail

    def authorize(self, amount, currency, payment_method, idempotency_key, metadata):
        self.calls.append(("authorize", idempotency_key))
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise providers.ProviderError("connection reset")
        return super().authorize(amount, currency, payment_method, idempotency_key, metadata)

    def capture(self, reference, amount, currency, idempotency_key):
        self.calls.append(("capture", idempotency_key))
        return super().capture(reference, amount, currency, idempotency_key)

    def refund(self, reference, amount, currency, idempotency_key):
        self.calls.append(("refund", idempotency_key))
        return super().refund(reference, amount, currency, idempotency_key)


class Recorder:
    def __init__(self) -> None:
        self.calls: list = []
        self.delay = 0.0
        self.fail = False
        self.lock = threading.Lock()

    def count(self, kind: str) -> int:
        return sum(1 for name, _key in self.calls if name == kind)


@pytest.fixture
def recorder():
    rec = Recorder()
    with payment_provider("recording", lambda: RecordingProvider(rec.calls, delay=rec.delay, fail=rec.fail)):
        yield rec
