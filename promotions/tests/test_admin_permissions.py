"""Minting voucher codes in bulk needs ``promotions.generate_vouchers``: staff who may only view (or
even edit) vouchers neither see the action nor mint codes with a forged POST."""

from __future__ import annotations

from decimal import Decimal

import pytest

from promotions.models import Voucher
from tests.factories import admin_action, admin_actions, staff_user

pytestmark = pytest.mark.django_db
URL = "/admin/promotions/voucher/"


@pytest.fixture
def voucher():
    return Voucher.objects.create(code="SPRING", kind="fixed", value=Decimal("5.00"), max_uses=None)


@pytest.mark.parametrize(
    "held", [("promotions.view_voucher",), ("promotions.view_voucher", "promotions.change_voucher")],
    ids=["view-only", "view-and-change"],
)
def test_staff_without_generate_vouchers_cannot_mint_codes(client, voucher, held):
    client.force_login(staff_user(*held))
    response = client.get(URL)
    assert response.status_code == 200
    assert "generate_single_use_codes" not in admin_actions(response)

    assert admin_action(client, URL, "generate_single_use_codes", voucher, follow=True).status_code == 200

    assert Voucher.objects.count() == 1


def test_generate_vouchers_permission_mints_the_codes(client, voucher):
    client.force_login(staff_user("promotions.view_voucher", "promotions.generate_vouchers"))
    assert admin_actions(client.get(URL)) == {"generate_single_use_codes"}

    admin_action(client, URL, "generate_single_use_codes", voucher)

    assert Voucher.objects.exclude(pk=voucher.pk).filter(max_uses=1).count() == 100
