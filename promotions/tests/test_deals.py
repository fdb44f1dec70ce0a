"""Lightning deals: pricing (units, limits, members, dates, stacking), claims and releases,
validation, and the cache bumps that keep pages fresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import cache_keys
from core import cache as vcache
from core.money import Money
from promotions import deals, services
from promotions.models import Deal, DealClaim, Promotion
from promotions.tests.deal_helpers import D, labels, make_deal, price
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, shipping_method

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def methods():
    shipping_method(channel="platform", price="0.00", code="free")


@pytest.fixture
def kettle():
    return OfferFactory(price=D("20.00"), product=ProductFactory(title="Kettle"))


def line(offer, quantity=1, amount=None):
    unit = Money(offer.price)
    return services.PromoLine(product_id=offer.product_id, seller_id=offer.seller_id,
                              amount=amount or unit * quantity, quantity=quantity, offer_id=offer.pk, unit_price=unit)


# --- pricing ---------------------------------------------------------------------------------


def test_the_deal_price_applies_to_every_unit_with_a_clear_label(kettle):
    deal = make_deal(kettle, price="15.00", cap=10)
    priced = price((kettle, 3))
    assert labels(priced) == [("Lightning deal: 3 × Kettle at $15.00", D("15.00"))]
    assert priced.discounts[0].claims == ((deal.pk, 3),)
    assert priced.lines[0].total.amount == D("45.00")
    assert priced.total.amount == D("45.00")


def test_units_are_capped_by_what_is_left_and_by_the_limit_per_order(kettle):
    deal = make_deal(kettle, price="15.00", cap=10)
    with committed():  # another order's claim
        services.deals_claim(order_number="EARLIER", claims=[(deal.pk, 8)])
    priced = price((kettle, 5))
    assert labels(priced) == [("Lightning deal: 2 × Kettle at $15.00", D("10.00"))]  # 2 left of 10
    assert priced.discounts[0].claims == ((deal.pk, 2),)

    other = OfferFactory(price=D("30.00"), product=ProductFactory(title="Toaster"))
    limited = make_deal(other, price="20.00", cap=50, per_order_limit=1)
    priced = price((other, 3))
    assert labels(priced) == [("Lightning deal: 1 × Toaster at $20.00", D("10.00"))]
    assert priced.discounts[0].claims == ((limited.pk, 1),)


def test_a_sold_out_deal_gives_nothing(kettle):
    deal = make_deal(kettle, cap=2)
    with committed():
        services.deals_claim(order_number="ALL", claims=[(deal.pk, 2)])
    assert labels(price((kettle, 1))) == []


def test_members_only_deals_apply_to_members_only(kettle):
    make_deal(kettle, price="15.00", members_only=True)
    assert services.discounts_for([line(kettle, 2)], is_member=False) == []
    applied = services.discounts_for([line(kettle, 2)], is_member=True)
    assert [(a.label, a.amount.amount) for a in applied] == [("Lightning deal: 2 × Kettle at $15.00", D("10.00"))]
    assert labels(price((kettle, 1))) == []  # pricing of a guest


def test_the_deal_runs_from_its_start_to_its_end_only(kettle):
    deal = make_deal(kettle, price="15.00", starts_in=30, ends_in=90)
    assert labels(price((kettle, 1))) == []  # not started
    at = services.discounts_for
    assert at([line(kettle)], now=deal.starts_at - timedelta(seconds=1)) == []
    assert [a.amount.amount for a in at([line(kettle)], now=deal.starts_at)] == [D("5.00")]
    assert [a.amount.amount for a in at([line(kettle)], now=deal.ends_at - timedelta(seconds=1))] == [D("5.00")]
    assert at([line(kettle)], now=deal.ends_at) == []  # ended
    Deal.objects.filter(pk=deal.pk).update(active=False)
    deals.bump_now()
    assert at([line(kettle)], now=deal.starts_at) == []  # switched off


def test_a_deal_above_the_current_price_gives_nothing(kettle):
    make_deal(kettle, price="15.00")
    lines = [services.PromoLine(product_id=kettle.product_id, seller_id=kettle.seller_id, amount=Money("14.00"),
                                quantity=1, offer_id=kettle.pk, unit_price=Money("14.00"))]
    assert services.discounts_for(lines) == []


def test_automatic_promotions_apply_to_what_the_deal_left(kettle):
    make_deal(kettle, price="15.00")
    services.promotion_save(promotion=Promotion(name="All 10% off", label="10% off everything",
                                                benefit="percent_off", value=10))
    priced = price((kettle, 3))
    assert labels(priced) == [("Lightning deal: 3 × Kettle at $15.00", D("15.00")), ("10% off everything", D("4.50"))]
    assert priced.total.amount == D("40.50")
    for discount in priced.discounts:
        assert sum((p.amount for p in discount.per_line.values()), D(0)) == discount.amount.amount


def test_pricing_reads_deals_in_constant_queries(kettle, django_assert_max_num_queries):
    offers = [OfferFactory(price=D("10.00")) for _ in range(8)]
    for offer in offers:
        make_deal(offer, price="7.00")
    price(*[(o, 1) for o in offers])  # warm every other cache (shipping methods, promotions)

    def count(pairs) -> int:
        vcache.bump(deals.NAMESPACE)  # a cold deals cache: one query for every deal
        with CaptureQueriesContext(connection) as queries:
            priced = price(*pairs)
        assert len(priced.discounts) == len(pairs)
        return len(queries)

    assert count([(o, 1) for o in offers[:2]]) == count([(o, 2) for o in offers])
    with CaptureQueriesContext(connection) as warm:
        price(*[(o, 1) for o in offers])
    with CaptureQueriesContext(connection) as cold:
        vcache.bump(deals.NAMESPACE)
        price(*[(o, 1) for o in offers])
    assert len(cold) == len(warm) + 1  # the deals come from the cache when warm


# --- claims and releases -------------------------------------------------------------------


def test_a_claim_counts_units_and_refuses_more_than_the_cap(kettle):
    deal = make_deal(kettle, cap=5)
    made = services.deals_claim(order_number="A1", claims=[(deal.pk, 2), (deal.pk, 1)])
    assert [(c.order_number, c.quantity) for c in made] == [("A1", 3)]
    with pytest.raises(services.DealUnavailable) as refused:
        services.deals_claim(order_number="A2", claims=[(deal.pk, 3)])
    assert refused.value.code == "deal_sold_out"
    assert refused.value.status_code == 409
    assert "Only 2 units are left at the lightning deal price on “Kettle”" in refused.value.message
    services.deals_claim(order_number="A3", claims=[(deal.pk, 2)])
    with pytest.raises(services.DealUnavailable, match="“Kettle” has just sold out or ended; its price is now "
                                                       r"\$20.00"):
        services.deals_claim(order_number="A4", claims=[(deal.pk, 1)])
    deal.refresh_from_db()
    assert deal.claimed == 5
    assert DealClaim.objects.count() == 2


def test_a_claim_refuses_an_ended_or_inactive_deal_and_the_same_order_twice(kettle):
    deal = make_deal(kettle, cap=5, per_order_limit=2)
    with pytest.raises(services.DealUnavailable, match="limited to 2 units per order"):
        services.deals_claim(order_number="B0", claims=[(deal.pk, 3)])
    services.deals_claim(order_number="B1", claims=[(deal.pk, 1)])
    with pytest.raises(services.DealUnavailable) as again:
        services.deals_claim(order_number="B1", claims=[(deal.pk, 1)])
    assert again.value.code == "deal_already_claimed"
    Deal.objects.filter(pk=deal.pk).update(ends_at=timezone.now() - timedelta(seconds=1),
                                           starts_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(services.DealUnavailable, match="sold out or ended"):
        services.deals_claim(order_number="B2", claims=[(deal.pk, 1)])
    assert Deal.objects.get(pk=deal.pk).claimed == 1


def test_the_database_refuses_more_claimed_than_the_cap(kettle):
    deal = make_deal(kettle, cap=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(claimed=3)


def test_a_release_gives_the_units_back_once(kettle):
    deal = make_deal(kettle, cap=5)
    services.deals_claim(order_number="C1", claims=[(deal.pk, 4)])
    assert services.deals_release(order_number="C1") == 4
    assert services.deals_release(order_number="C1") == 0
    assert services.deals_release(order_number="NOPE") == 0
    deal.refresh_from_db()
    assert deal.claimed == 0
    assert DealClaim.objects.get().released_at is not None


def test_a_claim_bumps_the_product_page_and_the_deals_on_commit(kettle):
    deal = make_deal(kettle, cap=5)
    namespaces = [deals.NAMESPACE, cache_keys.product(kettle.product.slug)]
    before = vcache.versions(namespaces)
    with committed(), transaction.atomic():
        services.deals_claim(order_number="D1", claims=[(deal.pk, 1)])
        assert vcache.versions(namespaces) == before  # not before the commit
    after = vcache.versions(namespaces)
    assert all(after[ns] != before[ns] for ns in namespaces)
    rule = deals.live_for_offer(kettle.pk)
    assert (rule.claimed, rule.percent_claimed) == (1, 20)
    with committed():
        services.deals_release(order_number="D1")
    assert vcache.versions(namespaces) != after
    assert deals.live_for_offer(kettle.pk).claimed == 0


def test_a_failed_claim_bumps_nothing_and_claims_nothing(kettle):
    deal = make_deal(kettle, cap=1)
    with committed():
        services.deals_claim(order_number="E1", claims=[(deal.pk, 1)])
    before = vcache.versions([deals.NAMESPACE])
    with committed(), pytest.raises(services.DealUnavailable), transaction.atomic():
        services.deals_claim(order_number="E2", claims=[(deal.pk, 1)])
    assert vcache.versions([deals.NAMESPACE]) == before
    assert list(DealClaim.objects.values_list("order_number", flat=True)) == ["E1"]


# --- saving ---------------------------------------------------------------------------------


def test_deal_rules_are_checked_with_clear_messages(kettle):
    now = timezone.now()
    with pytest.raises(ValidationError) as bad:
        services.deal_save(deal=Deal(offer=kettle, deal_price=D("20.00"), quantity_cap=5, starts_at=now,
                                     ends_at=now - timedelta(hours=1), per_order_limit=9))
    errors = bad.value.message_dict
    assert "The deal price must be below the offer's price ($20.00)." in errors["deal_price"]
    assert "The deal must end after it starts." in str(errors)
    with pytest.raises(ValidationError) as bad:
        services.deal_save(deal=Deal(offer=kettle, deal_price=D("10.00"), quantity_cap=5, starts_at=now,
                                     ends_at=now + timedelta(hours=1), per_order_limit=9))
    assert bad.value.message_dict == {"per_order_limit": ["The limit per order cannot be above the number of units."]}
    deal = make_deal(kettle, cap=5)
    with pytest.raises(ValidationError, match="overlaps these dates"):
        make_deal(kettle, starts_in=30, ends_in=120)
    make_deal(kettle, starts_in=61, ends_in=120)  # after the first one: fine
    services.deals_claim(order_number="F1", claims=[(deal.pk, 3)])
    deal.quantity_cap = 2
    with pytest.raises(ValidationError, match="3 units are already claimed: the cap cannot be lower"):
        services.deal_save(deal=deal)


def test_saving_a_deal_never_overwrites_what_was_claimed(kettle):
    deal = make_deal(kettle, cap=5)
    stale = Deal.objects.get(pk=deal.pk)
    services.deals_claim(order_number="G1", claims=[(deal.pk, 2)])
    stale.quantity_cap = 8
    services.deal_save(deal=stale)
    deal.refresh_from_db()
    assert (deal.claimed, deal.quantity_cap) == (2, 8)
    assert stale.claimed == 2


def test_saving_bumps_the_old_and_the_new_product_pages(kettle):
    deal = make_deal(kettle)
    toaster = OfferFactory(price=D("30.00"))
    namespaces = [cache_keys.product(kettle.product.slug), cache_keys.product(toaster.product.slug)]
    before = vcache.versions(namespaces)
    deal.offer = toaster
    with committed():
        services.deal_save(deal=deal)
    after = vcache.versions(namespaces)
    assert all(after[ns] != before[ns] for ns in namespaces)
    assert deals.live_for_offer(toaster.pk).id == deal.pk
    assert deals.live_for_offer(kettle.pk) is None


# --- boundaries (beat) ----------------------------------------------------------------------


def test_pages_are_bumped_when_a_deal_starts_and_ends(kettle):
    from promotions import tasks

    deal = make_deal(kettle, starts_in=5, ends_in=65)
    page = cache_keys.product(kettle.product.slug)
    now = timezone.now()
    services.deals_bump_boundaries(now=now)
    before = vcache.versions([page])
    assert services.deals_bump_boundaries(now=now + timedelta(minutes=1)) == 0  # nothing started yet
    assert vcache.versions([page]) == before
    assert services.deals_bump_boundaries(now=deal.starts_at + timedelta(seconds=1)) == 1  # started
    started = vcache.versions([page])
    assert started != before
    assert services.deals_bump_boundaries(now=deal.starts_at + timedelta(seconds=2)) == 0  # run again: nothing
    assert vcache.versions([page]) == started
    assert services.deals_bump_boundaries(now=deal.ends_at + timedelta(seconds=30)) == 1  # ended
    assert vcache.versions([page]) != started
    assert tasks.bump_deal_boundaries.delay().get() == 0


def test_a_members_only_deal_applies_when_checkout_prices_for_a_member(kettle):
    from membership import selectors as membership_selectors
    from membership import services as membership_services

    plan = membership_services.plan_ensure_demo()  # a plan whose benefits include members-only deals
    make_deal(kettle, price="15.00", members_only=True)
    assert labels(price((kettle, 2))) == []
    member = membership_selectors.benefits_of(plan)
    assert labels(price((kettle, 2), benefits=member)) == [("Lightning deal: 2 × Kettle at $15.00", D("10.00"))]


def test_a_live_deal_price_wins_the_buy_box_and_gives_it_back_when_sold_out_or_ended():
    from marketplace import services as marketplace_services
    from tests.factories import SellerFactory, stock

    shipping_method(channel="platform", price="0.00", code="free-platform")
    product = ProductFactory(title="Toaster")
    cheap = OfferFactory(product=product, price=D("18.00"), seller=SellerFactory(name="Cheap Co"))
    dear = OfferFactory(product=product, price=D("25.00"), seller=SellerFactory(name="Deal Co"))
    stock(cheap, 5)
    stock(dear, 5)

    def winner():
        product.buy_box.refresh_from_db()
        return product.buy_box.offer_id

    assert winner() == cheap.pk
    deal = make_deal(dear, price="15.00", cap=2)  # saving the deal refreshes the buy box
    assert winner() == dear.pk
    members_only = make_deal(cheap, price="10.00", starts_in=-30, ends_in=90, members_only=True)
    assert winner() == dear.pk  # a members-only deal does not rank the stored (everyone's) buy box
    from marketplace import selectors as marketplace_selectors
    from marketplace.benefits import Benefits
    from shop.strategy import Strategy

    class Member(Strategy):
        benefits = Benefits(plan_name="Plus", member_deals=True)

    assert marketplace_selectors.product_page(slug=product.slug, inputs=Member()).winner.offer == cheap
    assert marketplace_selectors.product_page(slug=product.slug, inputs=Strategy()).winner.offer == dear
    with committed():
        services.deals_claim(order_number="BZ-1", claims=[(deal.pk, 2)])  # sells it out
    assert winner() == cheap.pk
    with committed():
        services.deals_release(order_number="BZ-1")
    assert winner() == dear.pk
    Deal.objects.filter(pk=deal.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    vcache.safe_set(services.BOUNDARY_CHECKED_KEY, timezone.now() - timedelta(minutes=2), None)
    with committed():
        services.deals_bump_boundaries()
    assert winner() == cheap.pk
    assert members_only.pk  # (kept live to show it does not count)
    marketplace_services.buy_box_refresh(product_ids=[product.pk], inputs=Strategy())
    assert winner() == cheap.pk


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_deals_saved_at_the_same_moment_are_not_both_accepted():
    from tests.concurrency import race

    offer = OfferFactory(price=D("20.00"))
    results = race(lambda price: make_deal(offer, price=price), [("15.00",), ("14.00",)], catch=(ValidationError,))
    assert sorted(type(r).__name__ for r in results) == ["Deal", "ValidationError"]
    assert Deal.objects.filter(offer=offer).count() == 1
