"""Lightning deals on pages: the deals page, the product page's deal box, the API, the admin (deals
and the promotion preview) and the demo data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from core import cache as vcache
from promotions import deals, services
from promotions.models import Deal, DealClaim, Promotion
from promotions.tests.deal_helpers import D, make_deal, plain
from tests.commit import committed
from tests.factories import (
    BrandFactory,
    OfferFactory,
    ProductFactory,
    SellerFactory,
    UserFactory,
    admin_form_data,
    stock,
)

pytestmark = pytest.mark.django_db
COUNTDOWN = re.compile(r"\d+:\d\d:\d\d")


@pytest.fixture
def kettle():
    offer = OfferFactory(price=D("20.00"), product=ProductFactory(title="Steel Kettle"),
                         seller=SellerFactory(name="Acme Outlet"))
    stock(offer, 7)
    return offer


# --- the deals page ----------------------------------------------------------------------------


def test_the_deals_page_lists_live_deals_with_price_countdown_and_share_claimed(client, kettle):
    deal = make_deal(kettle, price="15.00", cap=8, ends_in=125, label="Kitchen week", per_order_limit=2)
    with committed():  # another order's claim
        services.deals_claim(order_number="X1", claims=[(deal.pk, 2)])
    members = OfferFactory(price=D("50.00"), product=ProductFactory(title="Member Lamp"))
    stock(members, 3)
    make_deal(members, price="40.00", members_only=True)
    soon = OfferFactory(price=D("9.00"), product=ProductFactory(title="Soon Socks"))
    make_deal(soon, price="5.00", starts_in=30, ends_in=90)
    ended = OfferFactory(price=D("9.00"), product=ProductFactory(title="Old Mug"))
    make_deal(ended, price="5.00", starts_in=-90, ends_in=-30)
    off = OfferFactory(price=D("9.00"), product=ProductFactory(title="Hidden Hat"))
    make_deal(off, price="5.00", active=False)

    response = client.get("/deals/")
    assert response.status_code == 200
    html = response.content.decode()
    text = plain(response)
    assert "Steel Kettle" in text
    assert "Member Lamp" in text
    assert "Old Mug" not in text
    assert "Hidden Hat" not in text
    assert f'href="{kettle.product.get_absolute_url()}"' in html
    assert "$15.00" in text
    assert "$20.00" in text
    assert "25% off" in text
    assert "Kitchen week" in text
    assert "Limit 2 per order" in text
    assert "Sold by Acme Outlet" in text
    assert "25% claimed" in text
    assert 'role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="25"' in html
    countdown = re.search(rf'data-deal-countdown data-ends-at="{re.escape(deal.ends_at.isoformat())}"[^>]*>([^<]+)<',
                          html)
    assert re.fullmatch(r"2:0[45]:\d\d", countdown.group(1))  # about 2 h 5 min left, rendered by the server
    assert "js/deals.js" in html
    assert f'name="offer" value="{kettle.pk}"' in html
    assert 'max="7"' in html
    assert text.count("Members only") == 1
    # starting soon
    assert "Starting soon" in text
    assert "Soon Socks" in text
    assert "Starts in" in text


def test_a_sold_out_deal_is_listed_last_and_cannot_be_claimed(client, kettle):
    first = make_deal(kettle, price="15.00", cap=2, ends_in=30)
    with committed():  # another order's claim
        services.deals_claim(order_number="X1", claims=[(first.pk, 2)])
    later = OfferFactory(price=D("9.00"), product=ProductFactory(title="Wool Hat"))
    stock(later, 1)
    make_deal(later, price="6.00", ends_in=300)
    text = plain(client.get("/deals/"))
    assert text.index("Wool Hat") < text.index("Steel Kettle")
    assert "Sold out at the deal price" in text
    assert "100% claimed" in text


def test_no_deals_says_so(client):
    assert "No lightning deals are running right now" in plain(client.get("/deals/"))


@pytest.mark.parametrize("size", [2, 20])
def test_the_deals_page_takes_constant_queries_then_comes_from_the_cache(client, size,
                                                                         django_assert_max_num_queries):
    for i in range(size):
        offer = OfferFactory(price=D("30.00") + i)
        stock(offer, 2)
        make_deal(offer, price="10.00", members_only=i % 2 == 0)
        make_deal(OfferFactory(price=D("30.00")), price="10.00", starts_in=60 + i, ends_in=300)
    vcache.bump(deals.NAMESPACE)
    with django_assert_max_num_queries(6):  # count, page, images, stock, starting soon; the header's categories
        response = client.get("/deals/")
    assert response["X-Page-Cache"] == "miss"
    assert plain(response).count("% claimed") == size
    with django_assert_max_num_queries(0):
        assert client.get("/deals/")["X-Page-Cache"] == "hit"


def test_a_claim_shows_on_the_cached_deals_page(client, kettle):
    deal = make_deal(kettle, cap=4)
    assert "0% claimed" in plain(client.get("/deals/"))
    assert client.get("/deals/")["X-Page-Cache"] == "hit"
    with committed():  # another order's claim
        services.deals_claim(order_number="X1", claims=[(deal.pk, 1)])
    response = client.get("/deals/")
    assert response["X-Page-Cache"] == "miss"
    assert "25% claimed" in plain(response)


def test_the_header_links_to_the_deals(client):
    assert 'href="/deals/"' in client.get("/deals/").content.decode()


# --- the product page's deal box -----------------------------------------------------------------


def render_box(offer) -> str:
    return Template("{% load deals_tags %}{% deal_box offer %}").render(Context({"offer": offer}))


def test_the_deal_box_shows_the_deal_on_the_offer_and_nothing_else(kettle):
    assert render_box(kettle).strip() == ""
    assert render_box(None).strip() == ""
    deal = make_deal(kettle, price="15.00", cap=10, members_only=True, per_order_limit=3)
    with committed():  # another order's claim
        services.deals_claim(order_number="X1", claims=[(deal.pk, 3)])
    html = render_box(kettle)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Lightning deal" in text
    assert "$15.00" in text
    assert "$20.00" in text
    assert "25% off" in text
    assert "Members only" in text
    assert "signed in with a membership" in text
    assert "Limit 3 units per order at this price." in text
    assert "30% claimed" in text
    assert 'aria-valuenow="30"' in html
    assert COUNTDOWN.search(text)
    assert "data-ends-at=" in html
    assert render_box(OfferFactory(price=D("20.00"))).strip() == ""  # another offer of the shop
    for number, units in (("X2", 3), ("X3", 3), ("X4", 1)):
        with committed():  # another order's claim
            services.deals_claim(order_number=number, claims=[(deal.pk, units)])
    assert "All units at $15.00 have been claimed." in render_box(kettle)


def test_the_deal_box_reads_the_cache(kettle, django_assert_max_num_queries):
    make_deal(kettle, price="15.00")
    vcache.bump(deals.NAMESPACE)
    with django_assert_max_num_queries(1):
        render_box(kettle)
    with django_assert_max_num_queries(0):
        render_box(kettle)


def test_the_deal_box_is_empty_before_the_start_and_after_the_end(kettle):
    deal = make_deal(kettle, starts_in=10, ends_in=20)
    assert render_box(kettle).strip() == ""
    Deal.objects.filter(pk=deal.pk).update(starts_at=timezone.now() - timedelta(hours=2),
                                           ends_at=timezone.now() - timedelta(hours=1))
    deals.bump_now()
    assert render_box(kettle).strip() == ""


# --- API ----------------------------------------------------------------------------------------


def test_the_api_lists_live_deals(client, kettle):
    deal = make_deal(kettle, price="15.00", cap=8, label="Kitchen week", per_order_limit=2)
    with committed():  # another order's claim
        services.deals_claim(order_number="X1", claims=[(deal.pk, 2)])
    soon = make_deal(OfferFactory(price=D("9.00")), price="5.00", starts_in=30, ends_in=90, members_only=True)
    make_deal(OfferFactory(price=D("9.00")), price="5.00", starts_in=-90, ends_in=-30)
    body = client.get("/api/v1/deals/").json()
    assert body["count"] == 1
    assert body["results"] == [{
        "id": deal.pk, "label": "Kitchen week", "offer": kettle.pk,
        "product": {"id": kettle.product_id, "title": "Steel Kettle", "slug": kettle.product.slug},
        "seller": "Acme Outlet", "currency": "USD", "price": "20.00", "deal_price": "15.00", "percent_off": 25,
        "starts_at": deal.starts_at.isoformat().replace("+00:00", "Z"),
        "ends_at": deal.ends_at.isoformat().replace("+00:00", "Z"),
        "quantity_cap": 8, "claimed": 2, "percent_claimed": 25, "per_order_limit": 2, "members_only": False,
    }]
    upcoming = client.get("/api/v1/deals/?upcoming=1").json()
    assert [(d["id"], d["members_only"]) for d in upcoming["results"]] == [(soon.pk, True)]


def test_the_api_refuses_bad_parameters(client):
    for query in ("page=0", "page=9", "page_size=500", "upcoming=perhaps"):
        response = client.get(f"/api/v1/deals/?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["fields"], query


@pytest.mark.parametrize("size", [2, 25])
def test_the_api_takes_constant_queries(client, size, django_assert_max_num_queries):
    for _ in range(size):
        make_deal(OfferFactory(price=D("30.00")), price="10.00")
    with django_assert_max_num_queries(2):  # count, page
        body = client.get("/api/v1/deals/?page_size=100").json()
    assert body["count"] == size


# --- admin ----------------------------------------------------------------------------------------


def test_the_deal_admin_lists_filters_and_searches(admin_client, kettle):
    deal = make_deal(kettle, price="15.00", cap=8)
    with committed():  # another order's claim
        services.deals_claim(order_number="N1", claims=[(deal.pk, 2)])
    make_deal(OfferFactory(price=D("9.00")), price="5.00", starts_in=30, ends_in=90)
    page = plain(admin_client.get("/admin/promotions/deal/"))
    assert "2 of 8 (25%)" in page
    assert "Live" in page
    assert "Upcoming" in page
    for query in ("state=live", "state=upcoming", "state=ended", "state=sold_out", "q=kettle", "active__exact=1"):
        assert admin_client.get(f"/admin/promotions/deal/?{query}").status_code == 200, query
    assert "Steel Kettle" in plain(admin_client.get("/admin/promotions/deal/?state=live"))
    assert "Steel Kettle" not in plain(admin_client.get("/admin/promotions/deal/?state=upcoming"))
    change = plain(admin_client.get(f"/admin/promotions/deal/{deal.pk}/change/"))
    assert "2 of 8 (25%)" in change
    assert "Orders that claimed this deal" in change
    claims = admin_client.get(f"/admin/promotions/dealclaim/?deal__id__exact={deal.pk}")
    assert "N1" in plain(claims)
    assert admin_client.get("/admin/promotions/dealclaim/add/").status_code == 403
    assert admin_client.get(f"/admin/promotions/dealclaim/{DealClaim.objects.get().pk}/change/").status_code == 200


def when(starts, ends) -> dict:
    """The admin's split date and time inputs (the rendered form holds whole datetimes)."""
    fields = {}
    for name, moment in (("starts_at", starts), ("ends_at", ends)):
        fields.update({f"{name}_0": moment.strftime("%Y-%m-%d"), f"{name}_1": moment.strftime("%H:%M:%S"),
                       name: None})
    return fields


