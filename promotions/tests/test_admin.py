from decimal import Decimal

import pytest

from promotions.models import Voucher, VoucherRedemption

pytestmark = pytest.mark.django_db


def test_voucher_admin_lists_searches_and_generates_single_use_codes(admin_client):
    v = Voucher.objects.create(code="SPRING", kind="fixed", value=Decimal("5.00"), max_uses=None)
    VoucherRedemption.objects.create(voucher=v, order_number="AB12", email="a@example.com", amount=Decimal("5.00"))
    assert admin_client.get("/admin/promotions/voucher/?q=spring&active__exact=1").status_code == 200
    assert admin_client.get(f"/admin/promotions/voucher/{v.pk}/change/").status_code == 200
    response = admin_client.post("/admin/promotions/voucher/",
                                 {"action": "generate_single_use_codes", "_selected_action": [v.pk]}, follow=True)
    assert response.status_code == 200
    copies = Voucher.objects.exclude(pk=v.pk)
    assert copies.count() == 100
    assert set(copies.values_list("max_uses", flat=True)) == {1}
    assert admin_client.get("/admin/promotions/voucherredemption/").status_code == 200
    assert admin_client.get("/admin/promotions/voucherredemption/add/").status_code == 403
