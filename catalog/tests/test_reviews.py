"""Writing one review per product, verified purchases, helpful votes and the product page's reviews."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from catalog import services
from catalog.models import Review, ReviewVote
from checkout import services as checkout_services
from checkout.models import Cart, CartLine
from core.exceptions import ApplicationError
from orders import services as orders_services
from shop.strategy import Strategy
from tests.commit import committed
from tests.factories import OfferFactory, ProductFactory, UserFactory, shipping_method, stock

pytestmark = pytest.mark.django_db

ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
           "country": "US"}


def plain(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


def buy(offer, user):
    cart = Cart.objects.create(user=user)
    CartLine.objects.create(cart=cart, offer=offer, quantity=1, price_when_added=offer.price)
    with committed():  # a checkout request: its after-commit work has run when it returns
        return checkout_services.order_place(
            cart=cart, user=user, email=user.email, shipping_address=ADDRESS, payment_method="4242424242424242",
            idempotency_key=uuid.uuid4().hex, buyer=Strategy(user=user),
        ).order


@pytest.fixture
def offer():
    shipping_method(channel="platform", price="0.00", code="free")
    offer = OfferFactory(price=Decimal("20.00"), product__title="Blue Kettle")
    stock(offer, 5)
    return offer


@pytest.fixture
def product(offer):
    return offer.product


@pytest.fixture
def ada():
    return UserFactory(full_name="Ada L.")


def review_url(product) -> str:
    return f"/p/{product.slug}/review/"


def post_review(client, product, **data):
    return client.post(review_url(product), {"rating": "4", "title": "Good kettle", "body": "Boils fast.", **data})


# --- writing and editing ------------------------------------------------------------------------


def test_signed_in_customer_writes_a_review_and_the_rating_updates(client, product, ada):
    client.force_login(ada)
    page = client.get(review_url(product))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('type="radio" name="rating"') == 5
    assert "<legend" in html
    assert 'for="id_title"' in html
    response = post_review(client, product)
    assert response.status_code == 302
    assert response["Location"] == f"{product.get_absolute_url()}#reviews"
    review = Review.objects.get(product=product, user=ada)
    assert (review.rating, review.title, review.body) == (4, "Good kettle", "Boils fast.")
    assert review.verified_purchase is False
    product.refresh_from_db()
    assert (product.rating_count, product.rating_avg) == (1, Decimal("4.00"))


def test_writing_again_edits_the_existing_review_never_a_duplicate(client, product, ada):
    client.force_login(ada)
    post_review(client, product)
    form = client.get(review_url(product)).content.decode()
    assert "Edit your review" in form
    assert 'value="Good kettle"' in form
    response = post_review(client, product, rating="2", title="Went off it", body="Now it leaks.")
    assert response.status_code == 302
    review = Review.objects.get(product=product, user=ada)
    assert (review.rating, review.title, review.body) == (2, "Went off it", "Now it leaks.")
    assert Review.objects.filter(product=product).count() == 1
    product.refresh_from_db()
    assert (product.rating_count, product.rating_avg) == (1, Decimal("2.00"))


def test_review_create_refuses_a_second_review_and_update_edits(product, ada):
    review = services.review_create(product=product, user=ada, rating=5, title="Great", verified_purchase=False)
    with pytest.raises(ApplicationError) as exc:
        services.review_create(product=product, user=ada, rating=1, title="Bad", verified_purchase=False)
    assert exc.value.code == "duplicate_review"
    services.review_update(review=review, rating=3, title="  Fine  ", body="", verified_purchase=False)
    review.refresh_from_db()
    assert (review.rating, review.title) == (3, "Fine")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"rating": "0"}, "rating", "Choose 1 to 5 stars."),
        ({"rating": "6"}, "rating", "Choose 1 to 5 stars."),
        ({"rating": "x"}, "rating", "Choose 1 to 5 stars."),
        ({"rating": ""}, "rating", "Choose 1 to 5 stars."),
        ({"title": ""}, "title", "This field is required."),
        ({"title": "   "}, "title", "This field is required."),
        ({"title": "t" * 121}, "title", "at most 120 characters"),
        ({"body": "b" * 5001}, "body", "at most 5000 characters"),
    ],
)
def test_bad_input_shows_form_errors_not_500(client, product, ada, data, field, message):
    client.force_login(ada)
    response = post_review(client, product, **data)
    assert response.status_code == 200
    words = plain(response)
    assert "There is a problem" in words
    assert message in words
    assert f"id_{field}_error" in response.content.decode() or field == "rating"
    assert not Review.objects.exists()


def test_services_refuse_bad_input_too(product, ada):
    for kwargs in ({"rating": 0}, {"rating": "x"}, {"title": " "}, {"body": "b" * 5001}):
        with pytest.raises(ApplicationError):
            services.review_create(product=product, user=ada, **{"rating": 4, "title": "ok", **kwargs},
                verified_purchase=False)
    assert not Review.objects.exists()


def test_anonymous_users_are_sent_to_sign_in_with_next(client, product):
    response = client.get(review_url(product))
    assert response.status_code == 302
    assert response["Location"] == f"/account/sign-in/?next=/p/{product.slug}/review/"
    assert post_review(client, product).status_code == 302
    assert not Review.objects.exists()


def test_unknown_or_inactive_product_is_404(client, product, ada):
    client.force_login(ada)
    assert client.get("/p/no-such-thing/review/").status_code == 404
    inactive = ProductFactory(title="Gone", is_active=False)
    assert client.get(review_url(inactive)).status_code == 404


# --- verified purchase ------------------------------------------------------------------------------


def test_catalog_asks_the_shops_strategy_who_bought_what():
    """catalog holds no registry of purchase verifiers: the page passes the strategy's answer in."""
    from shop.strategy import Strategy

    assert not hasattr(services, "register_purchase_verifier")
    assert isinstance(Strategy(), services.PurchaseFacts)
    assert Strategy().has_bought(1) is False  # nobody signed in bought nothing


