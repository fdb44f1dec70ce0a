"""A product's reviews page (/p/<slug>/reviews/) and its API: rating histogram, sorting, star filter,
pages, bad input (never a 500), helpful votes from the page, query counts and the page cache."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import selectors, services
from catalog.models import Review, ReviewVote
from tests.commit import committed
from tests.factories import CategoryFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def plain(response) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", response.content.decode()))).strip()


def titles(response) -> list[str]:
    """Review titles in page order (the text after the visually hidden "N out of 5 stars")."""
    html = response.content.decode()
    return re.findall(r'out of 5 stars</span>\s*([^<]+?)\s*</h3>', html)


def add_reviews(product, specs) -> list[Review]:
    """specs: (title, rating, helpful votes, days old) each; through the services, like shoppers
    (committed: the cached pages they change are invalidated when this returns)."""
    now = timezone.now()
    made = []
    with committed():
        for title, rating, votes, days in specs:
            review = services.review_create(product=product, user=UserFactory(), rating=rating, title=title,
                                             verified_purchase=False)
            for _ in range(votes):
                services.review_vote_helpful(review=review, user=UserFactory())
            Review.objects.filter(pk=review.pk).update(created_at=now - timedelta(days=days))
            made.append(review)
    return made


def many_reviews(product, n: int) -> list[Review]:
    return add_reviews(product, [(f"Review {i:02d}", 1 + i % 5, 0, i) for i in range(n)])


@pytest.fixture
def product():
    kitchen = CategoryFactory(name="Kitchen")
    kettles = CategoryFactory(name="Kettles", parent=kitchen)
    return ProductFactory(title="Blue Kettle", category=kettles)


@pytest.fixture
def four(product):
    """A: 3 stars, 2 votes, a month old; B: 5, none, newest; C: 1, one vote; D: 5, one vote."""
    return add_reviews(product, [("A", 3, 2, 30), ("B", 5, 0, 1), ("C", 1, 1, 2), ("D", 5, 1, 3)])


def url(product, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/p/{product.slug}/reviews/" + (f"?{query}" if query else "")


# --- summary --------------------------------------------------------------------------------------


def test_histogram_counts_percentages_and_average(client, product):
    add_reviews(product, [(f"R{i}", rating, 0, i) for i, rating in enumerate([5, 5, 5, 4, 1, 1])])
    histogram = selectors.rating_histogram(product_id=product.pk)
    assert histogram.count == 6
    assert histogram.average == Decimal("3.50")
    # 50, 16.7, 0, 0, 33.3 percent: whole percents, rounded half up
    assert [(r.stars, r.count, r.percent) for r in histogram.rows] == [
        (5, 3, 50), (4, 1, 17), (3, 0, 0), (2, 0, 0), (1, 2, 33),
    ]
    response = client.get(url(product))
    assert response.status_code == 200
    page = plain(response)
    assert "3.5 out of 5" in page
    assert "6 ratings" in page
    assert "Rating Share Reviews 5 stars 50% 3 4 stars 17% 1 3 stars 0% 0 2 stars 0% 0 1 star 33% 2" in page
    html = response.content.decode()
    assert "<table" in html
    assert 'scope="row"' in html
    assert "<caption" in html
    assert '<a href="?stars=5">' in html
    assert '<a href="?stars=1">' in html
    assert '<a href="?stars=3">' not in html  # nothing to filter to


def test_histogram_equal_counts_show_equal_percents_and_other_products_do_not_count(product):
    # 14 reviews: 2 five-star, 3 each of the others (14.3% and 21.4% each)
    add_reviews(product, [(f"r{i}", rating, 0, i) for i, rating in enumerate([5, 5] + [4, 3, 2, 1] * 3)])
    add_reviews(ProductFactory(title="Other"), [("x", 1, 0, 1)])
    histogram = selectors.rating_histogram(product_id=product.pk)
    assert histogram.count == 14
    assert [(r.count, r.percent) for r in histogram.rows] == [(2, 14), (3, 21), (3, 21), (3, 21), (3, 21)]
    assert histogram.average == Decimal("2.86")  # 40 / 14


def test_product_without_reviews(client, product):
    histogram = selectors.rating_histogram(product_id=product.pk)
    assert (histogram.count, histogram.average) == (0, None)
    assert [r.count for r in histogram.rows] == [0, 0, 0, 0, 0]
    page = plain(client.get(url(product)))
    assert "Not yet rated." in page
    assert "No reviews yet. Be the first to review this product." in page
    assert "Write a review" in page


def test_page_has_breadcrumbs_and_links_back_to_the_product(client, product, four):
    response = client.get(url(product))
    html = response.content.decode()
    assert "Home Kitchen Kettles Customer reviews" in plain(response)
    assert '<span aria-current="page">Customer reviews</span>' in html
    assert f'Customer reviews of <a href="/p/{product.slug}/">Blue Kettle</a>' in html
    assert f'href="/p/{product.slug}/review/"' in html


# --- sorting, filtering, pages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["A", "C", "D", "B"]),  # most helpful, then newest
        ({"sort": "helpful"}, ["A", "C", "D", "B"]),
        ({"sort": "newest"}, ["B", "C", "D", "A"]),
        ({"sort": "highest"}, ["D", "B", "A", "C"]),  # same stars: most helpful first
        ({"sort": "lowest"}, ["C", "A", "D", "B"]),
    ],
)
def test_sort_orders(client, product, four, params, expected):
    response = client.get(url(product, **params))
    assert titles(response) == expected
    sort = params.get("sort", "helpful")
    assert f'<option value="{sort}" selected>' in response.content.decode()


def test_star_filter_shows_only_those_reviews_and_keeps_the_summary(client, product, four):
    response = client.get(url(product, stars=5, sort="newest"))
    assert titles(response) == ["B", "D"]
    page = plain(response)
    assert "2 reviews with 5 stars" in page
    assert "4 ratings" in page  # the summary is of every review
    assert "5 stars 50% 2" in page
    html = response.content.decode()
    assert '<option value="5" selected>' in html
    assert 'aria-current="true"' in html  # the selected histogram row
    assert 'class="chip" href="?sort=newest"' in html  # removes the filter, keeps the sort


def test_star_filter_without_matches(client, product, four):
    response = client.get(url(product, stars=2))
    assert titles(response) == []
    page = plain(response)
    assert "No reviews with 2 stars yet." in page
    assert "Show all reviews" in page


def test_pages_of_ten_keep_sort_and_filter(client, product):
    many_reviews(product, 23)
    first = client.get(url(product, sort="newest"))
    assert titles(first) == [f"Review {i:02d}" for i in range(10)]
    assert "23 reviews · showing 1–10" in plain(first)
    html = first.content.decode()
    assert 'href="?page=2&amp;sort=newest" rel="next"' in html
    last = client.get(url(product, sort="newest", page=3))
    assert titles(last) == ["Review 20", "Review 21", "Review 22"]
    assert "showing 21–23" in plain(last)
    assert 'aria-current="page" class="pagination__current"' in last.content.decode()
    # 1 + i % 5 == 1 for i = 0, 5, 10, 15, 20: one page, no pagination
    ones = client.get(url(product, sort="newest", stars=1))
    assert titles(ones) == ["Review 00", "Review 05", "Review 10", "Review 15", "Review 20"]
    assert 'class="pagination"' not in ones.content.decode()


@pytest.mark.parametrize(
    ("page", "shown", "notice"),
    [
        ("9", 3, "There is no page 9; showing page 3."),  # past the end: the last page, as listings
        ("abc", 1, "There is no page abc; showing page 1."),
        ("0", 3, "There is no page 0; showing page 3."),
        ("-1", 3, "There is no page -1; showing page 3."),
    ],
)
def test_page_out_of_range_shows_a_page_and_says_so(client, product, page, shown, notice):
    many_reviews(product, 23)
    response = client.get(url(product, sort="newest", page=page))
    assert response.status_code == 200
    assert notice in plain(response)
    assert 'role="alert"' in response.content.decode()
    first_on_page = f"Review {(shown - 1) * 10:02d}"
    assert titles(response)[0] == first_on_page


@pytest.mark.parametrize(
    ("params", "message", "expected"),
    [
        ({"sort": "bogus"}, "Sort by: Select a valid choice.", ["A", "C", "D", "B"]),
        ({"stars": "6", "sort": "newest"}, "Rating: Choose 1 to 5 stars.", ["B", "C", "D", "A"]),
        ({"stars": "x", "sort": "lowest"}, "Rating: Choose 1 to 5 stars.", ["C", "A", "D", "B"]),
        ({"stars": "0"}, "Rating: Choose 1 to 5 stars.", ["A", "C", "D", "B"]),
        ({"stars": "5", "sort": "%3Cscript%3E"}, "Sort by: Select a valid choice.", ["D", "B"]),
    ],
)
def test_bad_query_values_are_reported_and_ignored(client, product, four, params, message, expected):
    response = client.get(url(product, **params))
    assert response.status_code == 200
    assert message in plain(response)
    assert 'role="alert"' in response.content.decode()
    assert "<script>" not in response.content.decode()
    assert titles(response) == expected


def test_empty_values_are_the_defaults_without_a_message(client, product, four):
    response = client.get(url(product, sort="", stars=""))
    assert titles(response) == ["A", "C", "D", "B"]
    assert 'role="alert"' not in response.content.decode()


def test_unknown_or_inactive_product_is_404(client, product):
    assert client.get("/p/no-such-thing/reviews/").status_code == 404
    inactive = ProductFactory(title="Gone", is_active=False)
    add_reviews(inactive, [("old", 4, 0, 1)])
    assert client.get(url(inactive)).status_code == 404


# --- each review and the helpful vote ---------------------------------------------------------------


def test_each_review_shows_stars_author_date_badge_body_and_votes(client, product):
    author = UserFactory(full_name="Ada L.")
    review = services.review_create(
        product=product, user=author, rating=4, title="Boils fast", body="Quiet.\n\nAnd quick.",
        verified_purchase=True,
    )
    services.review_vote_helpful(review=review, user=UserFactory())
    services.review_vote_helpful(review=review, user=UserFactory())
    anonymous_author = UserFactory(full_name="")
    services.review_create(product=product, user=anonymous_author, rating=2, title="Meh", verified_purchase=False)
    response = client.get(url(product))
    html = response.content.decode()
    page = plain(response)
    assert f'<li class="review" id="review-{review.pk}">' in html
    assert "★★★★☆" in html
    assert "4 out of 5 stars" in page
    assert "By Ada L." in page
    assert "By A customer" in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">[^<]+</time>', html)
    assert page.count("Verified purchase") == 1
    assert "<p>Quiet.</p>" in html
    assert "<p>And quick.</p>" in html
    assert "2 people found this helpful" in page
    assert f'action="/reviews/{review.pk}/helpful/"' in html
    assert f'<input type="hidden" name="next" value="/p/{product.slug}/reviews/">' in html


def test_helpful_vote_from_the_page_returns_to_the_same_page(client, product):
    many_reviews(product, 13)
    review = Review.objects.get(title="Review 12")
    voter = UserFactory()
    client.force_login(voter)
    back = f"/p/{product.slug}/reviews/?page=2&sort=newest"
    page = client.get(back).content.decode()
    assert f'name="next" value="/p/{product.slug}/reviews/?page=2&amp;sort=newest"' in page
    with committed():  # the vote's request commits: the cached reviews pages are bumped
        response = client.post(f"/reviews/{review.pk}/helpful/", {"next": back})
    assert response.status_code == 302
    assert response["Location"] == f"{back}#review-{review.pk}"
    assert ReviewVote.objects.filter(review=review, user=voter).exists()
    followed = client.get(response["Location"])
    assert "Thank you for your feedback." in plain(followed)
    assert "1 person found this helpful" in plain(followed)


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/p/x/reviews/",
        "//evil.example/p/blue-kettle/reviews/",
        "/p/other-product/reviews/",
        "/p/blue-kettle/reviews-elsewhere/",
        "/account/",
        "",
    ],
)
def test_helpful_vote_never_returns_anywhere_else(client, product, next_url):
    review = add_reviews(product, [("R", 4, 0, 1)])[0]
    client.force_login(UserFactory())
    response = client.post(f"/reviews/{review.pk}/helpful/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == f"/p/{product.slug}/#review-{review.pk}"


def test_anonymous_vote_from_the_page_signs_in_then_returns_there(client, product):
    review = add_reviews(product, [("R", 4, 0, 1)])[0]
    back = f"/p/{product.slug}/reviews/?sort=lowest"
    response = client.post(f"/reviews/{review.pk}/helpful/", {"next": back})
    assert response.status_code == 302
    assert response["Location"] == (
        f"/account/sign-in/?next=/p/{product.slug}/reviews/%3Fsort%3Dlowest%23review-{review.pk}"
    )
    assert not ReviewVote.objects.exists()


def test_own_review_has_no_vote_button(client, product):
    author = UserFactory()
    mine = services.review_create(product=product, user=author, rating=5, title="Mine", verified_purchase=False)
    theirs = add_reviews(product, [("Theirs", 3, 0, 1)])[0]
    client.force_login(author)
    html = client.get(url(product)).content.decode()
    assert f'action="/reviews/{mine.pk}/helpful/"' not in html
    assert f'action="/reviews/{theirs.pk}/helpful/"' in html


# --- the product page's link ------------------------------------------------------------------------


def test_product_page_links_to_all_reviews_only_beyond_five(client, product):
    many_reviews(product, 5)
    page = client.get(f"/p/{product.slug}/").content.decode()
    assert f"/p/{product.slug}/reviews/" not in page
    assert '<input type="hidden" name="next"' not in page  # its vote forms return to the product page
    many_reviews_more = add_reviews(product, [("Sixth", 5, 0, 9)])
    assert many_reviews_more
    response = client.get(f"/p/{product.slug}/")
    assert f'<a href="/p/{product.slug}/reviews/">See all 6 reviews</a>' in response.content.decode()
    assert len(titles(response)) == 5


# --- queries and cache ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [3, 30])
def test_query_count_is_constant(client, product, django_assert_max_num_queries, size):
    many_reviews(product, size)
    for review in Review.objects.filter(product=product)[:3]:
        services.review_vote_helpful(review=review, user=UserFactory())
    cache.clear()
    # product, histogram, the page's reviews with authors; the category tree (cold cache)
    with django_assert_max_num_queries(4):
        response = client.get(url(product, stars=1 if size == 30 else 2, page=2))
    assert response.status_code == 200
    client.force_login(UserFactory())
    # + session (sessions live in the database only) and user, membership and cart badge
    with django_assert_max_num_queries(7):
        response = client.get(url(product, sort="newest"))
    assert len(titles(response)) == min(size, 10)


def test_anonymous_page_is_cached_and_refreshed_by_new_reviews_and_votes(client, product, four):
    assert client.get(url(product))["X-Page-Cache"] == "miss"
    assert client.get(url(product))["X-Page-Cache"] == "hit"
    with committed():
        newcomer = services.review_create(product=product, user=UserFactory(), rating=2, title="Fresh review",
                                           verified_purchase=False)
    response = client.get(url(product))
    assert response["X-Page-Cache"] == "miss"
    assert "Fresh review" in titles(response)
    assert "5 ratings" in plain(response)
    assert client.get(url(product))["X-Page-Cache"] == "hit"
    with committed():
        services.review_vote_helpful(review=newcomer, user=UserFactory())
    again = client.get(url(product))
    assert again["X-Page-Cache"] == "miss"
    assert "1 person found this helpful" in plain(again)
    # a moderator's deletion too
    with committed():
        services.reviews_delete(reviews=[newcomer])
    gone = client.get(url(product))
    assert gone["X-Page-Cache"] == "miss"
    assert "Fresh review" not in titles(gone)


def test_cached_page_gives_each_visitor_a_working_csrf_token(client, product, four):
    client.get(url(product))
    hit = client.get(url(product))
    assert hit["X-Page-Cache"] == "hit"
    assert "__bazaar_csrf_hole__" not in hit.content.decode()
    assert 'name="csrfmiddlewaretoken" value="' in hit.content.decode()


# --- API ----------------------------------------------------------------------------------------------


@pytest.fixture
def api():
    return APIClient()


def api_url(product, **params) -> str:
    return url(product, **params).replace("/p/", "/api/v1/products/", 1)


def test_api_lists_reviews_with_summary(api, product, four):
    response = api.get(api_url(product))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert (body["next"], body["previous"]) == (None, None)
    assert [r["title"] for r in body["results"]] == ["A", "C", "D", "B"]
    a = four[0]
    a.refresh_from_db()
    assert body["results"][0] == {
        "id": a.pk, "rating": 3, "title": "A", "body": "", "author": a.user.full_name,
        "created_at": a.created_at.isoformat().replace("+00:00", "Z"), "verified_purchase": False,
        "helpful_count": 2,
    }
    assert body["summary"] == {
        "count": 4, "average": "3.50",
        "histogram": [
            {"stars": 5, "count": 2, "percent": 50}, {"stars": 4, "count": 0, "percent": 0},
            {"stars": 3, "count": 1, "percent": 25}, {"stars": 2, "count": 0, "percent": 0},
            {"stars": 1, "count": 1, "percent": 25},
        ],
    }
    assert "email" not in str(body)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "newest"}, ["B", "C", "D", "A"]),
        ({"sort": "highest"}, ["D", "B", "A", "C"]),
        ({"sort": "lowest"}, ["C", "A", "D", "B"]),
        ({"sort": ""}, ["A", "C", "D", "B"]),
        ({"stars": "5"}, ["D", "B"]),
        ({"stars": "5", "sort": "newest"}, ["B", "D"]),
        ({"stars": "2"}, []),
        ({"stars": ""}, ["A", "C", "D", "B"]),
    ],
)
def test_api_sort_and_star_filter(api, product, four, params, expected):
    body = api.get(api_url(product, **params)).json()
    assert [r["title"] for r in body["results"]] == expected
    assert body["count"] == len(expected)
    assert body["summary"]["count"] == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "best"}, "sort"),
        ({"stars": "6"}, "stars"),
        ({"stars": "0"}, "stars"),
        ({"stars": "x"}, "stars"),
        ({"page": "2"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "500"}, "page_size"),
    ],
)
def test_api_bad_parameters_are_400_in_the_error_shape(api, product, four, params, field):
    response = api.get(api_url(product, **params))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]


def test_api_pages_and_unknown_product(api, product):
    many_reviews(product, 13)
    body = api.get(api_url(product, sort="newest")).json()
    assert body["count"] == 13
    assert len(body["results"]) == 10
    assert body["next"].endswith(f"/api/v1/products/{product.slug}/reviews/?page=2&sort=newest")
    second = api.get(api_url(product, sort="newest", page=2)).json()
    assert [r["title"] for r in second["results"]] == ["Review 10", "Review 11", "Review 12"]
    missing = api.get("/api/v1/products/no-such-thing/reviews/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    inactive = ProductFactory(title="Gone", is_active=False)
    assert api.get(api_url(inactive)).status_code == 404


@pytest.mark.parametrize("size", [3, 30])
def test_api_query_count_is_constant(api, product, django_assert_max_num_queries, size):
    many_reviews(product, size)
    # product, count, the page's reviews with authors, histogram
    with django_assert_max_num_queries(4):
        response = api.get(api_url(product, sort="lowest"))
    assert response.status_code == 200
    assert len(response.json()["results"]) == min(size, 10)
