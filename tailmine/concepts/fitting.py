"""Power-law fits of concept document frequencies, done the Clauset, Shalizi & Newman (2009) way.

* discrete MLE for ``alpha`` given ``xmin`` (Hurwitz zeta normalisation, ``scipy.special.zeta``);
* ``xmin`` by minimising the Kolmogorov-Smirnov distance between the tail and the fitted law;
* goodness of fit by the semi-parametric bootstrap (refitting ``xmin`` in every replicate);
* Vuong likelihood-ratio tests against the discrete lognormal and the discrete exponential;
* the Zipf rank exponent ``s`` of the same tail.

Everything works on the frequency spectrum (distinct value -> multiplicity), so the cost of a fit
depends on the number of *distinct* counts, not on the number of concepts, and every candidate
``xmin`` is fitted at once with vectorised NumPy (see ``longtail-methods.md`` §2.4-2.5). The
``powerlaw`` package (Alstott et al. 2014) is the oracle in the tests.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
from scipy import optimize, special

ALPHA_BOUNDS = (1.0 + 1e-6, 12.0)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class FitConfig:
    """How to fit. Defaults follow Clauset et al.; ``bootstrap`` is the number of GOF replicates
    (2,500 gives p to about +-0.01; tests use fewer)."""

    bootstrap: int = 1000
    min_tail: int = 50  # an xmin leaving fewer tail points is not a candidate (tiny tails fit anything)
    max_candidates: int = 200  # distinct xmin candidates scanned (all of them if fewer; else geometric grid)
    seed: int = 0
    significance: float = 0.1  # LR tests: a direction is claimed only when p < significance
    xmin: Optional[int] = None  # fix xmin instead of scanning (the bootstrap then keeps it fixed too)


@dataclass(frozen=True)
class Comparison:
    """Vuong likelihood-ratio test of the power law against one alternative on the same tail.

    ``loglikelihood_ratio`` R > 0 favours the power law, R < 0 the alternative; ``p_value`` says
    whether the sign can be trusted; ``favours`` is the verdict at the fit's significance level."""

    alternative: str
    loglikelihood_ratio: float
    normalized_ratio: float
    p_value: float
    favours: str
    parameters: dict


@dataclass(frozen=True)
class PowerLawFit:
    alpha: float
    xmin: int
    ks: float  # KS distance of the tail from the fitted law
    p_value: Optional[float]  # bootstrap goodness of fit; None when bootstrap=0
    alpha_se: float  # analytic standard error (Fisher information at the MLE; ignores the xmin choice)
    alpha_ci: tuple[float, float]  # 95%: bootstrap percentile when bootstrapped, else alpha +- 1.96 se
    n: int  # all observations
    n_tail: int  # observations >= xmin
    bootstrap: int
    zipf_s: float  # rank exponent of the tail (MLE of a finite Zipf law over ranks 1..n_tail)
    s_from_alpha: float  # 1 / (alpha - 1): the rank exponent a pure power law implies
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    plausible: Optional[bool] = None  # p_value > 0.1 (Clauset's rule); None without bootstrap

    def to_dict(self) -> dict:
        data = asdict(self)
        data["alpha_ci"] = list(self.alpha_ci)
        return data


@dataclass(frozen=True)
class Spectrum:
    """The frequency spectrum: sorted distinct values and how often each occurs."""

    values: np.ndarray  # float64, sorted, distinct, >= 1
    counts: np.ndarray  # int64 multiplicities

    @classmethod
    def of(cls, data) -> "Spectrum":
        x = np.asarray(data)
        if x.size and (not np.all(np.isfinite(x)) or np.any(x < 1) or np.any(x != np.floor(x))):
            raise ValueError("fit_power_law needs positive integer counts (document frequencies >= 1)")
        values, counts = np.unique(x.astype(np.int64), return_counts=True)
        return cls(values.astype(np.float64), counts.astype(np.int64))

    @classmethod
    def of_frequencies(cls, values, counts) -> "Spectrum":
        """From (distinct values, multiplicities) already summed elsewhere (e.g. per shard)."""
        v, c = np.asarray(values, np.int64), np.asarray(counts, np.int64)
        if v.size and (np.any(v < 1) or np.any(np.diff(v) <= 0) or np.any(c < 1)):
            raise ValueError("a spectrum needs ascending distinct values >= 1 with positive multiplicities")
        return cls(v.astype(np.float64), c)

    @property
    def n(self) -> int:
        return int(self.counts.sum())