def test_verified_purchase_only_after_a_paid_order(client, offer, product, ada):
    other = UserFactory()
    buy(offer, other)  # someone else's order does not count for ada
    client.force_login(ada)
    post_review(client, product)
    assert Review.objects.get(user=ada).verified_purchase is False

    order = buy(offer, ada)
    assert order.status == "paid"
    post_review(client, product, title="Bought it now")  # editing checks again
    review = Review.objects.get(user=ada)
    assert review.verified_purchase is True
    assert "Verified purchase" in plain(client.get(product.get_absolute_url()))


def test_cancelled_order_does_not_verify(offer, product, ada):
    order = buy(offer, ada)
    orders_services.order_cancel(order=order)
    order.refresh_from_db()
    assert order.status == "cancelled"
    review = services.review_create(product=product, user=ada, rating=5, title="Never arrived", verified_purchase=False)
    assert review.verified_purchase is False


# --- helpful votes ------------------------------------------------------------------------------------


def test_helpful_vote_counts_once(client, product, ada):
    review = services.review_create(product=product, user=UserFactory(), rating=5, title="Great",
        verified_purchase=False)
    client.force_login(ada)
    url = f"/reviews/{review.pk}/helpful/"
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == f"{product.get_absolute_url()}#review-{review.pk}"
    client.post(url)
    review.refresh_from_db()
    assert review.helpful_count == 1
    assert ReviewVote.objects.filter(review=review).count() == 1
    assert "1 person found this helpful" in plain(client.get(product.get_absolute_url()))
    with committed():  # the vote bumps the product's cached pages when it commits
        services.review_vote_helpful(review=review, user=UserFactory())
    assert "2 people found this helpful" in plain(client.get(product.get_absolute_url()))


def test_cannot_vote_on_own_review(client, product, ada):
    review = services.review_create(product=product, user=ada, rating=5, title="Mine", verified_purchase=False)
    with pytest.raises(ApplicationError):
        services.review_vote_helpful(review=review, user=ada)
    client.force_login(ada)
    page = client.get(product.get_absolute_url()).content.decode()
    assert f'action="/reviews/{review.pk}/helpful/"' not in page  # no button on your own review
    response = client.post(f"/reviews/{review.pk}/helpful/", follow=True)
    assert "You cannot vote on your own review." in plain(response)
    review.refresh_from_db()
    assert review.helpful_count == 0
    assert not ReviewVote.objects.exists()


def test_helpful_vote_needs_sign_in_and_post(client, product):
    review = services.review_create(product=product, user=UserFactory(), rating=5, title="Great",
        verified_purchase=False)
    url = f"/reviews/{review.pk}/helpful/"
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/sign-in/?next=")
    assert client.get(url).status_code == 405
    assert client.post("/reviews/999999/helpful/").status_code == 404
    review.refresh_from_db()
    assert review.helpful_count == 0


# --- product page -------------------------------------------------------------------------------------


def test_product_page_lists_most_helpful_first_then_newest(client, product):
    now = timezone.now()
    old_helpful = services.review_create(product=product, user=UserFactory(), rating=3, title="Old but helpful",
        verified_purchase=False)
    newest = services.review_create(product=product, user=UserFactory(), rating=4, title="Newest",
        verified_purchase=False)
    older = services.review_create(product=product, user=UserFactory(), rating=5, title="Older",
        verified_purchase=False)
    Review.objects.filter(pk=old_helpful.pk).update(created_at=now - timedelta(days=30))
    Review.objects.filter(pk=older.pk).update(created_at=now - timedelta(days=2))
    Review.objects.filter(pk=newest.pk).update(created_at=now - timedelta(days=1))
    for _ in range(2):
        services.review_vote_helpful(review=old_helpful, user=UserFactory())
    cache.clear()
    page = plain(client.get(product.get_absolute_url()))
    assert "Most helpful first, then newest." in page
    assert page.index("Old but helpful") < page.index("Newest") < page.index("Older")
    assert "Write a review" in page


def test_product_page_cache_shows_a_new_review(client, product, ada):
    first = client.get(product.get_absolute_url())
    assert first["X-Page-Cache"] == "miss"
    assert client.get(product.get_absolute_url())["X-Page-Cache"] == "hit"
    with committed():
        services.review_create(product=product, user=ada, rating=5, title="Fresh review", verified_purchase=False)
    response = client.get(product.get_absolute_url())
    assert response["X-Page-Cache"] == "miss"
    assert "Fresh review" in plain(response)
    assert "1 rating" in plain(response)
    # a helpful vote also refreshes the cached page
    assert client.get(product.get_absolute_url())["X-Page-Cache"] == "hit"
    with committed():
        services.review_vote_helpful(review=Review.objects.get(user=ada), user=UserFactory())
    again = client.get(product.get_absolute_url())
    assert again["X-Page-Cache"] == "miss"
    assert "1 person found this helpful" in plain(again)


@pytest.mark.parametrize("size", [2, 12])
def test_product_page_query_count_with_reviews(client, product, django_assert_max_num_queries, size):
    for i in range(size):
        review = services.review_create(product=product, user=UserFactory(), rating=1 + i % 5, title=f"Review {i}",
            verified_purchase=False)
        if i % 2:
            services.review_vote_helpful(review=review, user=UserFactory())
    cache.clear()
    # + the live deals of the buy-box offer and the featured membership plan (both cached when warm)
    with django_assert_max_num_queries(12):
        response = client.get(product.get_absolute_url())
    assert response.status_code == 200
    assert "Review" in plain(response)
