"""Member benefits flowing through the shop: member prices and free, faster shipping on offers
fulfilled by the platform change the buy box, the product page, the cart, checkout totals and the
order; members-only promotions apply to members; everyone else is told what they would save."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from checkout import pricing, services
from checkout.models import Cart, CartLine, TaxRate
from core.exceptions import ApplicationError
from core.money import Money
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services
from marketplace.models import Offer
from membership.models import Plan, Subscription
from promotions import services as promotions_services
from promotions.models import Promotion
from shop.strategy import Strategy
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, SellerFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"full_name": "Ada Member", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def plan() -> Plan:
    return Plan.objects.create(name="Bazaar Plus", slug="plus", monthly_price=Decimal("12.99"),
                               annual_price=Decimal("119.00"), trial_days=30)


def make_member(plan: Plan, *, status: str = Subscription.Status.ACTIVE, user=None):
    user = user or UserFactory()
    now = timezone.now()
    Subscription.objects.create(user=user, plan=plan, status=status, current_period_start=now - timedelta(days=3),
                                current_period_end=now + timedelta(days=27))
    return user


@pytest.fixture
def member(plan):
    return make_member(plan)


@pytest.fixture
def methods():
    shipping_method(channel="platform", price="5.00", code="standard", min_days=3, max_days=5)
    shipping_method(channel="platform", price="9.00", code="express", min_days=2, max_days=2)
    shipping_method(channel="platform", price="12.00", code="one-day", min_days=1, max_days=1, members_only=True)
    shipping_method(channel="merchant", price="5.00", code="merchant-standard", min_days=2, max_days=6)


@pytest.fixture
def kettle(methods):
    """One product: a merchant offer cheapest for everyone, a platform offer with a member price."""
    product = ProductFactory(title="Kettle")
    merchant = OfferFactory(product=product, price=Decimal("20.00"), fulfillment_channel=Offer.Channel.MERCHANT,
                            seller=SellerFactory(name="Kettle World"))
    platform = OfferFactory(product=product, price=Decimal("21.00"), member_price=Decimal("19.00"),
                            seller=SellerFactory(name="Bazaar Retail"))
    stock(merchant, 10)
    stock(platform, 10)
    return {"product": product, "merchant": merchant, "platform": platform}


def viewer_of(user) -> Strategy:
    return Strategy(user=user)


def context_of(user, **fields) -> pricing.PricingContext:
    """The pricing context the pages build for this shopper (their strategy's benefits)."""
    return pricing.PricingContext(user=user, benefits=Strategy(user=user).benefits, **fields)


# --- the buy box ---------------------------------------------------------------------------


def test_stored_buy_box_is_for_non_members_and_a_member_is_ranked_with_their_benefits(kettle, member, plan):
    product = kettle["product"]
    marketplace_services.buy_box_refresh(product_ids=[product.pk], inputs=Strategy())
    product.buy_box.refresh_from_db()
    # non-members: merchant 20 + 5 = 25 beats platform 21 + 5 = 26
    assert product.buy_box.offer_id == kettle["merchant"].pk
    guest = marketplace_selectors.product_page(slug=product.slug, inputs=viewer_of(UserFactory()))
    assert guest.winner.offer == kettle["merchant"]
    # a member: platform at the member price with free shipping (19 + 0) beats merchant 20 + 5
    page = marketplace_selectors.product_page(slug=product.slug, inputs=viewer_of(member))
    assert page.winner.offer == kettle["platform"]
    assert page.winner.price == Decimal("19.00")
    assert page.winner.member_price_applies
    assert page.winner.member_free_shipping
    assert page.winner.landed_price == Decimal("19.00")
    # and a members-only one-day method makes a member's delivery faster
    assert page.winner.member_delivery.delivery_max_days < page.winner.facts.delivery_max_days


def test_the_product_page_promises_the_window_checkout_picks_for_its_shipping_price(kettle, member):
    """Beside "+ $5.00 delivery" the page promises that option's window, never a faster (dearer)
    option's first day; a member is promised what checkout picks for them: the free one-day
    option on Bazaar's offers, and on a seller's offers what anyone gets (no member line)."""
    shipping_method(channel="merchant", price="15.00", code="merchant-express", min_days=1, max_days=1)
    product = kettle["product"]
    for user in (UserFactory(), member):
        page = marketplace_selectors.product_page(slug=product.slug, inputs=viewer_of(user))
        views = {view.offer.pk: view for view in [page.winner, *page.others]}
        merchant, platform = views[kettle["merchant"].pk], views[kettle["platform"].pk]
        priced = pricing.cart_price(
            lines=[pricing.LineInput(kettle["merchant"].pk, 1), pricing.LineInput(kettle["platform"].pk, 1)],
            context=context_of(user))
        chosen = {package.channel: package.chosen for package in priced.packages}
        assert (merchant.facts.arrives_from, merchant.facts.arrives_by) == (
            chosen["merchant"].earliest, chosen["merchant"].latest), user
        assert merchant.member_delivery is None  # members get nothing faster from a seller's own shipping
        if user == member:
            window = (platform.member_delivery.arrives_from, platform.member_delivery.arrives_by)
            assert window == (chosen["platform"].earliest, chosen["platform"].latest)
            assert chosen["platform"].code == "one-day"
        else:
            assert (platform.facts.arrives_from, platform.facts.arrives_by) == (
                chosen["platform"].earliest, chosen["platform"].latest)


def test_a_plan_without_member_prices_ranks_on_shipping_only(kettle, plan):
    plan.member_prices = False
    plan.save()
    page = marketplace_selectors.product_page(slug=kettle["product"].slug, inputs=viewer_of(make_member(plan)))
    # platform 21 + 0 still beats merchant 20 + 5
    assert page.winner.offer == kettle["platform"]
    assert page.winner.price == Decimal("21.00")


def test_expired_members_have_no_benefits(kettle, plan):
    user = make_member(plan, status=Subscription.Status.EXPIRED)
    assert viewer_of(user).benefits is None
    assert viewer_of(user).preview_benefits is not None  # they are shown what joining again gives


# --- pages ----------------------------------------------------------------------------------


def test_product_page_member_sees_member_price_and_free_delivery(client, kettle, member):
    client.force_login(member)
    html = client.get(f"/p/{kettle['product'].slug}/").content.decode()
    assert "Bazaar Plus price" in html
    assert "$19.00" in html
    assert "Your faster delivery" in html


def test_product_page_guest_sees_what_members_get_and_cache_never_leaks_a_members_page(client, kettle, member):
    url = f"/p/{kettle['product'].slug}/"
    other = client.__class__()
    other.force_login(member)
    assert "Bazaar Plus price" in other.get(url).content.decode()
    html = client.get(url).content.decode()  # anonymous, cached whole
    assert "Bazaar Plus price" not in html
    assert "Members: $19.00" in html  # the platform offer is in the other-sellers table for guests
    assert "Free for members" in html
    assert "Bazaar Plus price" not in client.get(url).content.decode()  # from the cache


def test_members_of_a_plan_share_their_cached_product_page(client, kettle, plan):
    url = f"/p/{kettle['product'].slug}/"
    first, second = client.__class__(), client.__class__()
    first.force_login(make_member(plan))
    second.force_login(make_member(plan))
    assert first.get(url)["X-Page-Cache"] == "miss"
    page = second.get(url)
    assert page["X-Page-Cache"] == "hit"  # the plan's page, stored by the first member
    assert "Bazaar Plus price" in page.content.decode()
    assert "Your faster delivery" in page.content.decode()
    signed_in = client.__class__()
    signed_in.force_login(UserFactory())  # not a member: the guests' page, with "Members pay" lines
    html = signed_in.get(url).content.decode()
    assert "Bazaar Plus price" not in html
    assert "Members: $19.00" in html


def test_product_page_without_any_plan_shows_no_member_lines(client, kettle):
    html = client.get(f"/p/{kettle['product'].slug}/").content.decode()
    for member_line in ("Members:", "Members pay", "Free for members", "Free delivery for members", "badge--member"):
        assert member_line not in html


# --- pricing ----------------------------------------------------------------------------------


def test_member_prices_and_free_fast_shipping_flow_into_totals(kettle, member):
    lines = [pricing.LineInput(kettle["platform"].pk, 2), pricing.LineInput(kettle["merchant"].pk, 1)]
    guest = pricing.cart_price(lines=lines, context=context_of(UserFactory()))
    assert guest.subtotal == usd("62.00")  # 2 x 21 + 20
    assert guest.shipping == usd("10.00")  # 5 platform + 5 merchant
    assert not guest.member_plan
    assert "one-day" not in {o.code for p in guest.packages for o in p.options}

    priced = pricing.cart_price(lines=lines, context=context_of(member))
    assert priced.member_plan == "Bazaar Plus"
    line = next(li for li in priced.lines if li.offer_id == kettle["platform"].pk)
    assert line.unit_price == usd("19.00")
    assert line.regular_unit_price == usd("21.00")
    assert priced.subtotal == usd("58.00")  # 2 x 19 + 20
    platform = next(p for p in priced.packages if p.channel == "platform")
    merchant = next(p for p in priced.packages if p.channel == "merchant")
    assert platform.member_free_shipping
    assert all(o.price == usd("0") for o in platform.options)
    assert platform.chosen.code == "one-day"  # all free: the fastest, a members-only method
    assert {o.code: o.regular_price for o in platform.options}["one-day"] == usd("12.00")
    assert merchant.shipping == usd("5.00")  # only platform-fulfilled packages ship free
    assert priced.shipping == usd("5.00")
    assert priced.total == usd("63.00")


def test_members_only_promotions_apply_to_members_only(kettle, member):
    promotions_services.promotion_save(promotion=Promotion(
        name="Members 10%", label="Members save 10%", benefit="percent_off", value=Decimal("10"),
        members_only=True, active=True,
    ))
    lines = [pricing.LineInput(kettle["merchant"].pk, 1)]
    assert not pricing.cart_price(lines=lines, context=context_of(UserFactory())).discounts
    priced = pricing.cart_price(lines=lines, context=context_of(member))
    assert [d.label for d in priced.discounts] == ["Members save 10%"]
    assert priced.discount == usd("2.00")


def test_guests_are_told_what_they_would_save(kettle, plan):
    lines = [pricing.LineInput(kettle["platform"].pk, 2)]
    context = pricing.PricingContext()
    priced = pricing.cart_price(lines=lines, context=context)
    savings = pricing.member_savings(lines=lines, context=context, priced=priced,
                                     preview=Strategy().preview_benefits)
    # 2 x (21 - 19) member price + 5.00 shipping
    assert savings.amount == usd("9.00")
    assert savings.plan_name == "Bazaar Plus"
    member_priced = pricing.cart_price(lines=lines, context=context_of(make_member(plan)))
    assert pricing.member_savings(lines=lines, context=context, priced=member_priced,
                                  preview=Strategy().preview_benefits) is None


def test_cart_page_for_guest_and_member(client, kettle, member):
    client.post("/cart/add/", {"offer": kettle["platform"].pk, "quantity": "2"})
    html = client.get("/cart/").content.decode()
    assert "this order costs $9.00 less" in html
    client.force_login(member)  # the guest cart joins the member's cart
    html = client.get("/cart/").content.decode()
    assert "Member price" in html
    assert "$19.00" in html
    assert "Your member prices and free delivery apply" in html
    assert "Price changed" not in html  # the member price is no price change


def test_a_member_order_keeps_member_prices_and_free_shipping(kettle, member):
    cart = Cart.objects.create(user=member)
    CartLine.objects.create(cart=cart, offer=kettle["platform"], quantity=1, price_when_added=Decimal("21.00"))
    placed = services.order_place(
        cart=cart, user=member, email=member.email, shipping_address=ADDRESS, payment_method="4242424242424242",
        idempotency_key=uuid.uuid4().hex, buyer=Strategy(user=member),
    )
    order = placed.order
    assert order.total == Decimal("19.00")
    assert order.lines.get().unit_price == Decimal("19.00")
    assert order.events.filter(message__contains="Bazaar Plus member prices and shipping").exists()


# --- offers ---------------------------------------------------------------------------------


def test_member_price_must_be_below_the_price(methods):
    offer = OfferFactory(price=Decimal("10.00"))
    with pytest.raises(ApplicationError, match="below the price"):
        marketplace_services.offer_update(offer=offer, member_price="10.00")
    with pytest.raises(ApplicationError, match="below the price"):
        OfferFactory(price=Decimal("10.00"), member_price=Decimal("12.00"))
    marketplace_services.offer_update(offer=offer, member_price="8.50")
    offer.refresh_from_db()
    assert offer.member_price == Decimal("8.50")
    marketplace_services.offer_update(offer=offer, member_price=None)
    offer.refresh_from_db()
    assert offer.member_price is None


def test_a_plan_change_refreshes_cached_product_pages(client, kettle, plan):
    from membership import services as membership_services

    url = f"/p/{kettle['product'].slug}/"
    assert "Free for members" in client.get(url).content.decode()
    plan.free_shipping = False
    with committed():
        membership_services.plan_save(plan=plan)
    assert "Free for members" not in client.get(url).content.decode()


def test_tax_rate_saved_in_admin_applies_at_once(admin_client, kettle):
    lines = [pricing.LineInput(kettle["merchant"].pk, 1)]
    assert pricing.cart_price(lines=lines).tax == usd("0")  # the (empty) table is now cached
    response = admin_client.post("/admin/checkout/taxrate/add/", {
        "country": "us", "region": "", "name": "Sales tax", "rate": "0.1000", "applies_to_shipping": "on",
    })
    assert response.status_code == 302, response.content
    assert pricing.cart_price(lines=lines).tax == usd("2.50")  # 10% of 20.00 + 5.00 shipping
    rate = TaxRate.objects.get()
    assert rate.country == "US"
    admin_client.post(f"/admin/checkout/taxrate/{rate.pk}/delete/", {"post": "yes"})
    assert pricing.cart_price(lines=lines).tax == usd("0")


def test_listing_cards_show_member_price_and_member_delivery(client, methods, plan):
    product = ProductFactory(title="Teapot")
    stock(OfferFactory(product=product, price=Decimal("30.00"), member_price=Decimal("27.00")), 5)
    marketplace_services.buy_box_refresh(product_ids=[product.pk], inputs=Strategy())
    product.refresh_from_db()
    assert (product.listing_member_price, product.listing_member_delivery) == (Decimal("27.00"), True)
    html = client.get(f"/c/{product.category.slug}/").content.decode()
    assert "Teapot" in html
    assert "$27.00" in html
    assert "Free fast delivery for members" in html


def test_quote_api_shows_member_prices_free_shipping_and_what_guests_would_save(kettle, member):
    from rest_framework.test import APIClient

    guest = APIClient()
    guest.post("/api/v1/cart/lines/", {"offer": kettle["platform"].pk, "quantity": 1}, format="json")
    quote = guest.post("/api/v1/checkout/quote/", {}, format="json").json()
    assert (quote["member_plan"], quote["member_savings"], quote["total"]) == ("", "7.00", "26.00")

    client = APIClient()
    client.force_authenticate(member)
    client.post("/api/v1/cart/lines/", {"offer": kettle["platform"].pk, "quantity": 1}, format="json")
    quote = client.post("/api/v1/checkout/quote/", {}, format="json").json()
    assert (quote["member_plan"], quote["member_savings"], quote["total"]) == ("Bazaar Plus", None, "19.00")
    package = quote["packages"][0]
    assert package["member_free_shipping"] is True
    assert package["chosen"] == "one-day"
    assert {o["code"]: o["members_only"] for o in package["options"]}["one-day"] is True
    assert package["lines"][0]["regular_unit_price"] == "21.00"


def test_the_member_badge_sits_beside_shipping_only_when_membership_made_it_free(client, kettle, member):
    """A seller's own shipping is not a member benefit: "Shipping Bazaar Plus $5.00" would say it was."""
    import re

    client.force_login(member)
    address = {"email": member.email, **ADDRESS}

    def shipping_row() -> str:
        page = client.get("/checkout/review/").content.decode()
        return re.search(r"<dt>Shipping.*?</dd>", page, re.S).group(0)

    assert client.post("/cart/add/", {"offer": kettle["merchant"].pk, "quantity": 1}).status_code == 302
    client.post("/checkout/", address)
    row = shipping_row()
    assert "$5.00" in row
    assert "badge--member" not in row
    CartLine.objects.filter(offer=kettle["merchant"]).delete()
    assert client.post("/cart/add/", {"offer": kettle["platform"].pk, "quantity": 1}).status_code == 302
    row = shipping_row()
    assert "Free" in row
    assert "badge--member" in row
