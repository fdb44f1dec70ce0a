"""A stand-in for Stripe in tests (never shipped): an in-memory Stripe API that our adapter talks to
through a stubbed ``stripe.HTTPClient`` (:mod:`tests.stripe_standin.fake`), and a stand-in for
Stripe.js that the test server serves, confirming against the same state in the browser
(:mod:`tests.stripe_standin.urls`, ``stripe.js``). The ``fake_stripe`` fixture
(:mod:`tests.stripe_standin.fixtures`) switches the shop to it."""