def test_the_deal_admin_saves_through_the_service_and_shows_what_is_wrong(admin_client, kettle):
    page = admin_client.get("/admin/promotions/deal/add/")
    now = timezone.localtime()
    data = admin_form_data(page, offer=str(kettle.pk), deal_price="25.00", quantity_cap="5",
                           **when(now, now + timedelta(hours=2)))
    refused = admin_client.post("/admin/promotions/deal/add/", data)
    assert refused.status_code == 200
    assert "The deal price must be below the offer&#x27;s price ($20.00)." in refused.content.decode()
    assert not Deal.objects.exists()
    data["deal_price"] = "14.00"
    data["claimed"] = "4"  # not a field of the form: ignored
    with committed():
        created = admin_client.post("/admin/promotions/deal/add/", data)
    assert created.status_code == 302, plain(created)[:3000]
    deal = Deal.objects.get()
    assert (deal.deal_price, deal.quantity_cap, deal.claimed) == (D("14.00"), 5, 0)
    assert deals.live_for_offer(kettle.pk).id == deal.pk  # the cache was bumped

    with committed():  # another order's claim
        services.deals_claim(order_number="N1", claims=[(deal.pk, 3)])
    page = admin_client.get(f"/admin/promotions/deal/{deal.pk}/change/")
    dates = when(timezone.localtime(deal.starts_at), timezone.localtime(deal.ends_at))
    response = admin_client.post(f"/admin/promotions/deal/{deal.pk}/change/",
                                 admin_form_data(page, quantity_cap="2", **dates))
    assert response.status_code == 200
    assert "3 units are already claimed: the cap cannot be lower." in response.content.decode()
    response = admin_client.post(f"/admin/promotions/deal/{deal.pk}/change/",
                                 admin_form_data(page, quantity_cap="9", **dates))
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.quantity_cap, deal.claimed) == (9, 3)


