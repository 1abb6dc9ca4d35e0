"""The beta distribution LowRiskOverCommitment fits to a node's measured load (upstream
lowriskovercommitment/beta.go), with the regularized incomplete beta function computed here
(upstream calls gonum's mathext.RegIncBeta; we have no scipy).

Contract: ``compute_probability(mu, sigma, threshold)`` is upstream ComputeProbability: the
probability that utilization is at most ``threshold`` under the beta distribution whose mean
and std are ``mu`` and ``sigma``, with upstream's special cases, and the fitted distribution
(None when no fit was needed or possible). ``reg_inc_beta`` agrees with gonum to about 1e-13.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 300


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def reg_inc_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and x in [0, 1]; NaN outside (upstream RegularizedIncomplete)."""
    if a <= 0 or b <= 0 or x < 0 or x > 1 or math.isnan(x):
        return math.nan
    if x == 0:
        return 0.0
    if x == 1:
        return 1.0
    ln_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(ln_front)
    # The continued fraction converges fast only below the mean; use the symmetry above it.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def complete_beta(a: float, b: float) -> float:
    """B(a, b) for a, b > 0."""
    return math.exp(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))


def max_variance(m1: float) -> float:
    """Upstream GetMaxVariance: the largest variance a beta distribution of mean m1 has."""
    if 0 < m1 < 1:
        return m1 * (1 - m1)
    return 0.0


@dataclass(frozen=True, slots=True)
class BetaDistribution:
    """Beta(alpha, beta), alpha, beta > 0."""

    alpha: float
    beta: float

    @classmethod
    def new(cls, alpha: float, beta: float) -> BetaDistribution | None:
        """Upstream NewBetaDistribution: None unless both parameters are positive."""
        if alpha > 0 and beta > 0:
            return cls(alpha, beta)
        return None

    @classmethod
    def match_moments(cls, m1: float, m2: float) -> BetaDistribution | None:
        """Upstream MatchMoments: the distribution with first moments m1, m2, if one exists."""
        variance = m2 - m1 * m1
        if m1 < 0 or m1 > 1 or variance < 0 or variance >= m1 * (1 - m1):
            return None
        temp = max((m1 * (1 - m1) / variance) - 1, sys.float_info.min * sys.float_info.epsilon)
        return cls(m1 * temp, (1 - m1) * temp)

    def mean(self) -> float:
        """E[X]."""
        return self.alpha / (self.alpha + self.beta)

    def variance(self) -> float:
        """V[X] = E[X^2] - E[X]^2, computed from the moments as upstream."""
        m1 = self.mean()
        m2 = m1 * (self.alpha + 1) / (self.alpha + self.beta + 1)
        return m2 - m1 * m1

    def distribution_function(self, x: float) -> float:
        """P(X <= x); 0 where the function is undefined (upstream)."""
        p = reg_inc_beta(self.alpha, self.beta, x)
        if math.isnan(p) or p < 0 or p > 1:
            return 0.0
        return p

    def density_function(self, x: float) -> float:
        """pdf(x); 0 where undefined."""
        try:
            pdf = float(x ** (self.alpha - 1.0) * (1.0 - x) ** (self.beta - 1.0)
                    / complete_beta(self.alpha, self.beta))
        except (ZeroDivisionError, OverflowError, ValueError):
            return 0.0
        if math.isnan(pdf) or pdf < 0:
            return 0.0
        return pdf


def compute_probability(mu: float, sigma: float,
                        threshold: float) -> tuple[float, BetaDistribution | None]:
    """Upstream ComputeProbability (see the module contract)."""
    if mu == 0 or (sigma == 0 and mu <= threshold):
        return 1.0, None
    if sigma == 0 and mu > threshold:
        return 0.0, None
    dist = BetaDistribution.match_moments(mu, sigma * sigma + mu * mu)
    if dist is None:
        return 0.0, None
    below = dist.distribution_function(threshold)
    if math.isnan(below):
        return 1.0, dist
    return below, dist