# --- discrete power law -------------------------------------------------------------------------


def _log_zeta(alpha, q):
    return np.log(special.zeta(alpha, q))


def discrete_alpha_mle(xmin, n_tail, sum_log_tail, iterations: int = 60):
    """MLE of alpha for each (xmin, n, sum ln x) triple at once: maximise
    -n ln zeta(alpha, xmin) - alpha sum ln x, which is concave in alpha (golden-section search)."""
    xmin = np.asarray(xmin, dtype=np.float64)
    n_tail = np.asarray(n_tail, dtype=np.float64)
    s = np.asarray(sum_log_tail, dtype=np.float64)
    lo = np.full(xmin.shape, ALPHA_BOUNDS[0])
    hi = np.full(xmin.shape, ALPHA_BOUNDS[1])

    def ll(a):
        return -n_tail * _log_zeta(a, xmin) - a * s

    c = hi - _GOLDEN * (hi - lo)
    d = lo + _GOLDEN * (hi - lo)
    fc, fd = ll(c), ll(d)
    for _ in range(iterations):
        left = fc > fd  # maximum lies in [lo, d]
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        new_c = hi - _GOLDEN * (hi - lo)
        new_d = lo + _GOLDEN * (hi - lo)
        c, d = np.where(left, new_c, d), np.where(left, c, new_d)
        fc_new, fd_new = ll(c), ll(d)
        fc, fd = np.where(left, fc_new, fd), np.where(left, fc, fd_new)
    return (lo + hi) / 2.0


def _candidates(spec: Spectrum, cfg: FitConfig) -> np.ndarray:
    """Indices into ``spec.values`` of the xmin candidates: every distinct value leaving at least
    ``min_tail`` points (and at least two distinct values) in the tail, thinned geometrically."""
    tail_n = np.cumsum(spec.counts[::-1])[::-1]
    if cfg.xmin is not None:
        at = np.nonzero(spec.values == cfg.xmin)[0]
        if len(at) == 0:
            at = np.nonzero(spec.values > cfg.xmin)[0][:1]
        return at if len(at) and at[0] <= len(spec.values) - 2 else at[:0]
    ok = np.nonzero(tail_n >= min(cfg.min_tail, spec.n))[0]
    ok = ok[ok <= len(spec.values) - 2] if len(spec.values) >= 2 else ok[:0]
    if len(ok) <= cfg.max_candidates:
        return ok
    values = spec.values[ok]
    grid = np.geomspace(values[0], values[-1], cfg.max_candidates)
    pos = np.unique(np.clip(np.searchsorted(values, grid), 0, len(ok) - 1))
    return ok[pos]


_DENSE_PER_VALUE = 8  # a suffix sum over every integer costs ~1/9 of one Hurwitz zeta (15 vs 138 ns)


def _hurwitz_zeta_at(a: float, v: np.ndarray) -> np.ndarray:
    """zeta(a, v) = sum_{k >= v} k^-a at sorted distinct integers ``v`` (the costly part of a KS
    distance, hence of every bootstrap replicate). Where the values are dense (the low document
    frequencies: every integer present or nearly), one suffix sum over the integers, anchored on a
    single zeta, gives them all; the sparse high values each get their own zeta."""
    lo = v[0]
    covered = (v - lo + 1.0) <= _DENSE_PER_VALUE * np.arange(1, len(v) + 1)
    m = int(np.nonzero(covered)[0][-1]) + 1  # v[:m] spans at most 8 integers a value
    out = np.empty(len(v))
    cut = v[m - 1] + 1.0
    ints = np.arange(lo, cut)
    dense = np.cumsum((ints ** (-a))[::-1])[::-1] + special.zeta(a, cut)  # zeta(a, k), k in [lo, cut)
    out[:m] = dense[(v[:m] - lo).astype(np.int64)]
    if m < len(v):
        out[m:] = special.zeta(a, v[m:])
    return out


