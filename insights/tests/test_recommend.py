"""insights.recommend: pure functions, no database."""

import math
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from insights.recommend import (
    ITEM_TO_ITEM,
    ITEM_TO_ITEM_PADDED,
    POPULAR,
    EvaluationRow,
    bought_together,
    evaluate,
    for_history,
    format_table,
    item_similarities,
    popular,
    popular_by_category,
)

# Customers 1-4: a is bought by 1, 2, 3; b by 1, 2, 4; c by 2, 3 (customer 1 bought a twice).
PURCHASES = [(1, "a"), (1, "b"), (1, "a"), (2, "a"), (2, "b"), (2, "c"), (3, "a"), (3, "c"), (4, "b")]


def day(number: int) -> datetime:
    return datetime(2025, 3, 1, tzinfo=UTC) + timedelta(days=number - 1)


def test_cosine_is_common_customers_over_the_root_of_the_product_of_customer_counts():
    similarities = item_similarities(PURCHASES, min_common=1)

    ab, ac, bc = 2 / math.sqrt(3 * 3), 2 / math.sqrt(3 * 2), 1 / math.sqrt(3 * 2)
    assert similarities == {
        "a": [("c", pytest.approx(ac)), ("b", pytest.approx(ab))],
        "b": [("a", pytest.approx(ab)), ("c", pytest.approx(bc))],
        "c": [("a", pytest.approx(ac)), ("b", pytest.approx(bc))],
    }
    assert similarities["a"][0][1] == pytest.approx(0.816497, abs=1e-6)
    assert similarities["a"][1][1] == pytest.approx(0.666667, abs=1e-6)


def test_min_common_drops_pairs_with_too_few_shared_customers_and_items_left_alone():
    assert item_similarities(PURCHASES, min_common=2) == {
        "a": [("c", pytest.approx(2 / math.sqrt(6))), ("b", pytest.approx(2 / 3))],
        "b": [("a", pytest.approx(2 / 3))],
        "c": [("a", pytest.approx(2 / math.sqrt(6)))],
    }
    assert item_similarities(PURCHASES, min_common=3) == {}


def test_top_n_keeps_the_best_and_equal_scores_go_by_item_id():
    assert item_similarities(PURCHASES, min_common=1, top_n=1) == {
        "a": [("c", pytest.approx(2 / math.sqrt(6)))],
        "b": [("a", pytest.approx(2 / 3))],
        "c": [("a", pytest.approx(2 / math.sqrt(6)))],
    }
    tied = [(1, "z"), (1, "x"), (1, "y")]
    assert item_similarities(tied, min_common=1) == {
        "x": [("y", 1.0), ("z", 1.0)], "y": [("x", 1.0), ("z", 1.0)], "z": [("x", 1.0), ("y", 1.0)],
    }


def test_the_same_purchases_in_any_order_give_the_same_lists():
    rng = random.Random(3)
    purchases = [(rng.randrange(200), rng.randrange(60)) for _ in range(3000)]
    expected = item_similarities(purchases, top_n=5)

    shuffled = purchases[:]
    rng.shuffle(shuffled)

    assert item_similarities(shuffled, top_n=5) == expected
    assert list(item_similarities(shuffled, top_n=5)) == sorted(expected)
    assert all(len(neighbours) <= 5 for neighbours in expected.values())


def test_a_customer_counts_with_their_most_recent_items_only():
    purchases = [(1, "p"), (1, "q"), (1, "r"), (2, "p"), (2, "q"), (2, "r")]

    assert item_similarities(purchases, min_common=1, max_items_per_customer=2) == {
        "q": [("r", 1.0)], "r": [("q", 1.0)],
    }
    bought_again = [(1, "p"), (1, "q"), (1, "r"), (1, "p"), (2, "r"), (2, "p")]
    assert item_similarities(bought_again, min_common=2, max_items_per_customer=2) == {
        "p": [("r", 1.0)], "r": [("p", 1.0)],
    }


def test_bought_together_scores_by_confidence_and_keeps_only_lift_above_one():
    orders = [["a", "b"], ["a", "b", "a"], ["a", "c"], ["b"], ["c"], ["d"]]
    # a in 3 of 6 orders, b in 3, c in 2; a+b twice: confidence 2/3, lift (2/3) / (3/6) = 4/3.
    # a+c once: confidence 1/3 but lift (1/3) / (2/6) = 1, no better than chance.

    assert bought_together(orders, min_support=1) == {"a": [("b", pytest.approx(2 / 3))],
                                                      "b": [("a", pytest.approx(2 / 3))]}
    assert bought_together(orders, min_support=3) == {}


