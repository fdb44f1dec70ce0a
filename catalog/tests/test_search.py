"""Search: PostgreSQL full-text ranking, trigram fallback for typos, and the simple backend."""

import pytest
from django.test import override_settings

from catalog import selectors
from catalog.search import PostgresSearchBackend, SimpleSearchBackend, get_search_backend
from tests.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def titles(query: str, **kwargs) -> list[str]:
    filters = selectors.product_filter_prepare(selectors.ProductFilter(query=query, **kwargs))
    return [p.title for p in selectors.product_list(filters=filters)]


@pytest.fixture
def kitchen():
    cat = CategoryFactory(name="Kitchen")
    ProductFactory(title="Steel Electric Kettle 1.7 l", category=cat, description="Boils water fast.")
    ProductFactory(title="Glass Teapot", category=cat, description="Pairs well with an electric kettle.")
    ProductFactory(title="Chef Knife", category=cat, description="Sharp.")
    ProductFactory(title="Toaster", category=cat, brand=BrandFactory(name="Kettle Co"), description="Two slots.")
    return cat


def test_postgres_backend_is_used_on_postgres():
    assert isinstance(get_search_backend(), PostgresSearchBackend)


def test_title_match_ranks_above_brand_above_description(kitchen):
    assert titles("kettle") == ["Steel Electric Kettle 1.7 l", "Toaster", "Glass Teapot"]


def test_stemming_matches_plural_and_all_words_must_match(kitchen):
    assert titles("kettles")[0] == "Steel Electric Kettle 1.7 l"
    assert titles("electric kettle")[0] == "Steel Electric Kettle 1.7 l"
    # Exact words: every word must match. With no exact match, near matches are offered.
    assert "Chef Knife" not in titles("electric kettle")
    assert titles("boils water") == ["Steel Electric Kettle 1.7 l"]


@pytest.mark.parametrize("typo", ["kettel", "ketle", "elecrtic kettle", "toastr"])
def test_typos_still_find_the_product(kitchen, typo):
    found = titles(typo)
    assert found, f"nothing found for {typo!r}"
    assert found[0] in {"Steel Electric Kettle 1.7 l", "Toaster"}


def test_nonsense_finds_nothing(kitchen):
    assert titles("zzqxv") == []


def test_search_respects_category_and_other_filters(kitchen):
    other = CategoryFactory(name="Garden")
    ProductFactory(title="Garden Kettle Planter", category=other)
    within = titles("kettle", category_id=kitchen.pk)
    assert "Garden Kettle Planter" not in within
    assert "Garden Kettle Planter" in titles("kettle")


@pytest.mark.parametrize("text", ["", "   ", "'", '"', "&|!", "a" * 1000, "<script>", "kettle OR ", "-kettle"])
def test_odd_input_never_breaks(kitchen, text):
    titles(text)  # no exception is the point: websearch syntax is forgiving


def test_simple_backend_matches_every_word(kitchen):
    with override_settings(SEARCH_BACKEND="simple"):
        assert isinstance(get_search_backend(), SimpleSearchBackend)
        assert sorted(titles("electric kettle")) == ["Glass Teapot", "Steel Electric Kettle 1.7 l"]
        assert titles("kettle knife") == []


@pytest.mark.parametrize(("typed", "searched"), [("kettel", "kettle"), ("Elecrtic Kettle", "electric kettle"),
                                                 ("toastr", "toaster"), ("knive", "knife")])
def test_the_simple_backend_corrects_misspelt_words_too(kitchen, typed, searched):
    with override_settings(SEARCH_BACKEND="simple"):
        f = selectors.product_filter_prepare(selectors.ProductFilter(query=typed))
        assert f.search_text == searched
        assert f.corrected
        assert titles(typed)
        # Nonsense stays nonsense (nothing close enough), and exact words are left alone.
        assert titles("zzqxv") == []
        assert selectors.product_filter_prepare(selectors.ProductFilter(query="kettle")).search_text == "kettle"


@pytest.mark.parametrize(
    ("typed", "searched"),
    [("kettel", "kettle"), ("Electric Kettel", "electric kettle"), ("toastr", "toaster"), ("kettle", "kettle")],
)
def test_misspelt_words_are_corrected_from_titles_and_brands(kitchen, typed, searched):
    f = selectors.product_filter_prepare(selectors.ProductFilter(query=typed))
    assert f.search_mode == "fts"
    assert f.search_text.lower() == searched
    assert f.corrected is (typed.lower() != searched)


def test_correction_dictionary_follows_products_and_rebuilds():
    from catalog import services
    from catalog.models import SearchTerm

    ProductFactory(title="Cordless Screwdriver")
    assert SearchTerm.objects.filter(word="screwdriver").exists()
    SearchTerm.objects.all().delete()
    assert services.search_terms_rebuild() >= 2
    assert set(SearchTerm.objects.values_list("word", flat=True)) >= {"cordless", "screwdriver"}


def test_search_page_says_what_it_searched_for(client, kitchen):
    body = client.get("/search/?q=kettel").content.decode()
    assert "Showing results for “kettle”" in body
    assert "Steel Electric Kettle 1.7 l" in body


def test_a_broad_search_counts_up_to_the_cap_and_pages_stop_there(client, settings):
    cat = CategoryFactory(name="Mugs")
    for n in range(7):
        ProductFactory(title=f"Stoneware mug {n}", category=cat)
    settings.CATALOG_PAGE_SIZE = 2
    settings.CATALOG_COUNT_CAP = 5
    body = client.get("/search/?q=mug").content.decode()
    assert "Over 5 results" in body
    last = client.get("/search/?q=mug&page=9").content.decode()  # past the cap: its last page, said so
    assert "There is no page 9; showing page 3." in last
    settings.CATALOG_COUNT_CAP = 7
    assert "7 results" in client.get("/search/?q=mug&page=4").content.decode()  # exactly the cap: counted
    assert "Over" not in client.get("/search/?q=mug&sort=newest").content.decode()


def test_listing_rows_leave_out_the_description(client, kitchen, django_assert_max_num_queries):
    filters = selectors.product_filter_prepare(selectors.ProductFilter(query="kettle"))
    products = list(selectors.product_list(filters=filters))
    assert {"description", "search_vector"} <= products[0].get_deferred_fields()
    client.get("/search/?q=kettle")  # warm the small caches
    with django_assert_max_num_queries(10):  # no query per card for a deferred field
        assert client.get("/search/?q=kettle&sort=price_asc").status_code == 200