def _ks_distances(spec: Spectrum, idx: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """KS distance of the tail (values >= values[i]) from the discrete power law, for every candidate.

    The empirical CDF is a step function; the model CDF grows between data values, so the supremum
    over all integers is attained at a data value or just before the next one: both are checked."""
    out = np.empty(len(idx))
    for j, (i, a) in enumerate(zip(idx, alphas)):
        v = spec.values[i:]
        c = spec.counts[i:]
        emp = np.cumsum(c) / c.sum()
        z_from = _hurwitz_zeta_at(a, v)
        z0 = z_from[0]
        surv_from = z_from / z0  # P(X >= v)
        surv_after = (z_from - v ** (-a)) / z0  # P(X > v)
        model_at = 1.0 - surv_after  # P(X <= v)
        model_before = 1.0 - surv_from  # P(X <= v - 1)
        prev_emp = np.concatenate(([0.0], emp[:-1]))
        out[j] = max(np.max(np.abs(emp - model_at)), np.max(np.abs(prev_emp - model_before)))
    return out


def _suffix_sums(spec: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    n = np.cumsum(spec.counts[::-1])[::-1]
    s = np.cumsum((spec.counts * np.log(spec.values))[::-1])[::-1]
    return n, s


def fit_xmin(spec: Spectrum, cfg: FitConfig) -> tuple[float, float, float, int]:
    """(alpha, xmin, ks, n_tail) with xmin chosen by KS minimisation."""
    idx = _candidates(spec, cfg)
    if len(idx) == 0:
        raise ValueError(
            f"too little data for a power-law fit: {spec.n} values, {len(spec.values)} distinct "
            f"(need a tail of >= {cfg.min_tail} values and >= 2 distinct values)"
        )
    n_suffix, s_suffix = _suffix_sums(spec)
    alphas = discrete_alpha_mle(spec.values[idx], n_suffix[idx], s_suffix[idx])
    ks = _ks_distances(spec, idx, alphas)
    best = int(np.argmin(ks))
    i = idx[best]
    return float(alphas[best]), float(spec.values[i]), float(ks[best]), int(n_suffix[i])


def _alpha_se(alpha: float, xmin: float, n_tail: int) -> float:
    """1/sqrt(n * Var[ln X]) with Var[ln X] = d^2/dalpha^2 ln zeta(alpha, xmin) (Fisher information)."""
    h = 1e-4 * max(1.0, alpha)
    second = (_log_zeta(alpha + h, xmin) - 2 * _log_zeta(alpha, xmin) + _log_zeta(alpha - h, xmin)) / (h * h)
    if not np.isfinite(second) or second <= 0:
        return (alpha - 1.0) / math.sqrt(max(n_tail, 1))
    return float(1.0 / math.sqrt(n_tail * second))


def sample_discrete_power_law(alpha: float, xmin: float, size: int, rng: np.random.Generator, table: int = 10_000) -> np.ndarray:
    """Exact draws from P(x) = x^-alpha / zeta(alpha, xmin), x >= xmin: inverse CDF over the first
    ``table`` values, then (beyond them, where the law is smooth) the continuous approximation of
    Clauset et al. eq. D.6 conditioned on exceeding the table."""
    ks = xmin + np.arange(table, dtype=np.float64)
    pmf = ks ** (-alpha) / special.zeta(alpha, xmin)
    cdf = np.cumsum(pmf)
    u = rng.random(size)
    out = np.empty(size, dtype=np.float64)
    inside = u < cdf[-1]
    out[inside] = ks[np.minimum(np.searchsorted(cdf, u[inside], side="right"), table - 1)]
    m = xmin + table
    n_out = int((~inside).sum())
    if n_out:
        r = rng.random(n_out)
        out[~inside] = np.floor((m - 0.5) * (1.0 - r) ** (-1.0 / (alpha - 1.0)) + 0.5)
    return np.minimum(out, 1e15)


# --- alternatives on the same tail -----------------------------------------------------------


def _log_norm_interval(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a < b, accurate in both tails."""
    flip = a > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    lh, ll = special.log_ndtr(hi), special.log_ndtr(lo)
    return lh + np.log1p(-np.exp(np.minimum(ll - lh, -1e-300)))


def _lognormal_loglik(v: np.ndarray, xmin: float, mu: float, sigma: float) -> np.ndarray:
    """Pointwise log-likelihood of the discrete lognormal (continuous lognormal binned to integers,
    x counts for [x-0.5, x+0.5)) truncated to x >= xmin."""
    z = lambda y: (np.log(y) - mu) / sigma
    num = _log_norm_interval(z(v - 0.5), z(v + 0.5))
    den = special.log_ndtr(-z(np.array([xmin - 0.5])))[0]  # log P(X >= xmin - 0.5)
    return num - den


def _fit_lognormal(v: np.ndarray, c: np.ndarray, xmin: float) -> tuple[float, float]:
    logs = np.log(v)
    mu0 = float(np.average(logs, weights=c))
    sd0 = float(np.sqrt(np.average((logs - mu0) ** 2, weights=c))) or 1.0

    def nll(params):
        mu, log_sigma = params
        ll = _lognormal_loglik(v, xmin, mu, math.exp(log_sigma))
        total = -float(np.sum(c * ll))
        return total if np.isfinite(total) else 1e300

    best = None
    for start in ((mu0, math.log(sd0)), (0.0, math.log(sd0 * 2)), (mu0 - 2 * sd0, math.log(sd0 * 1.5))):
        res = optimize.minimize(nll, np.array(start), method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000})
        if best is None or res.fun < best.fun:
            best = res
    return float(best.x[0]), float(math.exp(best.x[1]))


def _exponential_loglik(v: np.ndarray, xmin: float, lam: float) -> np.ndarray:
    return math.log1p(-math.exp(-lam)) - lam * (v - xmin)


def _power_loglik(v: np.ndarray, xmin: float, alpha: float) -> np.ndarray:
    return -alpha * np.log(v) - _log_zeta(alpha, xmin)


def _vuong(name: str, l_pl: np.ndarray, l_alt: np.ndarray, c: np.ndarray, significance: float, parameters: dict) -> Comparison:
    d = l_pl - l_alt
    n = c.sum()
    r = float(np.sum(c * d))
    mean = r / n
    var = float(np.sum(c * (d - mean) ** 2) / n)
    if var <= 0 or not np.isfinite(var):
        normalized, p = 0.0, 1.0
    else:
        normalized = r / math.sqrt(n * var)
        p = float(special.erfc(abs(normalized) / math.sqrt(2.0)))
    favours = "undecided" if p >= significance else ("power_law" if r > 0 else name)
    return Comparison(name, r, float(normalized), p, favours, parameters)


def compare_alternatives(spec: Spectrum, alpha: float, xmin: float, significance: float = 0.1) -> dict[str, Comparison]:
    """Likelihood-ratio tests of the fitted power law against the lognormal and the exponential,
    each fitted by MLE to the same tail (x >= xmin)."""
    keep = spec.values >= xmin
    v, c = spec.values[keep], spec.counts[keep]
    l_pl = _power_loglik(v, xmin, alpha)
    mu, sigma = _fit_lognormal(v, c, xmin)
    out = {"lognormal": _vuong("lognormal", l_pl, _lognormal_loglik(v, xmin, mu, sigma), c, significance, {"mu": mu, "sigma": sigma})}
    mean_excess = float(np.average(v, weights=c) - xmin)
    lam = math.log1p(1.0 / mean_excess) if mean_excess > 0 else 50.0
    out["exponential"] = _vuong("exponential", l_pl, _exponential_loglik(v, xmin, lam), c, significance, {"lambda": lam})
    return out


# --- Zipf rank exponent ------------------------------------------------------------------------


def zipf_rank_exponent(frequencies) -> float:
    """MLE of s in f(r) proportional to r^-s over ranks 1..R (R = number of items), treating each
    unit of frequency as a draw of a rank: maximise -s sum f_r ln r - F ln H_R(s)."""
    f = np.asarray(frequencies, dtype=np.float64)
    values, counts = np.unique(f, return_counts=True)
    return zipf_rank_exponent_of_spectrum(values, counts)


_EXACT_RANKS = 1000  # generalized harmonic numbers: exact sum up to here, Euler-Maclaurin beyond


def _log_generalized_harmonic(s: float, ranks: int) -> float:
    """log sum_{r=1}^{ranks} r^-s, for any s > 0: the first ranks summed exactly, the rest by
    Euler-Maclaurin (integral, end-point and three derivative terms; error below 1e-15 relative)."""
    k = min(ranks, _EXACT_RANKS)
    head = np.arange(1, k + 1, dtype=np.float64) ** (-s)
    total = float(head.sum())
    if ranks > k:
        lo, hi = float(k + 1), float(ranks)
        t = (1.0 - s) * math.log(hi / lo)
        integral = lo ** (1.0 - s) * math.log(hi / lo) * (math.expm1(t) / t if abs(t) > 1e-12 else 1.0)
        d1 = lambda x: -s * x ** (-s - 1)
        d3 = lambda x: -s * (s + 1) * (s + 2) * x ** (-s - 3)
        d5 = lambda x: -s * (s + 1) * (s + 2) * (s + 3) * (s + 4) * x ** (-s - 5)
        total += (integral + (lo ** -s + hi ** -s) / 2 + (d1(hi) - d1(lo)) / 12
                  - (d3(hi) - d3(lo)) / 720 + (d5(hi) - d5(lo)) / 30240)
    return math.log(total)


def zipf_rank_exponent_of_spectrum(values, counts) -> float:
    """:func:`zipf_rank_exponent` from the frequency spectrum (distinct frequencies and how many items
    have each), in memory and time of the number of distinct frequencies, never of the items: the
    items of one frequency fill a block of consecutive ranks, whose sum of log ranks is a difference
    of log-gammas, and H_R(s) needs only R."""
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(counts, dtype=np.int64)
    order = np.argsort(-v, kind="stable")
    v, c = v[order], c[order]
    ranks = int(c.sum())
    if ranks < 2:
        return float("nan")
    end = np.cumsum(c).astype(np.float64)  # last rank of each block
    start = end - c  # rank before the block
    a = float(np.sum(v * (special.gammaln(end + 1.0) - special.gammaln(start + 1.0))))
    total = float(np.sum(v * c))

    def nll(s):
        return s * a + total * _log_generalized_harmonic(s, ranks)

    return float(optimize.minimize_scalar(nll, bounds=(1e-3, 10.0), method="bounded", options={"xatol": 1e-8}).x)


# --- the public entry point --------------------------------------------------------------------


def fit_power_law(counts, cfg: Optional[FitConfig] = None, **overrides) -> PowerLawFit:
    """Fit a discrete power law to positive integer ``counts`` (e.g. concept document frequencies), or
    to their :class:`Spectrum` (the same fit, without ever listing every count).

    Returns alpha, xmin (KS-minimising), the KS distance, the bootstrap p-value (fraction of
    semi-parametric replicates, each refitted with its own xmin, whose KS distance is at least the
    observed one: the power law is plausible when p > 0.1), a 95% interval for alpha, Vuong tests
    against the lognormal and exponential, and the Zipf rank exponent of the tail.
    """
    cfg = cfg or FitConfig()
    if overrides:
        cfg = FitConfig(**{**asdict(cfg), **overrides})
    spec = counts if isinstance(counts, Spectrum) else Spectrum.of(counts)
    alpha, xmin, ks, n_tail = fit_xmin(spec, cfg)
    se = _alpha_se(alpha, xmin, n_tail)
    p_value, ci = None, (alpha - 1.96 * se, alpha + 1.96 * se)
    if cfg.bootstrap > 0:
        boot_ks, boot_alpha = _bootstrap(spec, alpha, xmin, n_tail, cfg)
        p_value = float(np.mean(boot_ks >= ks))
        ci = (float(np.percentile(boot_alpha, 2.5)), float(np.percentile(boot_alpha, 97.5)))
    tail = spec.values >= xmin
    return PowerLawFit(
        alpha=alpha,
        xmin=int(xmin),
        ks=ks,
        p_value=p_value,
        alpha_se=se,
        alpha_ci=(float(ci[0]), float(ci[1])),
        n=spec.n,
        n_tail=n_tail,
        bootstrap=cfg.bootstrap,
        zipf_s=zipf_rank_exponent_of_spectrum(spec.values[tail], spec.counts[tail]),
        s_from_alpha=1.0 / (alpha - 1.0),
        comparisons=compare_alternatives(spec, alpha, xmin, cfg.significance),
        plausible=None if p_value is None else p_value > 0.1,
    )


def sample_power_law_spectrum(alpha: float, xmin: float, size: int, rng: np.random.Generator, table: int = 10_000) -> Spectrum:
    """The spectrum of ``size`` draws from the law of :func:`sample_discrete_power_law`, drawn as
    counts (a binomial for "inside the table", a multinomial over the table's values, the few draws
    beyond it one by one), so the cost is the table's size, not ``size``: the same distribution as
    ``Spectrum.of(sample_discrete_power_law(...))``."""
    ks = xmin + np.arange(table, dtype=np.float64)
    pmf = ks ** (-alpha) / special.zeta(alpha, xmin)
    inside_p = float(min(pmf.sum(), 1.0))
    n_in = int(rng.binomial(size, inside_p)) if size else 0
    counts_in = rng.multinomial(n_in, pmf / pmf.sum()) if n_in else np.zeros(table, np.int64)
    n_out = size - n_in
    m = xmin + table
    beyond = np.floor((m - 0.5) * (1.0 - rng.random(n_out)) ** (-1.0 / (alpha - 1.0)) + 0.5) if n_out else np.empty(0)
    beyond_values, beyond_counts = np.unique(np.minimum(beyond, 1e15), return_counts=True)
    hit = counts_in > 0
    return Spectrum(np.concatenate((ks[hit], beyond_values)), np.concatenate((counts_in[hit], beyond_counts)).astype(np.int64))


def _bootstrap(spec: Spectrum, alpha: float, xmin: float, n_tail: int, cfg: FitConfig) -> tuple[np.ndarray, np.ndarray]:
    """Clauset et al. §4.1: each replicate draws n values, each from the fitted power law with
    probability n_tail/n and otherwise from the observed values below xmin, then refits xmin.

    A replicate is drawn as its spectrum (how many times each value occurs: a multinomial over the
    observed values below xmin, :func:`sample_power_law_spectrum` above), never as n single values:
    n is the number of distinct concepts (67M at 1.6M short documents), and the refit needs only the
    spectrum. Same distribution as drawing n values one by one; the cost per replicate is the number
    of distinct values plus the power-law table instead of n log n."""
    rng = np.random.default_rng(cfg.seed)
    below = spec.values < xmin
    body_values, body_counts = spec.values[below], spec.counts[below]
    body_total = int(body_counts.sum())
    body_p = body_counts / body_total if body_total else None
    n = spec.n
    ks = np.empty(cfg.bootstrap)
    alphas = np.empty(cfg.bootstrap)
    for b in range(cfg.bootstrap):
        k = int(rng.binomial(n, n_tail / n)) if body_total else n
        tail = sample_power_law_spectrum(alpha, xmin, k, rng)
        if body_total and n - k:
            drawn = rng.multinomial(n - k, body_p)
            hit = drawn > 0
            sample = Spectrum(np.concatenate((body_values[hit], tail.values)), np.concatenate((drawn[hit], tail.counts)).astype(np.int64))
        else:
            sample = tail
        try:
            a_b, _, ks_b, _ = fit_xmin(sample, cfg)
        except ValueError:  # a degenerate replicate (all values equal): counts as a worse fit
            a_b, ks_b = alpha, 1.0
        ks[b], alphas[b] = ks_b, a_b
    return ks, alphas
