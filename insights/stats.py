"""The statistics of A/B experiments, from summary statistics only.

The experiment results page reads daily rollups, never raw rows, so every function here takes
counts, sums and sums of squares. The module is pure Python (``math``, ``dataclasses``,
``typing``, ``random``): no database, no Django, no numpy. Money may arrive as ``Decimal``; it
is converted to float here on purpose, because these are estimates shown on a page, never
amounts that are booked anywhere.

The tests, in plain words
-------------------------

**Wilson score interval** (``proportion_interval``) -- the range of conversion rates that fit
what we saw. Better than the textbook "p plus or minus 1.96 standard errors" interval: it never
leaves [0, 1] and stays honest for small samples and for rates near 0 or 1 (zero orders still
gives a useful upper bound). Assumes visitors convert independently of each other. Trust it
from a handful of visitors up.

**Mean interval** (``mean_interval``) -- a Student t interval for an average (order value,
revenue per visitor) from n, the sum and the sum of squares. It assumes the average is roughly
normally distributed, which the central limit theorem gives for large n even though revenue is
very skewed. With revenue, trust it from a few hundred observations; with tens of orders a few
big baskets can still move it a lot. Fewer than two observations give no interval.

**Two-proportion z-test** (``two_proportion_ztest``) -- did the treatment convert at a different
rate than the control? The test uses the pooled rate (under "no difference" both groups share
one rate), the interval of the difference uses each group's own rate. Normal approximation:
trust it when each group has at least about ten conversions and ten non-conversions. When both
rates are 0 (or both 1) there is nothing to test: the p-value is 1.0 and ``note`` says why.

**Welch's t-test** (``welch_ttest``) -- did the average differ? Unlike Student's t-test it does
not assume equal variances in both groups, which matters because the treatment can change who
buys. The degrees of freedom come from the Welch-Satterthwaite formula. Same trust rules as the
mean interval; it matches ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``.

**Sample ratio mismatch** (``srm_check``) -- a chi-square goodness-of-fit test of the visitor
counts against the configured traffic split. A tiny p-value (the default threshold is 0.001, so
a healthy experiment is flagged once in a thousand checks) means the split itself is broken
(assignment bug, bots, a redirect that loses visitors, a cache that serves one variant): the
other results cannot be trusted until that is explained. Needs an expected count of at least
about five per group.

**Always-valid p-value** (``msprt_pvalue``, ``always_valid_pvalues``) -- the mixture sequential
probability ratio test of Johari, Pekelis and Walsh ("Always valid inference", 2017). The
fixed-horizon tests above are only valid if you look once, at a sample size fixed in advance.
Looking every day and stopping at the first "significant" day makes false winners far more
common (with 20 looks, about one A/A test in four "wins" at 5%). The mSPRT p-value may be
checked after every visitor and the experiment stopped whenever it drops below alpha; the
chance of ever seeing a false positive stays below alpha. The price is some power: it needs
more data than a single planned look would. For the difference ``theta_hat`` with variance
``V`` at the current look, and a mixing variance ``tau2``::

    Lambda = sqrt(V / (V + tau2)) * exp(theta_hat**2 * tau2 / (2 * V * (V + tau2)))
    p      = min over the looks so far of min(1, 1 / Lambda)

``tau2`` is the spread of effects the test is tuned to find: choose it *before* the experiment
starts, as the square of the minimum detectable effect on the same scale as ``theta_hat``
(``mixing_variance(mde)``; for conversion, 0.01 means "one percentage point"). Too large a
``tau2`` costs little (a logarithmic penalty); too small a ``tau2`` makes the test slow to
detect effects bigger than it expects. Choosing ``tau2`` from the data being tested breaks the
guarantee. The test assumes the difference is roughly normal at every look (true after the
first few hundred visitors) and plugs in the estimated variance.

All two-sided p-values; every difference is treatment minus control.

Distribution helpers
--------------------

``normal_cdf``/``normal_sf`` use ``math.erfc`` (full precision in both tails);
``normal_ppf``/``normal_isf`` start from Acklam's rational approximation and polish with
Halley steps. Student t goes through the regularized incomplete beta function (a continued
fraction, contracted and rearranged so that degrees of freedom in the millions or billions lose
no precision), chi-square through the regularized incomplete gamma function (power series or
continued fraction); the log-gamma terms are written with Stirling's series so that their large
parts cancel on paper. The t quantile is Newton's method inside a bracket that always holds the
root. Accurate to about 1e-12 relative against scipy, in tails down to 1e-300; nothing
overflows (t beyond 1e154, statistics of 1e5 or p of 1e-300 are fine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, SupportsFloat

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "DEFAULT_CONVERSION_MDE",
    "Comparison",
    "Interval",
    "MeanTest",
    "ProportionTest",
    "SrmResult",
    "VariantResult",
    "VariantSummary",
    "always_valid_pvalues",
    "chi2_cdf",
    "chi2_sf",
    "compare",
    "format_interval",
    "format_p_value",
    "format_percent",
    "mean_interval",
    "mixing_variance",
    "msprt_pvalue",
    "normal_cdf",
    "normal_isf",
    "normal_pdf",
    "normal_ppf",
    "normal_sf",
    "proportion_interval",
    "srm_check",
    "srm_for_variants",
    "student_t_cdf",
    "student_t_isf",
    "student_t_pdf",
    "student_t_ppf",
    "student_t_sf",
    "two_proportion_ztest",
    "welch_ttest",
]

Number = SupportsFloat  # int, float or Decimal

_EPS = 2.220446049250313e-16
_TINY = 1e-300
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
# Beyond these degrees of freedom Student t and the normal differ by less than 1e-13 (|t| < 40).
_T_NORMAL_DF = 1e20

# The minimum detectable effect on conversion (absolute: 0.01 is one percentage point) whose
# square is the mSPRT mixing variance when ``compare`` is not told one.
DEFAULT_CONVERSION_MDE = 0.01


# --- distribution helpers ------------------------------------------------------------------------


def normal_pdf(x: float) -> float:
    """Density of the standard normal distribution."""
    return math.exp(-0.5 * x * x) / _SQRT_2PI


def normal_cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z; full relative precision in the lower tail."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z; full relative precision in the upper tail."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


# Acklam's rational approximation of the normal quantile (relative error below 1.2e-9).
_ACKLAM_A = (
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239
)
_ACKLAM_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572)
_ACKLAM_C = (
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838,
    -2.549732539343734, 4.374664141464968, 2.938163982698783,
)
_ACKLAM_D = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
_ACKLAM_SPLIT = 0.02425


def _polynomial(coefficients: Sequence[float], x: float) -> float:
    """Horner's rule, highest power first."""
    result = 0.0
    for coefficient in coefficients:
        result = result * x + coefficient
    return result


