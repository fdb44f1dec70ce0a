"""Test settings shared by every test: PostgreSQL and Redis when the environment names them,
eager Celery unless a test starts a real worker, a clean cache per test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    from celery import current_app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    current_app.conf.task_always_eager = True
    current_app.conf.task_eager_propagates = True
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _house_seller_exists(request):
    """The house seller comes from a data migration; transactional tests flush it, so put it back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    transactional = marker.kwargs.get("transaction", False)
    request.getfixturevalue("transactional_db" if transactional else "db")
    from decimal import Decimal

    from marketplace.models import HOUSE_SELLER_SLUG, Seller

    Seller.objects.get_or_create(
        is_house=True,
        defaults={"name": "Bazaar", "slug": HOUSE_SELLER_SLUG, "rating": Decimal("4.80"), "commission_rate": 0},
    )


@pytest.fixture
def house(db):
    from marketplace.models import Seller

    return Seller.objects.get(is_house=True)


def _only_test_case_atomics(connection) -> bool:
    blocks = connection.atomic_blocks
    return bool(connection.in_atomic_block and blocks and all(b._from_testcase for b in blocks))


@pytest.fixture(autouse=True)
def _commit_hooks_as_if_committed(monkeypatch):
    """Make ``transaction.on_commit`` behave in ordinary (rolled-back) tests as in production.

    Tests run inside a transaction that never commits, so on-commit work (cache bumps,
    buy-box refreshes, e-mails) would never run. Here a service's outermost ``atomic()``
    exiting cleanly counts as a commit: its hooks run then, in order. Hooks of a block that
    rolled back are discarded by Django as usual, so "nothing happens on failure" stays tested.
    Tests with ``transaction=True`` use real commits and are not affected.
    """
    from django.db import transaction
    from django.db.backends.base.base import BaseDatabaseWrapper

    original_exit = transaction.Atomic.__exit__
    original_on_commit = BaseDatabaseWrapper.on_commit

    def run_pending(connection):
        while connection.run_on_commit and not connection.needs_rollback:
            _sids, func, _robust = connection.run_on_commit.pop(0)
            func()

    def exit_(self, exc_type, exc_value, traceback):
        result = original_exit(self, exc_type, exc_value, traceback)
        connection = transaction.get_connection(self.using)
        if exc_type is None and _only_test_case_atomics(connection):
            run_pending(connection)
        return result

    def on_commit(self, func, robust=False):
        if _only_test_case_atomics(self):
            func()
            return None
        return original_on_commit(self, func, robust)

    monkeypatch.setattr(transaction.Atomic, "__exit__", exit_)
    monkeypatch.setattr(BaseDatabaseWrapper, "on_commit", on_commit)