def test_bought_together_leaves_out_a_best_seller_that_is_in_every_order():
    orders = [["x", "a"], ["x", "a"], ["x", "b"], ["x"]]

    assert bought_together(orders, min_support=1) == {}


def test_bought_together_puts_the_more_specific_partner_first_at_equal_confidence():
    orders = [["a", "b"], ["a", "b"], ["a", "c"], ["a", "c"], ["b"], ["b"], ["b"], *[["d"]] * 13]

    assert bought_together(orders)["a"] == [("c", 0.5), ("b", 0.5)]
    assert bought_together(orders, top_n=1)["a"] == [("c", 0.5)]


def test_popular_counts_distinct_customers_ties_by_id():
    purchases = [(1, "b"), (1, "b"), (1, "b"), (2, "a"), (3, "a"), (4, "c"), (5, "c")]

    assert popular(purchases) == ["a", "c", "b"]
    assert popular(purchases, top_n=1) == ["a"]


def test_popular_with_a_half_life_favours_recent_purchases():
    purchases = [(1, "old", day(1)), (2, "old", day(1)), (3, "new", day(21)), (4, "other", day(11))]

    assert popular(purchases, top_n=None) == ["old", "new", "other"]
    # new: 1 customer at 0 days = 1; old: 2 at 20 days = 2 * 0.25; other: 1 at 10 days = 0.5 (ties go by id)
    assert popular(purchases, top_n=None, half_life=timedelta(days=10)) == ["new", "old", "other"]
    assert popular(purchases, top_n=None, half_life=timedelta(days=10), now=day(1)) == ["old", "new", "other"]
    with pytest.raises(ValueError, match="half-life"):
        popular([(1, "a")], half_life=timedelta(days=1))


def test_popular_by_category():
    purchases = [(1, "a"), (2, "a"), (1, "b"), (3, "c"), (4, "c"), (5, "c"), (6, "d"), (7, "unknown")]
    category = {"a": "toys", "b": "toys", "c": "books", "d": "books", "e": "garden"}

    assert popular_by_category(purchases, category) == {"books": ["c", "d"], "toys": ["a", "b"]}
    assert popular_by_category(purchases, category, top_n=1) == {"books": ["c"], "toys": ["a"]}


SIMILAR = {"a": [("x", 0.9), ("y", 0.5)], "b": [("y", 0.6), ("z", 0.3), ("a", 0.2)]}


def test_for_history_sums_similarities_and_leaves_out_what_the_customer_has():
    # x: 0.9 (from a); y: 0.5 + 0.6; z: 0.3; a is history
    assert for_history(["a", "b"], SIMILAR) == ["y", "x", "z"]
    assert for_history(["a", "b"], SIMILAR, exclude={"y"}) == ["x", "z"]
    assert for_history(["a", "b"], SIMILAR, top_n=2) == ["y", "x"]
    assert for_history(["unknown"], SIMILAR) == []


def test_for_history_weights_recent_items_more_with_a_decay():
    # b is the most recent (weight 1), a before it (0.1): x 0.09, y 0.05 + 0.6, z 0.3
    assert for_history(["a", "b"], SIMILAR, recency_decay=0.1) == ["y", "z", "x"]
    # only b counts, but a, bought before, is still not recommended
    assert for_history(["a", "b"], SIMILAR, max_history=1) == ["y", "z"]


def test_for_history_pads_with_the_fallback_without_duplicates_or_excluded_items():
    fallback = ["z", "p", "a", "q", "r", "s"]

    assert for_history(["a", "b"], SIMILAR, top_n=5, fallback=fallback) == ["y", "x", "z", "p", "q"]
    assert for_history([], SIMILAR, top_n=3, fallback=fallback, exclude={"p"}) == ["z", "a", "q"]
    assert for_history(["a", "b"], SIMILAR, top_n=10, fallback=fallback) == ["y", "x", "z", "p", "q", "r", "s"]


