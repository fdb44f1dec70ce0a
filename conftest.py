"""Test settings shared by every test: PostgreSQL and Redis when the environment names them,
eager Celery unless a test starts a real worker, a clean cache per test.

Ordinary tests run in a transaction that is rolled back, so on-commit work (e-mails, outbox
hand-offs, cache bumps, buy-box refreshes) runs only where a test says its calls commit:
``with committed():`` (tests/commit.py, Django's public ``captureOnCommitCallbacks``), or with real
commits under ``@pytest.mark.django_db(transaction=True)``."""

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
