"""The experiment statistics (insights.stats) against scipy, the textbook formulas, and
simulations of experiments that are looked at every day. No database."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from scipy import stats as scipy_stats

from insights import stats

# --- helpers -------------------------------------------------------------------------------------


def assert_close(actual: float, expected: float, rel: float) -> None:
    """Relative agreement; below the smallest normal double, both tiny agrees."""
    if abs(expected) < 1e-300:  # scipy and this module may round the last denormals differently
        assert abs(actual) < 1e-300
    else:
        assert abs(actual - expected) <= rel * abs(expected), (actual, expected, abs(actual / expected - 1.0))


def grid(low: float, high: float, count: int) -> list[float]:
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def log_grid(low_exponent: float, high_exponent: float, count: int) -> list[float]:
    return [10.0 ** e for e in grid(low_exponent, high_exponent, count)]


def summary(values: list[float]) -> tuple[int, float, float]:
    """What a rollup keeps of raw values: n, sum, sum of squares."""
    return len(values), math.fsum(values), math.fsum(v * v for v in values)


# --- distribution helpers ------------------------------------------------------------------------


def test_normal_cdf_and_sf_match_scipy_into_both_tails():
    for x in grid(-37.0, 37.0, 741):
        assert_close(stats.normal_cdf(x), scipy_stats.norm.cdf(x), 1e-12)
        assert_close(stats.normal_sf(x), scipy_stats.norm.sf(x), 1e-12)


def test_normal_quantile_matches_scipy_from_the_centre_to_1e_300():
    probabilities = log_grid(-300, -1, 300) + grid(0.01, 0.99, 99)
    for p in probabilities:
        assert_close(stats.normal_ppf(p), scipy_stats.norm.ppf(p), 1e-12)
        assert_close(stats.normal_isf(p), scipy_stats.norm.isf(p), 1e-12)
    for p in log_grid(-15, -1, 29):  # upper tail through ppf(1 - q)
        assert_close(stats.normal_ppf(1.0 - p), scipy_stats.norm.ppf(1.0 - p), 1e-12)
    assert stats.normal_ppf(0.5) == 0.0
    assert stats.normal_ppf(0.0) == -math.inf
    assert stats.normal_ppf(1.0) == math.inf
    with pytest.raises(ValueError, match="probability"):
        stats.normal_ppf(1.5)


@pytest.mark.parametrize("df", [1, 2, 5, 30, 1e4])
def test_student_t_cdf_and_sf_match_scipy_up_to_t_50(df):
    for t in grid(-50.0, 50.0, 401) + [-1e3, 1e3, -1e6, 1e6]:
        assert_close(stats.student_t_cdf(t, df), scipy_stats.t.cdf(t, df), 1e-11)
        assert_close(stats.student_t_sf(t, df), scipy_stats.t.sf(t, df), 1e-11)


@pytest.mark.parametrize("df", [2.5, 1e6, 1e9, 1e14])
def test_student_t_keeps_its_precision_for_fractional_and_huge_degrees_of_freedom(df):
    for t in [-37.0, -20.0, -5.0, -2.0, -1.5, -0.3, 0.7, 1.9, 4.0, 12.0]:
        assert_close(stats.student_t_cdf(t, df), scipy_stats.t.cdf(t, df), 1e-11)


def test_student_t_limits():
    assert stats.student_t_cdf(0.0, 3) == 0.5
    assert stats.student_t_sf(math.inf, 3) == 0.0
    # Where t^2 overflows (scipy answers 0 there) the power-law tail df^(df/2-1) |t|^-df / B(df/2, 1/2) is exact.
    tail = 0.5**-0.75 * 1e-150 / math.exp(math.lgamma(0.25) + math.lgamma(0.5) - math.lgamma(0.75))
    assert_close(stats.student_t_cdf(-1e300, 0.5), tail, 1e-13)
    assert_close(stats.student_t_cdf(-1.3, math.inf), scipy_stats.norm.cdf(-1.3), 1e-14)
    assert_close(stats.student_t_pdf(0.4, 7), scipy_stats.t.pdf(0.4, 7), 1e-13)
    with pytest.raises(ValueError, match="degrees of freedom"):
        stats.student_t_cdf(1.0, 0)


@pytest.mark.parametrize("df", [1, 2, 2.5, 5, 30, 1e4, 1e8])
def test_student_t_quantile_matches_scipy(df):
    for p in log_grid(-12, -1, 23) + [0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.499, 0.501, 0.6, 0.8, 0.975, 0.999]:
        assert_close(stats.student_t_ppf(p, df), scipy_stats.t.ppf(p, df), 1e-11)
        assert_close(stats.student_t_isf(p, df), scipy_stats.t.isf(p, df), 1e-11)
    assert stats.student_t_ppf(0.5, df) == 0.0


@pytest.mark.parametrize("df", [1.5, 3, 10])
def test_student_t_quantile_inverts_the_cdf_deep_in_the_tail(df):
    # scipy's own quantile loses its way this far out; the round trip is the reference.
    for p in [1e-300, 1e-250, 1e-120, 1e-40]:
        assert_close(stats.student_t_cdf(stats.student_t_ppf(p, df), df), p, 1e-11)


@pytest.mark.parametrize("df", range(1, 11))
def test_chi_square_sf_matches_scipy_up_to_huge_statistics(df):
    for x in grid(0.0, 60.0, 121) + [100.0, 250.0, 700.0, 1300.0]:
        assert_close(stats.chi2_sf(x, df), scipy_stats.chi2.sf(x, df), 1e-12)
        assert_close(stats.chi2_cdf(x, df), scipy_stats.chi2.cdf(x, df), 1e-12)
    assert stats.chi2_sf(1e5, df) == 0.0  # underflows to zero, no OverflowError


@pytest.mark.parametrize("df", [50, 1000, 1e6])
def test_chi_square_sf_for_many_degrees_of_freedom(df):
    for ratio in [0.5, 0.9, 1.0, 1.1, 1.5, 3.0]:
        assert_close(stats.chi2_sf(ratio * df, df), scipy_stats.chi2.sf(ratio * df, df), 1e-11)


# --- intervals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (1, 10), (37, 1200), (500, 1000), (9, 10), (10, 10)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_is_the_closed_form(successes, n, confidence):
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    estimate, low, high = stats.proportion_interval(successes, n, confidence)
    assert estimate == p
    assert low == pytest.approx(max(0.0, centre - half), abs=1e-14)
    assert high == pytest.approx(min(1.0, centre + half), abs=1e-14)
    scipy_ci = scipy_stats.binomtest(successes, n).proportion_ci(confidence, method="wilson")
    assert low == pytest.approx(scipy_ci.low, abs=1e-12)
    assert high == pytest.approx(scipy_ci.high, abs=1e-12)


def test_wilson_interval_edges():
    assert stats.proportion_interval(0, 0) == (None, None, None)
    zero = stats.proportion_interval(0, 200)
    assert zero.estimate == 0.0
    assert zero.low == 0.0
    assert 0.0 < zero.high < 0.02  # zero orders still bound the rate
    everyone = stats.proportion_interval(50, 50)
    assert everyone.high == 1.0
    assert everyone.low < 1.0
    with pytest.raises(ValueError, match="exceed"):
        stats.proportion_interval(11, 10)
    with pytest.raises(ValueError, match="whole number"):
        stats.proportion_interval(-1, 10)


def test_mean_interval_is_scipys_t_interval():
    rng = random.Random(7)
    values = [rng.lognormvariate(3.0, 0.8) for _ in range(57)]
    n, total, sum_squares = summary(values)
    mean = total / n
    sem = scipy_stats.sem(values)
    expected_low, expected_high = scipy_stats.t.interval(0.95, n - 1, loc=mean, scale=sem)
    estimate, low, high = stats.mean_interval(n, total, sum_squares)
    assert_close(estimate, mean, 1e-14)
    assert_close(low, expected_low, 1e-10)
    assert_close(high, expected_high, 1e-10)


def test_mean_interval_accepts_decimal_money_and_handles_tiny_samples():
    interval = stats.mean_interval(3, Decimal("60.00"), Decimal("1400.00"))  # 10, 20, 30
    assert interval.estimate == 20.0
    expected_low, expected_high = scipy_stats.t.interval(0.95, 2, loc=20.0, scale=10.0 / math.sqrt(3))
    assert_close(interval.low, expected_low, 1e-11)
    assert_close(interval.high, expected_high, 1e-11)
    assert stats.mean_interval(0, 0, 0) == (None, None, None)
    assert stats.mean_interval(1, Decimal("12.50"), Decimal("156.25")) == (12.5, None, None)
    assert stats.mean_interval(4, 40, 400) == (10.0, 10.0, 10.0)  # no variation


# --- two proportions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"), [(120, 4000, 151, 4000), (30, 1000, 21, 900), (480, 5000, 560, 5200)]
)
def test_two_proportion_ztest_is_the_textbook_test(x1, n1, x2, n2):
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    unpooled = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    z975 = scipy_stats.norm.ppf(0.975)

    result = stats.two_proportion_ztest(x1, n1, x2, n2)

    assert_close(result.difference.estimate, p2 - p1, 1e-14)
    assert_close(result.relative_lift, (p2 - p1) / p1, 1e-13)
    assert_close(result.z, z, 1e-12)
    assert_close(result.p_value, 2 * scipy_stats.norm.sf(abs(z)), 1e-11)
    assert_close(result.difference.low, p2 - p1 - z975 * unpooled, 1e-12)
    assert_close(result.difference.high, p2 - p1 + z975 * unpooled, 1e-12)
    # The pooled z-test is the 2x2 chi-square test without continuity correction: z^2 = chi2.
    chi2, p_value, _, _ = scipy_stats.chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False)
    assert_close(result.z**2, chi2, 1e-11)
    assert_close(result.p_value, p_value, 1e-10)


def test_two_proportion_ztest_degenerate_cases_never_raise():
    identical = stats.two_proportion_ztest(40, 1000, 40, 1000)
    assert identical.z == 0.0
    assert identical.p_value == 1.0
    assert not identical.is_significant()

    nobody = stats.two_proportion_ztest(0, 500, 0, 480)
    assert (nobody.z, nobody.p_value, nobody.difference.estimate) == (None, 1.0, 0.0)
    assert nobody.relative_lift is None  # no lift on a zero base
    assert "no conversions" in nobody.note

    everyone = stats.two_proportion_ztest(30, 30, 25, 25)
    assert (everyone.z, everyone.p_value) == (None, 1.0)
    assert "every visitor" in everyone.note

    empty = stats.two_proportion_ztest(0, 0, 3, 100)
    assert empty.control_rate is None
    assert empty.treatment_rate == 0.03
    assert empty.difference == (None, None, None)
    assert (empty.z, empty.p_value) == (None, 1.0)
    assert empty.note


# --- Welch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n1", "mean1", "sd1", "n2", "mean2", "sd2"),
    [
        (200, 52.0, 30.0, 210, 55.5, 34.0),
        (35, 80.0, 12.0, 400, 77.0, 45.0),  # unequal n and variances
        (2, 10.0, 1.5, 2, 14.0, 6.0),  # tiny n
        (3, 10.0, 0.0, 5, 12.0, 2.0),  # one group without variation
        (100000, 1.9, 15.0, 100500, 2.05, 16.5),  # revenue per visitor at scale
    ],
)
def test_welch_matches_scipy_ttest_ind_from_stats(n1, mean1, sd1, n2, mean2, sd2):
    def rollup(n, mean, sd):
        total = n * mean
        return total, sd * sd * (n - 1) + total * total / n

    sum1, sumsq1 = rollup(n1, mean1, sd1)
    sum2, sumsq2 = rollup(n2, mean2, sd2)
    expected = scipy_stats.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=False)

    result = stats.welch_ttest(n1, sum1, sumsq1, n2, sum2, sumsq2)

    assert_close(result.difference.estimate, mean2 - mean1, 1e-10)
    assert_close(result.t, -expected.statistic, 1e-9)  # treatment minus control; scipy's is the reverse
    assert_close(result.p_value, expected.pvalue, 1e-9)
    se2 = sd1**2 / n1 + sd2**2 / n2
    welch_df = se2**2 / ((sd1**2 / n1) ** 2 / (n1 - 1) + (sd2**2 / n2) ** 2 / (n2 - 1))
    assert_close(result.df, welch_df, 1e-9)


def test_welch_interval_and_df_match_scipy_on_raw_rows():
    rng = random.Random(11)
    control = [rng.lognormvariate(3.6, 0.9) for _ in range(140)]
    treatment = [rng.lognormvariate(3.7, 1.1) for _ in range(95)]
    expected = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    interval = expected.confidence_interval(0.95)

    result = stats.welch_ttest(*summary(control), *summary(treatment))

    assert_close(result.t, expected.statistic, 1e-10)
    assert_close(result.p_value, expected.pvalue, 1e-10)
    assert_close(result.df, expected.df, 1e-10)
    assert_close(result.difference.low, interval.low, 1e-10)
    assert_close(result.difference.high, interval.high, 1e-10)


def test_welch_degenerate_cases_never_raise():
    identical = stats.welch_ttest(50, 2500, 130000, 50, 2500, 130000)
    assert identical.t == 0.0
    assert identical.p_value == 1.0

    flat = stats.welch_ttest(4, 40, 400, 6, 60, 600)  # everyone spent exactly 10
    assert (flat.t, flat.df, flat.p_value) == (None, None, 1.0)
    assert flat.difference.estimate == 0.0
    assert "variation" in flat.note

    single = stats.welch_ttest(1, 30, 900, 8, 200, 5200)
    assert (single.t, single.p_value) == (None, 1.0)
    assert single.difference.estimate == 25.0 - 30.0
    assert "two observations" in single.note

    empty = stats.welch_ttest(0, 0, 0, 8, 200, 5200)
    assert empty.control_mean is None
    assert empty.difference == (None, None, None)
    assert empty.p_value == 1.0


# --- sample ratio mismatch -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "weights", "flagged"),
    [
        ([5012, 4988], [1, 1], False),  # balanced
        ([5000, 4600], [0.5, 0.5], True),  # 50/50 that lost visitors on one side
        ([5030, 2490, 2480], [0.5, 0.25, 0.25], False),
        ([5030, 2700, 2280], [0.5, 0.25, 0.25], True),
    ],
)
def test_srm_matches_scipy_chisquare(observed, weights, flagged):
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    reference = scipy_stats.chisquare(observed, expected)

    result = stats.srm_check(observed, weights)

    assert_close(result.statistic, reference.statistic, 1e-12)
    assert_close(result.p_value, reference.pvalue, 1e-10)
    assert result.df == len(observed) - 1
    assert result.flagged is flagged
    assert result.expected == pytest.approx(expected)


def test_srm_edges():
    assert stats.srm_check([0, 0], [1, 1]).p_value == 1.0
    assert not stats.srm_check([0, 0], [1, 1]).flagged
    paused = stats.srm_check([3, 0, 4], [1, 0, 1])  # a paused arm that stays empty is left out
    assert paused.df == 1
    assert not paused.flagged
    leaking = stats.srm_check([300, 2, 310], [1, 0, 1])
    assert leaking.flagged
    assert leaking.p_value == 0.0
    with pytest.raises(ValueError, match="weights"):
        stats.srm_check([10, 10], [1])
    with pytest.raises(ValueError, match="two groups"):
        stats.srm_check([10], [1])


# --- always-valid p-values -----------------------------------------------------------------------


def test_msprt_pvalue_is_the_mixture_likelihood_ratio():
    diff, variance, tau2 = 0.012, 2.5e-5, 1e-4
    likelihood_ratio = math.sqrt(variance / (variance + tau2)) * math.exp(
        diff**2 * tau2 / (2 * variance * (variance + tau2))
    )
    assert_close(stats.msprt_pvalue(diff, variance, tau2), 1 / likelihood_ratio, 1e-13)
    assert stats.msprt_pvalue(0.0, variance, tau2) == 1.0  # capped at 1
    assert stats.msprt_pvalue(0.5, 1e-12, 1e-4) == 0.0  # exp would overflow; log space underflows instead
    assert stats.msprt_pvalue(0.5, 0.0, 1e-4) == 1.0  # no variance, no evidence
    assert stats.mixing_variance(0.01) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="tau2"):
        stats.msprt_pvalue(0.1, 1e-4, 0.0)


def _conversion_look(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    p1, p2 = x1 / n1, x2 / n2
    return p2 - p1, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2


def _simulate(rng: random.Random, rate1: float, rate2: float, looks: int, batch: int) -> list[tuple[int, int, int]]:
    """Cumulative (n per arm, conversions control, conversions treatment) after each look."""
    x1 = x2 = 0
    path = []
    for look in range(1, looks + 1):
        x1 += sum(rng.random() < rate1 for _ in range(batch))
        x2 += sum(rng.random() < rate2 for _ in range(batch))
        path.append((look * batch, x1, x2))
    return path


def test_always_valid_pvalues_never_increase():
    rng = random.Random(3)
    path = _simulate(rng, 0.1, 0.1, looks=30, batch=200)
    pvalues = stats.always_valid_pvalues([_conversion_look(x1, n, x2, n) for n, x1, x2 in path], tau2=4e-4)
    assert len(pvalues) == 30
    assert all(later <= earlier for earlier, later in zip(pvalues, pvalues[1:], strict=False))
    assert all(0.0 <= p <= 1.0 for p in pvalues)


def test_peeking_every_day_inflates_false_positives_but_msprt_stays_valid():
    """400 A/A experiments, 20 looks each: stopping at the first look with p < 0.05 'finds' a
    winner far more often than 5% with the fixed-horizon z-test, never with the mSPRT."""
    rng = random.Random(20240601)
    experiments, tau2 = 400, stats.mixing_variance(0.02)
    naive_rejections = sequential_rejections = 0
    for _ in range(experiments):
        path = _simulate(rng, 0.1, 0.1, looks=20, batch=100)
        if any(stats.two_proportion_ztest(x1, n, x2, n).p_value < 0.05 for n, x1, x2 in path):
            naive_rejections += 1
        looks = [_conversion_look(x1, n, x2, n) for n, x1, x2 in path]
        if stats.always_valid_pvalues(looks, tau2)[-1] < 0.05:
            sequential_rejections += 1
    assert sequential_rejections / experiments <= 0.06
    assert naive_rejections / experiments >= 0.12
    assert naive_rejections >= 2 * sequential_rejections + 20


def test_msprt_detects_a_real_effect():
    rng = random.Random(5)
    tau2 = stats.mixing_variance(0.02)
    detected = 0
    for _ in range(40):
        path = _simulate(rng, 0.10, 0.13, looks=20, batch=250)
        pvalues = stats.always_valid_pvalues([_conversion_look(x1, n, x2, n) for n, x1, x2 in path], tau2)
        detected += pvalues[-1] < 0.05
    assert detected >= 36  # 3 points on 10% with 5000 visitors an arm: found nearly always


# --- the results page ----------------------------------------------------------------------------


def _variant(name: str, order_values: list[Decimal], visitors: int, per_visitor: list[Decimal] | None = None):
    buyers = per_visitor if per_visitor is not None else order_values
    return stats.VariantSummary(
        name=name,
        visitors=visitors,
        orders=len(order_values),
        revenue=sum(order_values, Decimal(0)),
        revenue_sumsq_per_order=sum((v * v for v in order_values), Decimal(0)),
        revenue_sumsq_per_visitor=sum((v * v for v in buyers), Decimal(0)),
        converted_visitors=None if per_visitor is None else len(per_visitor),
    )


def test_compare_puts_every_number_of_the_results_page_together():
    rng = random.Random(42)
    control_orders = [Decimal(str(round(rng.lognormvariate(3.5, 0.7), 2))) for _ in range(310)]
    treatment_orders = [Decimal(str(round(rng.lognormvariate(3.55, 0.7), 2))) for _ in range(362)]
    control = _variant("A", control_orders, visitors=10000)
    treatment = _variant("B", treatment_orders, visitors=10050)

    result = stats.compare(control, treatment)

    floats_c = [float(v) for v in control_orders]
    floats_t = [float(v) for v in treatment_orders]
    assert result.control.conversion == stats.proportion_interval(310, 10000)
    assert result.treatment.aov == stats.mean_interval(*summary(floats_t))
    assert_close(result.control.rpv.estimate, math.fsum(floats_c) / 10000, 1e-12)
    assert result.conversion == stats.two_proportion_ztest(310, 10000, 362, 10050)
    aov_reference = scipy_stats.ttest_ind(floats_t, floats_c, equal_var=False)
    assert_close(result.aov.p_value, aov_reference.pvalue, 1e-9)
    rpv_t, rpv_c = floats_t + [0.0] * (10050 - 362), floats_c + [0.0] * (10000 - 310)  # non-buyers count as 0
    rpv_reference = scipy_stats.ttest_ind(rpv_t, rpv_c, equal_var=False)
    assert_close(result.rpv.t, rpv_reference.statistic, 1e-8)
    assert_close(result.rpv.p_value, rpv_reference.pvalue, 1e-8)
    assert_close(result.rpv.df, rpv_reference.df, 1e-8)
    look = _conversion_look(310, 10000, 362, 10050)
    assert result.tau2_conversion == stats.mixing_variance(stats.DEFAULT_CONVERSION_MDE)
    assert result.conversion_always_valid_p == stats.msprt_pvalue(*look, result.tau2_conversion)
    assert result.conversion_always_valid_p >= result.conversion.p_value  # the price of peeking
    assert isinstance(result.control.revenue, float)
    assert result.conversion_verdict().startswith("No clear difference")


def test_compare_takes_the_running_minimum_over_earlier_looks():
    early = (_variant("A", [Decimal(10)] * 50, 1000), _variant("B", [Decimal(10)] * 95, 1000))
    now = (_variant("A", [Decimal(10)] * 100, 2000), _variant("B", [Decimal(10)] * 120, 2000))
    tau2 = stats.mixing_variance(0.02)

    alone = stats.compare(*now, tau2_conversion=tau2)
    with_history = stats.compare(*now, tau2_conversion=tau2, earlier_looks=[early])

    early_p = stats.msprt_pvalue(*_conversion_look(50, 1000, 95, 1000), tau2)
    assert with_history.conversion_always_valid_p == min(early_p, alone.conversion_always_valid_p)
    assert with_history.conversion_always_valid_p < 0.05 < alone.conversion_always_valid_p
    assert with_history.conversion_decided
    assert with_history.conversion_verdict().startswith("B converts better than A")


def test_repeat_buyers_count_once_for_conversion_and_per_visitor_for_rpv():
    # Two visitors: one bought twice (10 + 30), one once (20).
    variant = _variant("A", [Decimal(10), Decimal(30), Decimal(20)], visitors=5, per_visitor=[Decimal(40), Decimal(20)])
    result = stats.compare(variant, variant)
    assert result.control.converters == 2
    assert result.control.conversion.estimate == 2 / 5
    assert result.control.aov.estimate == 20.0
    assert result.control.rpv == stats.mean_interval(5, 60, 40**2 + 20**2)
    assert result.conversion.p_value == 1.0
    assert result.aov.p_value == 1.0
    with pytest.raises(ValueError, match="converted_visitors"):
        stats.VariantSummary("A", visitors=2, orders=3, revenue=60, revenue_sumsq_per_order=1400,
                             revenue_sumsq_per_visitor=2000)


def test_a_variant_without_visitors_gives_no_numbers_rather_than_an_error():
    empty = stats.VariantSummary("B", 0, 0, Decimal(0), Decimal(0), Decimal(0))
    control = _variant("A", [Decimal(12)] * 3, visitors=40)
    result = stats.compare(control, empty)
    assert result.treatment.conversion == (None, None, None)
    assert result.treatment.aov == (None, None, None)
    assert result.conversion.p_value == 1.0
    assert result.rpv.p_value == 1.0
    assert result.conversion_always_valid_p == 1.0
    assert result.conversion_verdict() == "Not enough data yet: a variant has no visitors."


def test_srm_for_variants_uses_visitors_and_configured_weights():
    variants = [
        stats.VariantSummary("A", 5000, 0, 0, 0, 0),
        stats.VariantSummary("B", 4600, 0, 0, 0, 0),
    ]
    result = stats.srm_for_variants(variants, [50, 50])
    assert result.observed == (5000, 4600)
    assert result.flagged


def test_printing_helpers():
    assert stats.format_p_value(0.0004) == "p < 0.001"
    assert stats.format_p_value(0.0042) == "p = 0.004"
    assert stats.format_p_value(0.31) == "p = 0.31"
    assert stats.format_p_value(None) == "\u2013"
    assert stats.format_percent(0.0312) == "3.1%"
    assert stats.format_percent(0.004, signed=True) == "+0.4%"
    assert stats.format_interval(stats.Interval(0.031, 0.025, 0.038), percent=True) == "3.1% (2.5% to 3.8%)"
    assert stats.format_interval(stats.Interval(42.1, 39.8, 44.4), digits=2) == "42.10 (39.80 to 44.40)"
    assert stats.format_interval(stats.Interval(12.5, None, None)) == "12.5"
    assert stats.format_interval(stats.Interval(None, None, None)) == "\u2013"