def _normal_lower_quantile(p: float) -> float:
    """The x <= 0 with P(Z <= x) = p, for 0 < p <= 0.5."""
    if p < _ACKLAM_SPLIT:
        q = math.sqrt(-2.0 * math.log(p))
        x = _polynomial(_ACKLAM_C, q) / (_polynomial(_ACKLAM_D, q) * q + 1.0)
    else:
        q = p - 0.5
        r = q * q
        x = q * _polynomial(_ACKLAM_A, r) / (_polynomial(_ACKLAM_B, r) * r + 1.0)
    # Halley steps on P(Z <= x) = p. The error is relative to p, and p / pdf(x) is computed in
    # logs so that it cannot overflow deep in the tail.
    # Near the centre the error is taken as (Phi(x) - 1/2) - (p - 1/2), both exact, so that a
    # quantile close to 0 keeps its relative precision.
    for _ in range(3):
        if p > 0.25:
            u = (0.5 * math.erf(x / math.sqrt(2.0)) - (p - 0.5)) / normal_pdf(x)
        else:
            cdf = normal_cdf(x)
            if cdf <= 0.0:
                break
            u = (cdf / p - 1.0) * math.exp(math.log(p) + 0.5 * x * x + _LOG_SQRT_2PI)
        step = u / (1.0 + 0.5 * x * u)
        x -= step
        if abs(step) <= 1e-15 * abs(x):
            break
    return x


def normal_ppf(p: float) -> float:
    """The quantile x with P(Z <= x) = p. ``p`` of 0 or 1 gives -inf or +inf.

    For an upper-tail probability close to 0 use ``normal_isf``: 1 - q loses q's digits."""
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"a probability must be between 0 and 1, not {p!r}")
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p <= 0.5:
        return _normal_lower_quantile(p)
    return -_normal_lower_quantile(1.0 - p)


def normal_isf(q: float) -> float:
    """The x with P(Z > x) = q (the inverse survival function), exact in the upper tail."""
    return -normal_ppf(q)


def _log_gamma_correction(x: float) -> float:
    """lgamma(x) - [(x - 1/2) log x - x + log sqrt(2 pi)] for x >= 10 (Stirling's series).

    Writing lgamma this way lets the large terms of lgamma differences cancel exactly on paper
    instead of in floating point."""
    inverse = 1.0 / x
    square = inverse * inverse
    series = _polynomial(
        (1.0 / 156.0, -691.0 / 360360.0, 1.0 / 1188.0, -1.0 / 1680.0, 1.0 / 1260.0, -1.0 / 360.0, 1.0 / 12.0),
        square,
    )
    return series * inverse


def _log_beta(a: float, b: float) -> float:
    """log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b), precise also when a or b is huge."""
    small, big = min(a, b), max(a, b)
    if big < 10.0:
        return math.lgamma(small) + math.lgamma(big) - math.lgamma(small + big)
    total = small + big
    correction = _log_gamma_correction(big) - _log_gamma_correction(total)
    if small < 10.0:
        # lgamma(big) - lgamma(big + small) with Stirling, the big terms cancelled by hand.
        difference = -(big - 0.5) * math.log1p(small / big) - small * math.log(total) + small + correction
        return math.lgamma(small) + difference
    return (
        _LOG_SQRT_2PI
        - 0.5 * math.log(big)
        + (small - 0.5) * math.log(small / total)
        - big * math.log1p(small / big)
        + _log_gamma_correction(small)
        + correction
    )


def _lentz(b0: float, terms: Iterator[tuple[float, float]], max_terms: int) -> float:
    """The continued fraction b0 + a1 / (b1 + a2 / (b2 + ...)) by the modified Lentz method.

    Terms may be on any scale (the t distribution with huge degrees of freedom gives terms near
    1e-9): ``_TINY`` only stands in for an exact zero."""
    value = b0 if b0 != 0.0 else _TINY
    c = value
    d = 0.0
    for _ in range(max_terms):
        a, b = next(terms)
        d = b + a * d
        d = 1.0 / (d if d != 0.0 else _TINY)
        c = b + a / c
        if c == 0.0:
            c = _TINY
        delta = c * d
        value *= delta
        if abs(delta - 1.0) < 4.0 * _EPS:
            return value
    raise ArithmeticError("continued fraction did not converge")


