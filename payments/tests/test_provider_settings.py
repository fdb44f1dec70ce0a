"""The payment provider comes from settings, and a wrong setting stops start-up, not a checkout."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from payments.apps import check_payment_providers
from payments.providers import UnknownProvider, get_provider
from payments.providers.test import TestProvider


def test_the_configured_provider_is_the_one_used(settings):
    settings.PAYMENT_PROVIDER = "test"
    assert isinstance(get_provider(), TestProvider)
    assert check_payment_providers() == []


def test_a_provider_code_nobody_configured_is_refused_at_start_up(settings):
    settings.PAYMENT_PROVIDER = "paypal"
    errors = check_payment_providers()
    assert [e.id for e in errors] == ["payments.E001"]
    assert "paypal" in errors[0].msg
    with pytest.raises(SystemCheckError):
        call_command("check")
    with pytest.raises(UnknownProvider):
        get_provider()


def test_a_provider_path_that_does_not_import_is_refused_at_start_up(settings):
    settings.PAYMENT_PROVIDERS = {**settings.PAYMENT_PROVIDERS, "typo": "payments.providers.tset.TestProvider"}
    errors = check_payment_providers()
    assert len(errors) == 1
    assert "typo" in errors[0].msg
