"""Admin pages never link what their viewer may not open: Django's read-only foreign keys linked a
seller's member to orders, users, categories and brands that answered 403; the "view on site"
redirect named another seller's unpublished product."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from catalog.models import Product
from orders.models import OrderLine
from tests.buying import cart_with, place
from tests.factories import OfferFactory, ProductFactory, SellerFactory, seller_member, staff_user, stock

pytestmark = pytest.mark.django_db


def change(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def sold():
    offer = OfferFactory(product=ProductFactory(title="Enamel jug"))
    stock(offer, 3)
    order = place(cart_with((offer, 1))).order
    return offer, order, OrderLine.objects.get(order=order)


def test_a_sellers_member_sees_text_where_it_may_not_follow_and_links_where_it_may(sold):
    offer, order, line = sold
    member = Client()
    member.force_login(seller_member(offer.seller, role="owner"))
    page = member.get(change(line)).content.decode()
    assert change(order) not in page  # the whole order may hold other sellers' lines: 403 for a seller
    assert order.number in page  # named, as text
    assert change(line.package) in page  # its own package: a link it can follow
    assert member.get(change(line.package)).status_code == 200
    product_page = member.get(change(offer.product)).content.decode()
    assert change(offer.product.category) not in product_page
    assert offer.product.category.name in product_page
    # staff who may open the order keep the link
    staff = Client()
    staff.force_login(staff_user("orders.view_orderline", "orders.view_order"))
    assert change(order) in staff.get(change(line)).content.decode()


def test_view_on_site_only_redirects_to_what_the_viewer_may_open(sold):
    offer, _order, _line = sold
    hidden = ProductFactory(title="Secret titanium kettle", is_active=False)
    rival = OfferFactory(product=hidden, seller=SellerFactory())  # another seller's proposal, say
    shortcut = reverse("admin:view_on_site", args=[ContentType.objects.get_for_model(Product).pk, hidden.pk])
    member = Client()
    member.force_login(seller_member(offer.seller, role="owner"))
    assert rival.seller != offer.seller
    # sellers view the published catalogue in admin: a public product redirects
    public = reverse("admin:view_on_site", args=[ContentType.objects.get_for_model(Product).pk, offer.product.pk])
    assert member.get(public).status_code == 302
    assert member.get(shortcut).status_code == 404  # not public, not its own proposal: not even its address
    line_type = ContentType.objects.get_for_model(OrderLine).pk
    assert member.get(reverse("admin:view_on_site", args=[line_type, 10**9])).status_code == 404
    outsider = Client()
    outsider.force_login(staff_user())  # staff without any permission
    assert outsider.get(public).status_code == 404


def test_view_on_site_never_sends_to_a_page_that_is_not_there():
    """A seller's own proposed product, not public yet: it redirected to its 404 page."""
    from marketplace.models import ProductProposal

    seller = SellerFactory()
    offer = OfferFactory(seller=seller, product=ProductFactory(is_active=False))
    ProductProposal.objects.create(seller=seller, product=offer.product, offer=offer)
    member = Client()
    member.force_login(seller_member(seller, role="owner"))
    product_type = ContentType.objects.get_for_model(Product).pk
    assert member.get(change(offer.product)).status_code == 200  # its own proposal: it may open it in admin
    assert member.get(reverse("admin:view_on_site", args=[product_type, offer.product.pk])).status_code == 404
