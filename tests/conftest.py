"""Fixtures for the cross-app journeys and browser tests under tests/."""

from tests.stripe_standin.fixtures import fake_stripe  # noqa: F401  (a fixture: Stripe is a local fake)