def _beta_fraction(a: float, b: float, x: float, y: float, max_terms: int) -> float:
    """The continued fraction K with I_x(a, b) = x^a y^b / (a B(a, b)) * K, where y = 1 - x.

    K = 1 / (1 + d1 / (1 + d2 / (1 + ...))) with d(2m+1) = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1))
    and d(2m) = m(b-m) x / ((a+2m-1)(a+2m)). Near x = 1 with a large, 1 + d(2m+1) is a tiny
    difference of numbers close to 1 (precision lost in proportion to a, the degrees of
    freedom), so the fraction is contracted to its even part, whose denominators
    1 + d(2m) + d(2m+1) use 1 + d(2m+1) rewritten with y and no subtraction:
    K = 1 / ((1 + d1) - d1 d2 / ((1 + d2 + d3) - d3 d4 / ((1 + d4 + d5) - ...)))."""

    def odd(m: int) -> float:  # d(2m+1)
        return -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))

    def one_plus_odd(m: int) -> float:  # 1 + d(2m+1), rearranged when that adds only positive terms
        if 2 * m + 1 < b:
            return 1.0 + odd(m)
        numerator = a * (2 * m + 1 - b) + m * (3 * m + 2 - b) + (a + m) * (a + b + m) * y
        return numerator / ((a + 2 * m) * (a + 2 * m + 1))

    def even(m: int) -> float:  # d(2m), m >= 1
        return m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))

    def terms() -> Iterator[tuple[float, float]]:
        m = 1
        while True:
            yield -odd(m - 1) * even(m), even(m) + one_plus_odd(m)
            m += 1

    return 1.0 / _lentz(one_plus_odd(0), terms(), max_terms)


def _regularized_beta(a: float, b: float, x: float, y: float, log_x: float, log_y: float) -> float:
    """I_x(a, b), the regularized incomplete beta function.

    The caller passes y = 1 - x and both logarithms, computed without cancellation, so that
    large a or b (large degrees of freedom) keep their precision."""
    if log_x == -math.inf:  # x itself may underflow to 0 while x^a / B(a, b) does not
        return 0.0
    if log_y == -math.inf:
        return 1.0
    max_terms = 400 + int(20.0 * math.sqrt(max(a, b)))
    front = math.exp(a * log_x + b * log_y - _log_beta(a, b))  # x^a y^b / B(a, b)
    # The fraction converges fast for x < (a + 1) / (a + b + 2); else use I_x(a, b) = 1 - I_y(b, a).
    # Tested on the smaller of x and y, which carries the precision (x rounds to 1 for huge a).
    direct = x < (a + 1.0) / (a + b + 2.0) if x <= 0.5 else y > (b + 1.0) / (a + b + 2.0)
    if direct:
        return front * _beta_fraction(a, b, x, y, max_terms) / a
    return 1.0 - front * _beta_fraction(b, a, y, x, max_terms) / b


def _t_beta_arguments(t: float, df: float) -> tuple[float, float, float, float]:
    """x = df / (df + t^2), y = 1 - x and their logarithms, without cancellation or overflow."""
    if abs(t) > 1e150:  # t^2 would overflow; x = df / t^2 to far below double precision
        log_x = math.log(df) - 2.0 * math.log(abs(t))
        x = math.exp(log_x)
        return x, 1.0, log_x, -x
    ratio = t * t / df
    log_y = -math.log1p(1.0 / ratio) if ratio > 0.0 else -math.inf
    return 1.0 / (1.0 + ratio), ratio / (1.0 + ratio), -math.log1p(ratio), log_y


def _t_tail(t: float, df: float) -> float:
    """P(T > |t|) for Student t with ``df`` degrees of freedom."""
    if t == 0.0:
        return 0.5
    x, y, log_x, log_y = _t_beta_arguments(t, df)
    return 0.5 * _regularized_beta(0.5 * df, 0.5, x, y, log_x, log_y)


def _t_centre(t: float, df: float) -> float:
    """P(0 < T < |t|) = 1/2 - P(T > |t|), computed directly so that it is exact for small t."""
    if t == 0.0:
        return 0.0
    x, y, log_x, log_y = _t_beta_arguments(t, df)
    return 0.5 * _regularized_beta(0.5, 0.5 * df, y, x, log_y, log_x)


def _check_df(df: float) -> None:
    if math.isnan(df) or df <= 0.0:
        raise ValueError(f"degrees of freedom must be positive, not {df!r}")


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student t with ``df`` > 0 degrees of freedom (``math.inf`` is the normal)."""
    _check_df(df)
    if math.isnan(t):
        return math.nan
    if df >= _T_NORMAL_DF:
        return normal_sf(t)
    tail = _t_tail(t, df)
    return tail if t > 0.0 else 1.0 - tail


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student t with ``df`` > 0 degrees of freedom (``math.inf`` is the normal)."""
    _check_df(df)
    if math.isnan(t):
        return math.nan
    if df >= _T_NORMAL_DF:
        return normal_cdf(t)
    tail = _t_tail(t, df)
    return tail if t < 0.0 else 1.0 - tail


