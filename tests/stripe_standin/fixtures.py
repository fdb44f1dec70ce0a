"""The ``fake_stripe`` fixture: the shop runs on Stripe, and Stripe is a :class:`FakeStripe`.

It sets ``PAYMENT_PROVIDER = "stripe"`` and the Stripe keys, registers the Stripe provider with the
fake's HTTP client, points ``STRIPE_JS_URL`` at the Stripe.js stand-in, and serves the stand-in with
the shop's URLs (``ROOT_URLCONF``). Everything is put back afterwards."""

from __future__ import annotations

import pytest

from payments.providers.stripe import StripeProvider
from tests.providers import payment_provider
from tests.stripe_standin import urls
from tests.stripe_standin.fake import FakeStripe


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe()
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = fake.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = fake.publishable_key
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    settings.STRIPE_JS_URL = urls.JS_URL
    settings.ROOT_URLCONF = urls.urlconf(fake)
    with payment_provider("stripe", lambda: StripeProvider(
            secret_key=fake.secret_key, webhook_secret=fake.webhook_secret, http_client=fake.http_client)):
        yield fake