def test_deleting_a_deal_in_admin_forgets_it(admin_client, kettle):
    deal = make_deal(kettle)
    assert deals.live_for_offer(kettle.pk) is not None
    with committed():
        response = admin_client.post(f"/admin/promotions/deal/{deal.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert deals.live_for_offer(kettle.pk) is None


# --- admin: promotion preview ----------------------------------------------------------------------


def promo(**fields) -> Promotion:
    m2m = fields.pop("m2m", {})
    fields.setdefault("label", fields["name"])
    with committed():
        return services.promotion_save(promotion=Promotion(**fields), **m2m)


def test_the_promotion_change_page_links_to_its_preview(admin_client):
    promotion = promo(name="Spring", benefit="percent_off", value=10)
    page = admin_client.get(f"/admin/promotions/promotion/{promotion.pk}/change/").content.decode()
    assert f'href="/admin/promotions/promotion/{promotion.pk}/preview/"' in page


def test_the_preview_uses_a_sample_cart_of_the_cheapest_qualifying_offers(admin_client):
    brand = BrandFactory(name="Acme")
    acme = [OfferFactory(price=D(p), product=ProductFactory(title=f"Acme {p}", brand=brand))
            for p in ("30.00", "10.00", "20.00", "40.00")]
    OfferFactory(price=D("1.00"), product=ProductFactory(title="Other brand"))
    promotion = promo(name="Acme week", label="Acme: 10% off", benefit="percent_off", value=10, min_quantity=4,
                      active=False, starts_at=timezone.now() + timedelta(days=30),
                      ends_at=timezone.now() + timedelta(days=31), m2m={"brands": [brand]})
    response = admin_client.get(f"/admin/promotions/promotion/{promotion.pk}/preview/")
    assert response.status_code == 200
    text = plain(response)
    assert "Sample cart" in text
    assert "Acme 10.00" in text
    assert "Acme 20.00" in text
    assert "Acme 30.00" in text
    assert "Acme 40.00" not in text
    assert "Other brand" not in text
    # 2 x $10 + $20 + $30 = $70 (the minimum of 4 units is met), 10% off whatever its dates
    assert "Acme: 10% off: −$7.00" in text
    assert "Subtotal $70.00, saved $7.00, total $63.00" in text
    assert acme  # the offers exist


def test_the_sample_cart_meets_the_minimum_spend(admin_client):
    brand = BrandFactory(name="Acme")
    for p in ("10.00", "20.00"):
        OfferFactory(price=D(p), product=ProductFactory(title=f"Acme {p}", brand=brand))
    promotion = promo(name="Spend 100", label="Spend $100 on Acme, save 10%", benefit="percent_off", value=10,
                      min_spend=D("100"), m2m={"brands": [brand]})
    text = plain(admin_client.get(f"/admin/promotions/promotion/{promotion.pk}/preview/"))
    # $10 + $20 is short of $100: the dearer line gets 5 units (10 + 5 x 20 = 110)
    assert "Subtotal $110.00, saved $11.00, total $99.00" in text


def test_the_preview_prices_the_lines_the_admin_types(admin_client):
    seller = SellerFactory()
    a = OfferFactory(price=D("10.00"), sku="MUG-1", seller=seller)
    b = OfferFactory(price=D("5.00"), sku="HAT-1", seller=seller)
    promotion = promo(name="Buy 2 get 1", label="3 for 2", benefit="buy_x_get_y", x=2, y=1, members_only=True,
                      m2m={"sellers": [seller]})
    url = f"/admin/promotions/promotion/{promotion.pk}/preview/"
    text = plain(admin_client.get(url, {"lines": f"MUG-1 x 2\n#{b.pk}"}))
    assert "Your cart" in text
    assert "priced as a member" in text
    assert "3 for 2: −$5.00" in text  # the cheapest unit is free
    assert "Subtotal $25.00, saved $5.00, total $20.00" in text
    text = plain(admin_client.get(url, {"lines": "MUG-1 × 1"}))
    assert "does not apply to this cart" in text
    assert a


def test_the_preview_says_what_is_wrong_with_the_lines(admin_client):
    promotion = promo(name="Any", benefit="percent_off", value=10)
    OfferFactory(sku="SAME", seller=SellerFactory())
    OfferFactory(sku="SAME", seller=SellerFactory())
    url = f"/admin/promotions/promotion/{promotion.pk}/preview/"
    for lines, message in [
        ("NOPE x 2", "No active offer has the SKU or id “NOPE”."),
        ("SAME x 1", "The SKU SAME is used by several sellers: write the offer id instead"),
        ("MUG x two", "Line 1 (“MUG x two”) is not “SKU x quantity” or “#offer id x quantity”."),
        ("#999999", "No active offer has the SKU or id “999999”."),
        ("SAME x 0", "Line 1: the quantity must be between 1 and 999."),
        ("\n".join(["A"] * 21), "At most 20 lines, please."),
        ("A" * 2001, "Ensure this value has at most 2000 characters"),
    ]:
        response = admin_client.get(url, {"lines": lines})
        assert response.status_code == 400, lines
        assert message in plain(response), (lines, plain(response)[-800:])


def test_the_preview_is_for_staff_only(client, admin_client):
    promotion = promo(name="Any", benefit="percent_off", value=10)
    url = f"/admin/promotions/promotion/{promotion.pk}/preview/"
    assert client.get(url).status_code == 302  # to the admin sign-in
    client.force_login(UserFactory())
    assert client.get(url).status_code == 302
    assert admin_client.get("/admin/promotions/promotion/999999/preview/").status_code in (302, 404)


# --- demo data ---------------------------------------------------------------------------------------


def test_the_demo_data_has_live_deals_once(settings):
    from shop.demo.seed import seed_demo

    seed_demo(products=12)
    live = list(Deal.objects.filter(starts_at__lte=timezone.now(), ends_at__gt=timezone.now()))
    assert 3 <= len(live) <= 4
    assert sum(d.members_only for d in live) == 1
    assert all(d.deal_price < d.offer.price for d in live)
    seed_demo(products=12)
    assert Deal.objects.count() == len(live)


@pytest.mark.parametrize("model", ["deal", "dealclaim"])
def test_the_deal_changelists_take_constant_queries(admin_client, model, django_assert_max_num_queries):
    def make(n):
        for _ in range(n):
            deal = make_deal(OfferFactory(price=D("30.00")), price="10.00")
            with committed():  # another order's claim
                services.deals_claim(order_number=f"Q{deal.pk}", claims=[(deal.pk, 1)])

    url = f"/admin/promotions/{model}/"
    admin_client.get(url)  # warm up sessions and content types
    make(2)
    with django_assert_max_num_queries(15) as small:
        assert admin_client.get(url).status_code == 200
    make(10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = admin_client.get(url)
    assert response.context["cl"].result_count == 12


def test_other_sellers_rows_show_their_live_deal(client):
    from tests.factories import OfferFactory, ProductFactory, SellerFactory, shipping_method, stock

    shipping_method(channel="platform", price="0.00", code="free-platform")
    product = ProductFactory(title="Kettle")
    winner = OfferFactory(product=product, price=D("18.00"), seller=SellerFactory(name="Cheap Co"))
    other = OfferFactory(product=product, price=D("25.00"), seller=SellerFactory(name="Deal Co"))
    sold_out = OfferFactory(product=product, price=D("26.00"), seller=SellerFactory(name="Gone Co"))
    for offer in (winner, other, sold_out):
        stock(offer, 5)
    make_deal(other, price="19.50")
    gone = make_deal(sold_out, price="19.00", cap=1)
    Deal.objects.filter(pk=gone.pk).update(claimed=1)
    deals.bump_now(product.slug)
    html = client.get(product.get_absolute_url()).content.decode()
    offers_table = html[html.index('id="offers"'):]
    assert offers_table.count("Lightning deal") == 1
    assert "$19.50" in offers_table
    assert "$19.00" not in offers_table