def student_t_pdf(t: float, df: float) -> float:
    """Density of Student t with ``df`` > 0 degrees of freedom."""
    _check_df(df)
    if df >= _T_NORMAL_DF:
        return normal_pdf(t)
    return math.exp(_t_log_pdf(t, df))


def _t_log_pdf(t: float, df: float) -> float:
    log_x = _t_beta_arguments(t, df)[2] if t != 0.0 else 0.0  # log(df / (df + t^2)), also for huge t
    return 0.5 * (df + 1.0) * log_x - 0.5 * math.log(df) - _log_beta(0.5 * df, 0.5)


def _t_lower_quantile(q: float, df: float) -> float:
    """The t <= 0 with P(T <= t) = q, for 0 < q <= 0.5."""
    if q == 0.5:
        return 0.0
    if df == 1.0:  # Cauchy
        return -1.0 / math.tan(math.pi * q)
    if df == 2.0:
        return -(1.0 - 2.0 * q) / math.sqrt(2.0 * q * (1.0 - q))
    # The root is bracketed: the normal quantile z is never as far out as the t quantile, and
    # the power-law tail F(t) ~ df^(df/2 - 1) |t|^-df / B(df/2, 1/2) overstates F, so where that
    # tail equals q is always beyond the root. Newton's method runs on log F against log |t|,
    # where the heavy tail is a straight line (one step there, however deep); a step that
    # leaves the bracket is replaced by bisection (geometric when the bracket spans orders of
    # magnitude).
    z = _normal_lower_quantile(q)
    high = z
    log_tail = ((0.5 * df - 1.0) * math.log(df) - _log_beta(0.5 * df, 0.5) - math.log(q)) / df
    low = -math.exp(min(log_tail, 700.0))
    expansion = z + (z**3 + z) / (4.0 * df) + (5.0 * z**5 + 16.0 * z**3 + 3.0 * z) / (96.0 * df * df)
    t = expansion if low < expansion < high else 0.5 * (low + high)
    for _ in range(200):
        if q > 0.25:  # near the centre, Newton on P(t < T < 0) = 1/2 - q: both sides exact
            excess = _t_centre(t, df) - (0.5 - q)
            beyond = excess > 0.0
            candidate = t + excess / student_t_pdf(t, df)
        else:
            cdf = _t_tail(t, df)
            beyond = cdf < q
            candidate = math.nan
            if cdf > 0.0:
                slope = math.exp(math.log(-t) + _t_log_pdf(t, df) - math.log(cdf))  # -d log F / d log|t|
                candidate = -math.exp(math.log(-t) + math.log(cdf / q) / slope)
        if beyond:
            low = t
        else:
            high = t
        if not low <= candidate <= high:  # also when nan
            geometric = low < 2.0 * high
            candidate = -math.exp(0.5 * (math.log(-low) + math.log(-high))) if geometric else 0.5 * (low + high)
        if abs(candidate - t) <= 1e-13 * abs(t) or high - low <= 4.0 * _EPS * abs(high):
            return candidate
        t = candidate
    raise ArithmeticError("Student t quantile did not converge")


def student_t_ppf(p: float, df: float) -> float:
    """The quantile t with P(T <= t) = p for Student t with ``df`` > 0 degrees of freedom."""
    _check_df(df)
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"a probability must be between 0 and 1, not {p!r}")
    if df >= _T_NORMAL_DF:
        return normal_ppf(p)
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p <= 0.5:
        return _t_lower_quantile(p, df)
    return -_t_lower_quantile(1.0 - p, df)


def student_t_isf(q: float, df: float) -> float:
    """The t with P(T > t) = q, exact in the upper tail (critical values: ``student_t_isf(0.025, df)``)."""
    return -student_t_ppf(q, df)


def _log1p_minus(u: float) -> float:
    """log(1 + u) - u without cancellation for small u."""
    if -0.5 < u < 1.0:
        # log(1 + u) = 2 atanh(s) with s = u / (2 + u), and 2 s - u = -u^2 / (2 + u) exactly.
        s = u / (2.0 + u)
        s2 = s * s
        power = s * s2
        total = 0.0
        k = 3
        while True:
            term = power / k
            total += term
            if abs(term) <= _EPS * abs(total):
                break
            power *= s2
            k += 2
        return 2.0 * total - u * u / (2.0 + u)
    return math.log1p(u) - u


def _log_gamma_front(a: float, x: float) -> float:
    """log(x^a e^-x / Gamma(a)), the factor in front of both incomplete gamma expansions."""
    if a < 10.0:
        return a * math.log(x) - x - math.lgamma(a)
    # With Stirling's formula the large terms a log x, x and lgamma(a) cancel on paper.
    return a * _log1p_minus((x - a) / a) + 0.5 * math.log(a) - _LOG_SQRT_2PI - _log_gamma_correction(a)


def _gamma_fraction_terms(a: float, x: float) -> Iterator[tuple[float, float]]:
    """Terms after the first of x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (x + 5 - a - ...)),
    where Q(a, x) = x^a e^-x / Gamma(a) / (that fraction)."""
    i = 1
    while True:
        yield -i * (i - a), x + 2.0 * i + 1.0 - a
        i += 1


