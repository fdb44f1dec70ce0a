"""Test settings shared by every test: PostgreSQL and Redis when the environment names them,
eager Celery unless a test starts a real worker, a clean cache per test.

Ordinary tests run in a transaction that is rolled back, so on-commit work (e-mails, outbox
hand-offs, cache bumps, buy-box refreshes) runs only where a test says its calls commit:
``with committed():`` (tests/commit.py, Django's public ``captureOnCommitCallbacks``), or with real
commits under ``@pytest.mark.django_db(transaction=True)``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest


def _redis_url_of_worker(url: str, index: int) -> str:
    """``url`` moved ``index`` Redis databases on: redis://host:6379/1 -> redis://host:6379/2 for 1."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0) + index
    return urlunsplit(parts._replace(path=f"/{db}"))


def pytest_configure(config):
    """Each test process of a parallel run (pytest-xdist's gw0, gw1, ...) has a Redis database of its
    own: the cache is flushed around every test and the real workers' queues must not be shared.
    gw0 keeps REDIS_URL's database, gw1 takes the next one, and so on. (pytest-django likewise gives
    each process a test database of its own: test_bazaar_gw0, test_bazaar_gw1, ...)"""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    from django.conf import settings

    if not worker.startswith("gw") or not settings.REDIS_URL:
        return
    index = int(worker[2:])
    if index == 0:
        return
    shared = settings.REDIS_URL
    own = _redis_url_of_worker(shared, index)
    settings.REDIS_URL = own
    for cache in settings.CACHES.values():
        if cache.get("LOCATION") == shared:
            cache["LOCATION"] = own
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        if getattr(settings, name) == shared:
            setattr(settings, name, own)
    from celery import current_app

    current_app.conf.broker_url = settings.CELERY_BROKER_URL  # in case Celery read its settings already
    current_app.conf.result_backend = settings.CELERY_RESULT_BACKEND


@pytest.fixture(scope="session", autouse=True)
def _static_files_listed_once():
    """WhiteNoise lists the static files once per test process, not once per test client.

    Every test client (and the live server) builds Django's middleware, and WhiteNoise, serving from
    the finders outside production (WHITENOISE_USE_FINDERS), walks, stats and reads the headers of
    every static file of every app each time: a tenth of the suite's time. The files do not change
    during a run, so the entries the first listing made are kept and added again as they were, for as
    long as the settings that shape them are the same."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    list_files = WhiteNoiseMiddleware.add_files_from_finders
    listed: dict = {}

    def add_files_from_finders(self):
        names = ["DEBUG", "FORCE_SCRIPT_NAME", "STATIC_ROOT", "STATIC_URL", "STATICFILES_DIRS", "STATICFILES_FINDERS",
                 "STORAGES", *sorted(name for name in dir(settings) if name.startswith("WHITENOISE_"))]
        key = tuple(repr(getattr(settings, name, None)) for name in names)
        if key not in listed:
            before = dict(self.files)
            list_files(self)
            listed[key] = {url: entry for url, entry in self.files.items() if before.get(url) is not entry}
        self.files.update(listed[key])

    WhiteNoiseMiddleware.add_files_from_finders = add_files_from_finders
    yield
    WhiteNoiseMiddleware.add_files_from_finders = list_files


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    from celery import current_app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    current_app.conf.task_always_eager = True
    current_app.conf.task_eager_propagates = True
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "private")}}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    from core import cache as vcache

    cache.clear()
    vcache.local_clear()  # what this process holds of the cache goes with it
    yield
    cache.clear()
    vcache.local_clear()


@pytest.fixture(autouse=True)
def _migrated_data_exists(request):
    """The house seller, the referral fee rule for every category and seller, and the size tiers
    with their fee rates come from data migrations; transactional tests flush them, so put them back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    transactional = marker.kwargs.get("transaction", False)
    request.getfixturevalue("transactional_db" if transactional else "db")
    from decimal import Decimal

    from finance.models import ReferralFeeRule
    from marketplace.models import HOUSE_SELLER_SLUG, Seller

    Seller.objects.get_or_create(
        is_house=True,
        defaults={"name": "Bazaar", "slug": HOUSE_SELLER_SLUG, "rating": Decimal("4.80")},
    )
    ReferralFeeRule.objects.get_or_create(
        category=None, seller=None, defaults={"percent": Decimal("15.00"), "minimum_per_unit": Decimal("0.30")}
    )
    from fulfillment.models import SizeTier

    if not SizeTier.objects.exists():  # the size tiers and fee rates of fulfillment's data migration
        import importlib

        from django.apps import apps

        importlib.import_module("fulfillment.migrations.0006_default_size_tiers").add(apps, None)
        importlib.import_module("fulfillment.migrations.0009_default_storage_rates").add(apps, None)
        importlib.import_module("fulfillment.migrations.0012_default_aged_surcharge").add(apps, None)


@pytest.fixture
def house(db):
    from marketplace.models import Seller

    return Seller.objects.get(is_house=True)
