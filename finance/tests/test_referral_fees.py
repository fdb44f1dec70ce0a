"""Referral fees: which rule applies, the per-unit minimum and rounding, the snapshot on order
lines, and who may edit the rules."""

from decimal import Decimal

import pytest
from django.urls import reverse

from finance import selectors, services
from finance.models import ReferralFeeRule
from finance.selectors import FeeLine
from orders.models import OrderLine
from tests.buying import cart_with, place
from tests.commit import committed
from tests.factories import (
    CategoryFactory,
    OfferFactory,
    ProductFactory,
    SellerFactory,
    house_seller,
    seller_member,
    shipping_method,
    staff_user,
    stock,
)

pytestmark = pytest.mark.django_db


def rule(percent: str, *, category=None, seller=None, minimum: str = "0.30") -> ReferralFeeRule:
    with committed():  # the schedule's cache is bumped on commit
        return services.referral_fee_rule_save(rule=ReferralFeeRule(
            category=category, seller=seller, percent=Decimal(percent), minimum_per_unit=Decimal(minimum)))


def fee(seller, category, amount: str, quantity: int = 1) -> tuple[Decimal, Decimal]:
    found = selectors.referral_fees([FeeLine(seller_id=seller.pk, category_id=category.pk if category else None,
                                             quantity=quantity, amount=Decimal(amount), currency="USD")])[0]
    return found.percent, found.amount


@pytest.fixture
def tree():
    home = CategoryFactory(name="Home")
    kitchen = CategoryFactory(name="Kitchen", parent=home)
    kettles = CategoryFactory(name="Kettles", parent=kitchen)
    return home, kitchen, kettles


def test_the_default_rule_is_data_fifteen_percent_at_least_thirty_cents_a_unit(tree):
    default = ReferralFeeRule.objects.get(category=None, seller=None)  # from a data migration
    assert (default.percent, default.minimum_per_unit) == (Decimal("15.00"), Decimal("0.30"))
    assert fee(SellerFactory(), tree[2], "40.00") == (Decimal("15.00"), Decimal("6.00"))


def test_the_most_specific_rule_wins(tree):
    home, kitchen, kettles = tree
    seller, other = SellerFactory(), SellerFactory()
    rule("12", category=home)
    assert fee(seller, kettles, "100.00")[0] == Decimal("12.00")  # inherited down the tree
    rule("8", category=kitchen)
    assert fee(seller, kettles, "100.00")[0] == Decimal("8.00")  # the nearest ancestor's
    assert fee(seller, home, "100.00")[0] == Decimal("12.00")
    rule("10", seller=seller)
    assert fee(seller, kettles, "100.00")[0] == Decimal("10.00")  # the seller's override beats categories
    assert fee(other, kettles, "100.00")[0] == Decimal("8.00")
    rule("6", seller=seller, category=home)
    assert fee(seller, kettles, "100.00")[0] == Decimal("6.00")  # the seller's rule for the category
    assert fee(seller, None, "100.00")[0] == Decimal("10.00")  # no category: the seller-wide rule


@pytest.mark.parametrize(("amount", "quantity", "expected"), [
    ("9.99", 1, "1.50"),  # 1.4985 rounds half up
    ("3.33", 1, "0.50"),  # 0.4995
    ("1.00", 1, "0.30"),  # 0.15 is under the minimum per unit
    ("3.00", 3, "0.90"),  # three units, 0.45 of percentage: the minimum is per unit
    ("0.00", 2, "0.60"),  # a free line still pays the minimum
    ("1000.00", 2, "150.00"),
])
def test_percentage_minimum_per_unit_and_rounding(tree, amount, quantity, expected):
    assert fee(SellerFactory(), tree[2], amount, quantity)[1] == Decimal(expected)


def test_the_house_seller_pays_no_referral_fee(tree):
    assert fee(house_seller(), tree[2], "50.00") == (Decimal("0.00"), Decimal("0.00"))


def test_placing_an_order_snapshots_the_fee_and_later_rules_change_only_later_orders(tree):
    shipping_method(channel="platform", price="0.00", code="free")
    product = ProductFactory(category=tree[2])
    offer = OfferFactory(product=product, price=Decimal("20.00"))
    stock(offer, 10)
    first = place(cart_with((offer, 2))).order
    line = OrderLine.objects.get(order=first)
    assert (line.referral_fee_percent, line.referral_fee) == (Decimal("15.00"), Decimal("6.00"))
    rule("7.5", category=tree[1])
    line.refresh_from_db()
    assert line.referral_fee == Decimal("6.00")  # the old order keeps what it was sold with
    second = place(cart_with((offer, 1)), key="second").order
    line = OrderLine.objects.get(order=second)
    assert (line.referral_fee_percent, line.referral_fee) == (Decimal("7.50"), Decimal("1.50"))


class TestAdmin:
    def test_finance_staff_add_a_rule_and_the_next_fee_uses_it(self, client, tree):
        seller = SellerFactory()
        client.force_login(staff_user("finance.add_referralfeerule", "finance.view_referralfeerule"))
        with committed():
            response = client.post(reverse("admin:finance_referralfeerule_add"), {
                "category": tree[0].pk, "seller": "", "percent": "9.25", "minimum_per_unit": "0.50"})
        assert response.status_code == 302, response.content[:2000]
        assert fee(seller, tree[2], "100.00") == (Decimal("9.25"), Decimal("9.25"))
        assert client.get(reverse("admin:finance_referralfeerule_changelist")).status_code == 200

    @pytest.mark.parametrize(("changes", "message"), [
        ({"percent": "101"}, "less than or equal to 100"),
        ({"percent": "-1"}, "greater than or equal to 0"),
        ({"minimum_per_unit": "-0.01"}, "greater than or equal to 0"),
        ({}, "already exists"),  # a second rule for every category and seller
    ])
    def test_bad_rules_are_refused_with_a_message(self, client, changes, message):
        client.force_login(staff_user("finance.add_referralfeerule"))
        data = {"category": "", "seller": "", "percent": "10", "minimum_per_unit": "0.30", **changes}
        response = client.post(reverse("admin:finance_referralfeerule_add"), data)
        assert response.status_code == 200
        assert message in response.content.decode()
        assert ReferralFeeRule.objects.count() == 1  # the default only

    def test_sellers_cannot_see_or_change_the_rules(self, client):
        seller = SellerFactory()
        client.force_login(seller_member(seller, role="owner"))
        assert client.get(reverse("admin:finance_referralfeerule_changelist")).status_code == 403
        assert client.get(reverse("admin:finance_referralfeerule_add")).status_code == 403
        view_only = staff_user("finance.view_referralfeerule")
        client.force_login(view_only)
        assert client.get(reverse("admin:finance_referralfeerule_changelist")).status_code == 200
        assert client.post(reverse("admin:finance_referralfeerule_add"), {"percent": "1"}).status_code == 403