def _regularized_gamma(a: float, x: float) -> tuple[float, float]:
    """(P(a, x), Q(a, x)), the regularized lower and upper incomplete gamma functions."""
    if x <= 0.0:
        return 0.0, 1.0
    if math.isinf(x):
        return 1.0, 0.0
    front = math.exp(_log_gamma_front(a, x))
    max_terms = 400 + int(20.0 * math.sqrt(max(a, x)))
    if x < a + 1.0:
        # P(a, x) = front / a * sum_n x^n / ((a + 1) ... (a + n))
        term = 1.0 / a
        total = term
        for n in range(1, max_terms):
            term *= x / (a + n)
            total += term
            if term < _EPS * total:
                lower = front * total
                return lower, 1.0 - lower
        raise ArithmeticError("incomplete gamma series did not converge")
    upper = front / _lentz(x + 1.0 - a, _gamma_fraction_terms(a, x), max_terms)
    return 1.0 - upper, upper


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square X with ``df`` > 0 degrees of freedom (the p-value of a statistic)."""
    _check_df(df)
    if math.isnan(x):
        return math.nan
    return _regularized_gamma(0.5 * df, 0.5 * x)[1]


def chi2_cdf(x: float, df: float) -> float:
    """P(X <= x) for a chi-square X with ``df`` > 0 degrees of freedom."""
    _check_df(df)
    if math.isnan(x):
        return math.nan
    return _regularized_gamma(0.5 * df, 0.5 * x)[0]


# --- inputs --------------------------------------------------------------------------------------


def _count(value: object, what: str) -> int:
    """A non-negative whole number (int, or a Decimal/float without fraction)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a count, not {value!r}")
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a count, not {value!r}")
    if number != value or number < 0:
        raise ValueError(f"{what} must be a whole number >= 0, not {value!r}")
    return number