def evaluation_purchases():
    """Train (days 1-4) and test (days 7-8); the evaluation's expected numbers are worked out below."""
    return [
        (1, "a", day(1)), (1, "b", day(2)), (1, "c", day(7)),  # test customer: new item c
        (2, "a", day(1)), (2, "b", day(2)), (2, "c", day(3)),
        (3, "a", day(2)), (3, "c", day(3)), (3, "a", day(7)),  # bought a again: nothing new, not a test customer
        (4, "d", day(1)), (4, "e", day(2)), (4, "a", day(8)),  # test customer: new item a
        (5, "d", day(2)), (5, "e", day(3)),
        (6, "b", day(4)), (6, "e", day(7)),  # test customer: new item e
        (7, "a", day(7)),  # no history: not a test customer
        (8, "d", day(4)), (8, "e", day(7)),  # test customer: new item e
    ]


def test_evaluate_on_a_hand_made_time_split():
    # Train popularity (distinct customers): a 3, b 3, d 3, c 2, e 2. Similarities (min_common 1):
    # a-b 2/3, a-c 2/sqrt(6), b-c 1/sqrt(6), d-e 2/sqrt(6).
    # customer 1 [a, b] wants c: item-to-item [c] hit; popular [d, c] hit; padded [c, d] hit
    # customer 4 [d, e] wants a: item-to-item [] miss; popular [a, b] hit; padded [a, b] hit
    # customer 6 [b] wants e:    item-to-item [a, c] miss; popular [a, d] miss; padded [a, c] miss
    # customer 8 [d] wants e:    item-to-item [e] hit; popular [a, b] miss; padded [e, a] hit
    rows = evaluate(evaluation_purchases(), cutoff=day(6), k=2, min_common=1)

    assert rows == [
        EvaluationRow(method=POPULAR, customers=4, k=2, hit_rate=0.5, precision=0.25, coverage=0.8),
        EvaluationRow(method=ITEM_TO_ITEM, customers=4, k=2, hit_rate=0.5, precision=0.25, coverage=0.6),
        EvaluationRow(method=ITEM_TO_ITEM_PADDED, customers=4, k=2, hit_rate=0.75, precision=0.375, coverage=1.0),
    ]


def test_evaluate_cuts_off_the_last_fifth_of_the_period_by_default_and_counts_coverage_over_the_catalog():
    # days 1 to 8: the cutoff is day 6.6, the same split as above
    rows = evaluate(evaluation_purchases(), k=2, min_common=1, catalog=["a", "b", "c", "d", "e", "f", "g", "h"])

    assert [(row.method, row.customers, row.hit_rate, row.coverage) for row in rows] == [
        (POPULAR, 4, 0.5, 0.5), (ITEM_TO_ITEM, 4, 0.5, 0.375), (ITEM_TO_ITEM_PADDED, 4, 0.75, 0.625),
    ]


def test_evaluate_without_test_customers_reports_zeros():
    rows = evaluate([(1, "a", day(1)), (2, "b", day(9))], k=3)

    assert [(row.customers, row.hit_rate, row.precision, row.coverage) for row in rows] == [(0, 0.0, 0.0, 0.0)] * 3


def test_format_table_aligns_the_columns():
    rows = [
        EvaluationRow(method=POPULAR, customers=143, k=10, hit_rate=0.5, precision=0.037, coverage=0.8),
        EvaluationRow(method=ITEM_TO_ITEM, customers=143, k=10, hit_rate=0.125, precision=0.012, coverage=1.0),
    ]

    assert format_table(rows).splitlines() == [
        "method        customers  hit rate@10  precision@10  coverage",
        "popular             143        50.0%          3.7%     80.0%",
        "item-to-item        143        12.5%          1.2%    100.0%",
    ]


def test_demo_scale_runs_in_well_under_five_seconds():
    """5,000 customers with about 8 purchases each over 2,000 items, 90 days."""
    rng = random.Random(11)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    purchases = []
    for customer in range(5000):
        taste = rng.randrange(40)  # 40 groups of 50 related items
        for _ in range(8):
            item = taste * 50 + int(rng.paretovariate(1.2)) % 50 if rng.random() < 0.8 else rng.randrange(2000)
            purchases.append((customer, item, start + timedelta(minutes=rng.randrange(90 * 24 * 60))))

    began = time.perf_counter()
    similarities = item_similarities(purchases)
    rows = evaluate(purchases)
    elapsed = time.perf_counter() - began

    assert elapsed < 5
    assert len(similarities) > 1000
    assert rows[0].customers > 1000
    assert rows[1].hit_rate > rows[0].hit_rate