def _real(value: Number, what: str) -> float:
    """A finite float from an int, float or Decimal."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, not {value!r}")
    return number


def _critical_z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence!r}")
    return normal_isf(0.5 * (1.0 - confidence))


def _critical_t(confidence: float, df: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence!r}")
    return student_t_isf(0.5 * (1.0 - confidence), df)


# --- intervals -----------------------------------------------------------------------------------


class Interval(NamedTuple):
    """An estimate and its confidence interval; ``None`` where the data cannot give one.

    Unpacks as ``estimate, low, high = interval``."""

    estimate: float | None
    low: float | None
    high: float | None

    @property
    def has_estimate(self) -> bool:
        return self.estimate is not None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def excludes(self, value: float) -> bool:
        """True when the interval exists and does not contain ``value`` (e.g. 0 for a difference)."""
        return self.has_interval and not self.low <= value <= self.high  # type: ignore[operator]


_NO_ESTIMATE = Interval(None, None, None)


def proportion_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """The observed rate successes / n and its Wilson score interval.

    ``n == 0`` gives ``Interval(None, None, None)``: no visitors, no rate."""
    successes = _count(successes, "successes")
    n = _count(n, "n")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    z = _critical_z(confidence)
    if n == 0:
        return _NO_ESTIMATE
    rate = successes / n
    z2_n = z * z / n
    centre = (rate + 0.5 * z2_n) / (1.0 + z2_n)
    half_width = z * math.sqrt(rate * (1.0 - rate) / n + 0.25 * z2_n / n) / (1.0 + z2_n)
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return Interval(rate, low, high)


def _mean_and_variance(n: int, total: float, sum_squares: float) -> tuple[float, float]:
    """Mean and sample variance (divisor n - 1; n >= 2) from n, the sum and the sum of squares."""
    mean = total / n
    # Sum of squared deviations; rounding can push an all-equal sample a hair below zero.
    deviations = max(0.0, sum_squares - total * mean)
    return mean, deviations / (n - 1)


def mean_interval(n: int, total: Number, sum_squares: Number, confidence: float = 0.95) -> Interval:
    """The mean total / n and its Student t interval (sample variance with n - 1).

    ``n == 0`` gives no estimate; ``n == 1`` gives the mean without an interval."""
    n = _count(n, "n")
    total_f = _real(total, "total")
    sum_squares_f = _real(sum_squares, "sum_squares")
    if n == 0:
        return _NO_ESTIMATE
    if n == 1:
        return Interval(total_f, None, None)
    mean, variance = _mean_and_variance(n, total_f, sum_squares_f)
    half_width = _critical_t(confidence, n - 1) * math.sqrt(variance / n)
    return Interval(mean, mean - half_width, mean + half_width)


# --- comparisons ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProportionTest:
    """Two rates compared: treatment minus control.

    ``p_value`` is always a number; when the test cannot run it is 1.0, ``z`` is None and
    ``note`` says why in words a page can show."""

    control_rate: float | None
    treatment_rate: float | None
    difference: Interval  # treatment_rate - control_rate, unpooled interval
    relative_lift: float | None  # difference / control_rate
    z: float | None
    p_value: float
    confidence: float
    note: str = ""

    def is_significant(self, alpha: float = 0.05) -> bool:
        return self.z is not None and self.p_value < alpha


def two_proportion_ztest(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> ProportionTest:
    """Two-sided z-test of x1/n1 (control) against x2/n2 (treatment).

    The z statistic uses the pooled standard error (under the null both groups share one rate);
    the interval of the difference uses the unpooled one (each group's own rate)."""
    x1, n1, x2, n2 = _count(x1, "x1"), _count(n1, "n1"), _count(x2, "x2"), _count(n2, "n2")
    if x1 > n1 or x2 > n2:
        raise ValueError("successes cannot exceed the number of trials")
    _critical_z(confidence)
    rate1 = x1 / n1 if n1 else None
    rate2 = x2 / n2 if n2 else None
    if rate1 is None or rate2 is None:
        return ProportionTest(rate1, rate2, _NO_ESTIMATE, None, None, 1.0, confidence, note="a group has no visitors")
    difference = rate2 - rate1
    lift = difference / rate1 if rate1 > 0.0 else None
    unpooled_se = math.sqrt(rate1 * (1.0 - rate1) / n1 + rate2 * (1.0 - rate2) / n2)
    half_width = _critical_z(confidence) * unpooled_se
    interval = Interval(difference, difference - half_width, difference + half_width)
    pooled = (x1 + x2) / (n1 + n2)
    pooled_se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if pooled_se == 0.0:
        note = "no conversions in either group" if pooled == 0.0 else "every visitor converted in both groups"
        return ProportionTest(rate1, rate2, interval, lift, None, 1.0, confidence, note=note)
    z = difference / pooled_se
    return ProportionTest(rate1, rate2, interval, lift, z, 2.0 * normal_sf(abs(z)), confidence)


@dataclass(frozen=True)
class MeanTest:
    """Two means compared with Welch's t-test: treatment minus control.

    ``t`` has the sign of the difference (scipy's ``ttest_ind_from_stats(control..., treatment...)``
    reports the opposite sign, control minus treatment). When the test cannot run ``p_value``
    is 1.0, ``t`` and ``df`` are None and ``note`` says why."""

    control_mean: float | None
    treatment_mean: float | None
    difference: Interval  # treatment_mean - control_mean
    relative_lift: float | None  # difference / control_mean
    t: float | None
    df: float | None
    p_value: float
    confidence: float
    note: str = ""

    def is_significant(self, alpha: float = 0.05) -> bool:
        return self.t is not None and self.p_value < alpha


def welch_ttest(
    n1: int,
    sum1: Number,
    sumsq1: Number,
    n2: int,
    sum2: Number,
    sumsq2: Number,
    confidence: float = 0.95,
) -> MeanTest:
    """Welch's unequal-variances t-test of group 1 (control) against group 2 (treatment), from
    each group's count, sum and sum of squares."""
    n1, n2 = _count(n1, "n1"), _count(n2, "n2")
    s1, q1, s2, q2 = _real(sum1, "sum1"), _real(sumsq1, "sumsq1"), _real(sum2, "sum2"), _real(sumsq2, "sumsq2")
    _critical_z(confidence)
    mean1 = s1 / n1 if n1 else None
    mean2 = s2 / n2 if n2 else None
    if mean1 is None or mean2 is None:
        return MeanTest(mean1, mean2, _NO_ESTIMATE, None, None, None, 1.0, confidence, note="a group has no data")
    difference = mean2 - mean1
    lift = difference / mean1 if mean1 != 0.0 else None
    if n1 < 2 or n2 < 2:
        note = "each group needs at least two observations"
        return MeanTest(mean1, mean2, Interval(difference, None, None), lift, None, None, 1.0, confidence, note=note)
    share1 = _mean_and_variance(n1, s1, q1)[1] / n1  # squared standard error of each mean
    share2 = _mean_and_variance(n2, s2, q2)[1] / n2
    se2 = share1 + share2
    if se2 <= 0.0:
        note = "no variation within either group"
        return MeanTest(mean1, mean2, Interval(difference, None, None), lift, None, None, 1.0, confidence, note=note)
    se = math.sqrt(se2)
    df = se2 * se2 / (share1 * share1 / (n1 - 1) + share2 * share2 / (n2 - 1))
    t = difference / se
    half_width = _critical_t(confidence, df) * se
    interval = Interval(difference, difference - half_width, difference + half_width)
    return MeanTest(mean1, mean2, interval, lift, t, df, 2.0 * student_t_sf(abs(t), df), confidence)


# --- sample ratio mismatch -----------------------------------------------------------------------


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness of fit of observed counts against the configured split."""

    statistic: float
    df: int
    p_value: float
    flagged: bool  # p_value < threshold: the split is broken, distrust the results
    threshold: float
    observed: tuple[int, ...]
    expected: tuple[float, ...]


def srm_check(observed: Sequence[int], weights: Sequence[float], threshold: float = 0.001) -> SrmResult:
    """Sample ratio mismatch: are ``observed`` counts consistent with traffic ``weights``?

    Weights need not sum to 1 (50/50 and 1/1 are the same split). A group with weight 0 is
    expected empty: if it has visitors the split is certainly broken (statistic infinite,
    p-value 0); if it is empty it is left out of the degrees of freedom. No visitors at all is
    no evidence: p-value 1.0, not flagged. Matches ``scipy.stats.chisquare(observed, expected)``."""
    counts = tuple(_count(value, "an observed count") for value in observed)
    shares = tuple(_real(weight, "a weight") for weight in weights)
    if len(counts) != len(shares):
        raise ValueError(f"{len(counts)} observed counts but {len(shares)} weights")
    if len(counts) < 2:
        raise ValueError("a split needs at least two groups")
    if any(share < 0.0 for share in shares) or sum(shares) <= 0.0:
        raise ValueError("weights must be >= 0 with a positive sum")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold!r}")
    total = sum(counts)
    weight_sum = sum(shares)
    expected = tuple(total * share / weight_sum for share in shares)
    groups = sum(1 for count, share in zip(counts, shares, strict=True) if share > 0.0 or count > 0)
    df = max(groups - 1, 1)
    if total == 0:
        return SrmResult(0.0, df, 1.0, False, threshold, counts, expected)
    if any(count > 0 and share == 0.0 for count, share in zip(counts, shares, strict=True)):
        return SrmResult(math.inf, df, 0.0, True, threshold, counts, expected)
    statistic = sum((count - e) ** 2 / e for count, e in zip(counts, expected, strict=True) if e > 0.0)
    p_value = chi2_sf(statistic, df)
    return SrmResult(statistic, df, p_value, p_value < threshold, threshold, counts, expected)


# --- always-valid (sequential) p-values ----------------------------------------------------------


def mixing_variance(mde: float) -> float:
    """The mSPRT mixing variance tau^2 for a minimum detectable effect, on the scale of the
    difference (for conversion: 0.01 is one percentage point). Fix it before the experiment."""
    if not mde > 0.0 or math.isinf(mde):
        raise ValueError(f"the minimum detectable effect must be positive, not {mde!r}")
    return mde * mde


def msprt_pvalue(diff: float, variance: float, tau2: float) -> float:
    """min(1, 1 / Lambda) for one look: ``diff`` is the estimated difference, ``variance`` its
    variance at this look, ``tau2`` the mixing variance (``mixing_variance(mde)``).

    Valid on its own at any stopping time; ``always_valid_pvalues`` takes the running minimum
    over looks, which is also valid and never larger. No variance (no data yet, or no
    variation) is no evidence: 1.0."""
    if not tau2 > 0.0 or math.isinf(tau2):
        raise ValueError(f"tau2 must be positive, not {tau2!r}")
    diff = float(diff)
    variance = float(variance)
    if not variance > 0.0 or not math.isfinite(variance) or not math.isfinite(diff):
        return 1.0
    # log Lambda, computed in logs so a decisive look underflows to 0 instead of overflowing.
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + diff * diff * tau2 / (
        2.0 * variance * (variance + tau2)
    )
    return math.exp(-log_ratio) if log_ratio > 0.0 else 1.0


def always_valid_pvalues(looks: Iterable[tuple[float, float]], tau2: float) -> list[float]:
    """The always-valid p-value after each look: the running minimum of ``msprt_pvalue`` over
    the (diff, variance) looks so far. Never increases; stop when it drops below alpha."""
    running = 1.0
    result = []
    for diff, variance in looks:
        running = min(running, msprt_pvalue(diff, variance, tau2))
        result.append(running)
    return result


def _conversion_look(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """(difference of rates, its unpooled variance); zero variance when a group has no visitors."""
    if n1 == 0 or n2 == 0:
        return 0.0, 0.0
    rate1, rate2 = x1 / n1, x2 / n2
    return rate2 - rate1, rate1 * (1.0 - rate1) / n1 + rate2 * (1.0 - rate2) / n2


# --- experiment results --------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantSummary:
    """What the daily rollups give for one variant, cumulated over the experiment so far.

    - ``visitors``: visitors assigned to the variant;
    - ``orders``: orders they placed; ``revenue``: the sum of those orders' values;
    - ``revenue_sumsq_per_order``: sum over orders of (order value)^2 -- with ``orders`` and
      ``revenue`` this gives average order value (AOV) and Welch's test over orders;
    - ``revenue_sumsq_per_visitor``: sum over visitors of (that visitor's total revenue)^2 --
      with ``visitors`` and ``revenue`` this gives revenue per visitor (RPV) and Welch's test
      over visitors, non-buyers counting as 0 (they add 0 to both sums, so no extra field);
    - ``converted_visitors``: visitors with at least one order, the numerator of conversion.
      Left as None it is taken to be ``orders``, i.e. each order came from a different visitor;
      pass it whenever visitors can order more than once.

    A visitor who buys on two days must be squared once with the total, not once per day: a
    rollup that adds up per-day squares understates the RPV variance a little (repeat buyers).
    Money may be Decimal, int or float."""

    name: str
    visitors: int
    orders: int
    revenue: Number
    revenue_sumsq_per_order: Number
    revenue_sumsq_per_visitor: Number
    converted_visitors: int | None = None

    def __post_init__(self) -> None:
        visitors = _count(self.visitors, "visitors")
        orders = _count(self.orders, "orders")
        converted = orders if self.converted_visitors is None else _count(self.converted_visitors, "converted_visitors")
        if converted > visitors:
            hint = " (orders stand in for them; pass converted_visitors)" if self.converted_visitors is None else ""
            raise ValueError(f"{self.name}: {converted} converted visitors but only {visitors} visitors{hint}")
        if converted > orders:
            raise ValueError(f"{self.name}: {converted} converted visitors but only {orders} orders")
        for field_name in ("revenue", "revenue_sumsq_per_order", "revenue_sumsq_per_visitor"):
            _real(getattr(self, field_name), field_name)

    @property
    def converters(self) -> int:
        """Visitors with at least one order."""
        return self.orders if self.converted_visitors is None else int(self.converted_visitors)


@dataclass(frozen=True)
class VariantResult:
    """One variant's own numbers, each with its interval."""

    name: str
    visitors: int
    converters: int
    orders: int
    revenue: float
    conversion: Interval  # converters / visitors, Wilson
    aov: Interval  # revenue / orders, t interval over orders
    rpv: Interval  # revenue / visitors, t interval over visitors (non-buyers are 0)


def _variant_result(variant: VariantSummary, confidence: float) -> VariantResult:
    revenue = _real(variant.revenue, "revenue")
    return VariantResult(
        name=variant.name,
        visitors=int(variant.visitors),
        converters=variant.converters,
        orders=int(variant.orders),
        revenue=revenue,
        conversion=proportion_interval(variant.converters, variant.visitors, confidence),
        aov=mean_interval(variant.orders, revenue, variant.revenue_sumsq_per_order, confidence),
        rpv=mean_interval(variant.visitors, revenue, variant.revenue_sumsq_per_visitor, confidence),
    )


@dataclass(frozen=True)
class Comparison:
    """Treatment against control, ready for the results page.

    ``conversion.p_value`` is the fixed-horizon p-value: valid only if this is the one look
    planned in advance. ``conversion_always_valid_p`` may be read every day and acted on as
    soon as it is below ``alpha``."""

    control: VariantResult
    treatment: VariantResult
    conversion: ProportionTest
    aov: MeanTest
    rpv: MeanTest
    conversion_always_valid_p: float
    tau2_conversion: float
    confidence: float
    alpha: float

    @property
    def conversion_decided(self) -> bool:
        """The always-valid p-value says stop: conversion differs."""
        return self.conversion_always_valid_p < self.alpha

    def conversion_verdict(self) -> str:
        """One plain sentence about conversion, using the always-valid p-value."""
        difference = self.conversion.difference.estimate
        if difference is None:
            return "Not enough data yet: a variant has no visitors."
        p_text = format_p_value(self.conversion_always_valid_p)
        if not self.conversion_decided:
            return f"No clear difference in conversion yet ({p_text}, always valid)."
        direction = "better" if difference > 0 else "worse"
        return (
            f"{self.treatment.name} converts {direction} than {self.control.name}: "
            f"{format_percent(difference, signed=True)} points ({p_text}, always valid)."
        )


def compare(
    control: VariantSummary,
    treatment: VariantSummary,
    *,
    tau2_conversion: float | None = None,
    earlier_looks: Sequence[tuple[VariantSummary, VariantSummary]] = (),
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> Comparison:
    """Every number the results page shows for one treatment against the control.

    ``tau2_conversion`` is the mSPRT mixing variance for the difference of conversion rates,
    fixed when the experiment was planned (``mixing_variance(mde)``); None uses
    ``mixing_variance(DEFAULT_CONVERSION_MDE)``, one percentage point. ``earlier_looks`` are
    the cumulative (control, treatment) summaries at earlier looks (say, the end of each day),
    oldest first: the always-valid p-value is the running minimum over them and this look.
    Without them it is this look's value alone, which is also valid, only less sharp.

    With several treatments, compare each to the control; the p-values are per comparison
    (no correction for testing several)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    tau2 = mixing_variance(DEFAULT_CONVERSION_MDE) if tau2_conversion is None else float(tau2_conversion)
    control_result = _variant_result(control, confidence)
    treatment_result = _variant_result(treatment, confidence)
    looks = [
        _conversion_look(before.converters, before.visitors, after.converters, after.visitors)
        for before, after in (*earlier_looks, (control, treatment))
    ]
    return Comparison(
        control=control_result,
        treatment=treatment_result,
        conversion=two_proportion_ztest(
            control.converters, control.visitors, treatment.converters, treatment.visitors, confidence
        ),
        aov=welch_ttest(
            control.orders,
            control.revenue,
            control.revenue_sumsq_per_order,
            treatment.orders,
            treatment.revenue,
            treatment.revenue_sumsq_per_order,
            confidence,
        ),
        rpv=welch_ttest(
            control.visitors,
            control.revenue,
            control.revenue_sumsq_per_visitor,
            treatment.visitors,
            treatment.revenue,
            treatment.revenue_sumsq_per_visitor,
            confidence,
        ),
        conversion_always_valid_p=always_valid_pvalues(looks, tau2)[-1],
        tau2_conversion=tau2,
        confidence=confidence,
        alpha=alpha,
    )


def srm_for_variants(
    variants: Sequence[VariantSummary], weights: Sequence[float], threshold: float = 0.001
) -> SrmResult:
    """Sample ratio mismatch over all variants' visitors against their configured weights."""
    return srm_check([variant.visitors for variant in variants], weights, threshold)


# --- printing ------------------------------------------------------------------------------------


def format_p_value(p: float | None) -> str:
    """'p < 0.001', 'p = 0.042', 'p = 0.31', or an en dash when there is none."""
    if p is None:
        return "\u2013"
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def format_percent(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """0.0312 -> '3.1%' ('+3.1%' when ``signed``); an en dash for None."""
    if value is None:
        return "\u2013"
    return f"{100.0 * value:{'+' if signed else ''}.{digits}f}%"


def format_interval(interval: Interval, digits: int = 1, *, percent: bool = False) -> str:
    """'3.1% (2.5% to 3.8%)' or '42.10 (39.80 to 44.40)'; the estimate alone when there is no
    interval, an en dash when there is no estimate."""

    def show(value: float | None) -> str:
        if percent:
            return format_percent(value, digits)
        return "\u2013" if value is None else f"{value:.{digits}f}"

    if interval.estimate is None:
        return "\u2013"
    if not interval.has_interval:
        return show(interval.estimate)
    return f"{show(interval.estimate)} ({show(interval.low)} to {show(interval.high)})"
