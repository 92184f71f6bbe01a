"""Minutiae matching: MCC local similarities consolidated by LSS-R.

``Matcher(probe)`` builds the probe's cylinders once; ``match(candidate)`` compares them
with a candidate's: local similarity of every cylinder pair (bit MCC), the best one-to-one
pairs, then *relaxation* — a pair keeps its weight only as far as the other pairs agree
with it geometrically (distances, relative directions, radial angles) — and the score is
the mean relaxed similarity of the n_P most consistent pairs (Cappelli et al. 2010).

Like the paper, cylinders of minutiae whose directions differ by more than δθ = 90° are
not compared: prints are assumed placed upright within ± 90° (contact scanners, and the
contactless path turns fingertips upright).

Score range: [0, 1] (0 = nothing in common, 1 = identical minutiae). This range is fixed
and is what the calibration table is built on (``SCORE_RANGE``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from fieldid.core.finger.cylinders import CylinderSet, build_cylinders, words_per_slice
from fieldid.core.params import MccParams
from fieldid.types import FingerTemplate

#: The matcher's score range (documented for calibration).
SCORE_RANGE = (0.0, 1.0)


@intrinsic
def _popcount(typingctx, value):
    """Hardware population count (LLVM ctpop) of a uint64."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


def prepare(template: FingerTemplate | CylinderSet, params: MccParams | None = None) -> CylinderSet:
    """A template's cylinders (the expensive part of matching, to be done once per template)."""
    if isinstance(template, CylinderSet):
        return template
    return build_cylinders(np.asarray(template.minutiae), template.ppi, params or MccParams())


class Matcher:
    """Prepares a probe once, then scores candidates against it (higher = more similar)."""

    def __init__(self, probe: FingerTemplate | CylinderSet, params: MccParams | None = None) -> None:
        self.params = params or MccParams()
        self.probe = prepare(probe, self.params)
        # A contactless probe is also tried at other scales (its scale is an estimate).
        self.probes = [self.probe]
        if isinstance(probe, FingerTemplate) and probe.contactless:
            self.probes = [_scaled(probe, s, self.params) for s in self.params.contactless_scales]
        self._scalars = _scalars(self.params)

    def match(self, candidate: FingerTemplate | CylinderSet) -> float:
        other = prepare(candidate, self.params)
        if other.count < 2:
            return 0.0
        best = 0.0
        for p in self.probes:
            if p.count >= 2:
                score = _match_pair(
                    p.xy,
                    p.angle,
                    p.bits,
                    p.mask,
                    other.xy,
                    other.angle,
                    other.bits,
                    other.mask,
                    *self._scalars,
                )
                best = max(best, float(score))
        return best

    def match_many(self, candidates: Sequence[FingerTemplate | CylinderSet]) -> np.ndarray:
        """Scores of many candidates (their cylinders packed into one array, one native loop)."""
        packed = pack([prepare(c, self.params) for c in candidates], self.params)
        return self.match_packed(packed)

    def match_packed(self, packed: PackedCylinders) -> np.ndarray:
        best = np.zeros(len(packed.offsets) - 1)
        for p in self.probes:
            if p.count >= 2:
                best = np.maximum(best, self._match_packed_one(p, packed))
        return best

    def _match_packed_one(self, p: CylinderSet, packed: PackedCylinders) -> np.ndarray:
        return _match_packed(
            p.xy,
            p.angle,
            p.bits,
            p.mask,
            packed.xy,
            packed.angle,
            packed.bits,
            packed.mask,
            packed.offsets,
            *self._scalars,
        )


def _scaled(template: FingerTemplate, scale: float, params: MccParams) -> CylinderSet:
    m = np.array(template.minutiae, np.float64)
    m[:, :2] *= scale
    return build_cylinders(m, template.ppi, params)


class PackedCylinders:
    """Many templates' cylinders in flat arrays (template i owns rows offsets[i]:offsets[i+1])."""

    def __init__(self, xy, angle, bits, mask, offsets) -> None:
        self.xy, self.angle, self.bits, self.mask, self.offsets = xy, angle, bits, mask, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1


def pack(sets: Sequence[CylinderSet], params: MccParams | None = None) -> PackedCylinders:
    params = params or MccParams()
    w = words_per_slice(params)
    counts = np.array([s.count for s in sets], np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    nonempty = [s for s in sets if s.count]
    if nonempty:
        return PackedCylinders(
            np.concatenate([s.xy for s in nonempty]),
            np.concatenate([s.angle for s in nonempty]),
            np.concatenate([s.bits for s in nonempty]),
            np.concatenate([s.mask for s in nonempty]),
            offsets,
        )
    return PackedCylinders(
        np.zeros((0, 2)),
        np.zeros(0),
        np.zeros((0, params.nd, w), np.uint64),
        np.zeros((0, w), np.uint64),
        offsets,
    )


def _scalars(p: MccParams) -> tuple:
    min_matchable = int(math.ceil(p.min_matchable_cells * p.ns * p.ns * math.pi / 4.0))
    return (
        p.delta_theta,
        min_matchable,
        p.min_np,
        p.max_np,
        p.mu_p,
        p.tau_p,
        p.relax_pairs_factor,
        p.relax_iterations,
        p.relax_weight,
        p.mu1,
        p.tau1,
        p.mu2,
        p.tau2,
        p.mu3,
        p.tau3,
        p.consensus_pairs,
        p.consensus_distance,
        p.consensus_angle,
        p.consensus_min_minutiae,
        p.consensus_weight,
    )


@njit(cache=True, fastmath=True)
def _wrap(a):
    """Angle to [−π, π) for inputs in (−3π, 3π) (differences of angles in [0, 2π)): branches
    instead of a floating-point modulo, which costs more than the rest of a pair."""
    if a >= math.pi:
        a -= 2.0 * math.pi
    elif a < -math.pi:
        a += 2.0 * math.pi
    return a


@njit(cache=True, fastmath=True)
def _sigmoid(v, mu, tau):
    return 1.0 / (1.0 + math.exp(-tau * (v - mu)))


@njit(cache=True, fastmath=True)
def local_similarities(a_angle, a_bits, a_mask, b_angle, b_bits, b_mask, delta_theta, min_matchable):
    """Bit-MCC similarity of every cylinder pair (n_A × n_B)."""
    na, nb = a_bits.shape[0], b_bits.shape[0]
    nd, words = a_bits.shape[1], a_bits.shape[2]
    out = np.zeros((na, nb))
    both = np.empty(words, np.uint64)
    # |direction difference| > δθ  ⇔  cos(difference) < cos δθ: a dot product, no wrapping.
    cos_limit = math.cos(delta_theta)
    cos_a, sin_a = np.cos(a_angle), np.sin(a_angle)
    cos_b, sin_b = np.cos(b_angle), np.sin(b_angle)
    for i in range(na):
        for j in range(nb):
            if cos_a[i] * cos_b[j] + sin_a[i] * sin_b[j] < cos_limit:
                continue
            common = 0
            for w in range(words):
                both[w] = a_mask[i, w] & b_mask[j, w]
                common += _popcount(both[w])
            if common < min_matchable:
                continue
            n_a = 0
            n_b = 0
            n_x = 0
            for k in range(nd):
                for w in range(words):
                    ca = a_bits[i, k, w] & both[w]
                    cb = b_bits[j, k, w] & both[w]
                    n_a += _popcount(ca)
                    n_b += _popcount(cb)
                    n_x += _popcount(ca ^ cb)
            if n_a + n_b == 0:
                continue
            out[i, j] = 1.0 - math.sqrt(n_x) / (math.sqrt(n_a) + math.sqrt(n_b))
    return out


@njit(cache=True, fastmath=True)
def _match_pair(
    a_xy,
    a_angle,
    a_bits,
    a_mask,
    b_xy,
    b_angle,
    b_bits,
    b_mask,
    delta_theta,
    min_matchable,
    min_np,
    max_np,
    mu_p,
    tau_p,
    relax_factor,
    iterations,
    weight,
    mu1,
    tau1,
    mu2,
    tau2,
    mu3,
    tau3,
    cons_pairs,
    cons_distance,
    cons_angle,
    cons_min,
    cons_weight,
):
    na, nb = a_xy.shape[0], b_xy.shape[0]
    if na < 2 or nb < 2:
        return 0.0
    gamma = local_similarities(a_angle, a_bits, a_mask, b_angle, b_bits, b_mask, delta_theta, min_matchable)
    n_min = min(na, nb)
    n_p = min_np + int(round(_sigmoid(n_min, mu_p, tau_p) * (max_np - min_np)))
    n_r = min(n_min, relax_factor * n_p)
    # Best one-to-one pairs, greedily by local similarity (only non-zero pairs are sorted).
    flat = gamma.ravel()
    nonzero = np.nonzero(flat > 0.0)[0]
    order = nonzero[np.argsort(-flat[nonzero])]
    used_a = np.zeros(na, np.bool_)
    used_b = np.zeros(nb, np.bool_)
    pa = np.empty(n_r, np.int64)
    pb = np.empty(n_r, np.int64)
    lam0 = np.empty(n_r)
    count = 0
    for idx in order:
        if count >= n_r or flat[idx] <= 0.0:
            break
        i, j = idx // nb, idx % nb
        if used_a[i] or used_b[j]:
            continue
        used_a[i] = True
        used_b[j] = True
        pa[count], pb[count], lam0[count] = i, j, flat[idx]
        count += 1
    if count == 0:
        return 0.0
    if count == 1:
        return lam0[0] / n_p
    # Geometric compatibility of every two selected pairs.
    rho = np.zeros((count, count))
    # Where each decreasing sigmoid falls under 1e-3: v = μ + ln(999) / (−τ).
    cut1 = mu1 + math.log(999.0) / -tau1
    cut2 = mu2 + math.log(999.0) / -tau2
    cut3 = mu3 + math.log(999.0) / -tau3
    for t in range(count):
        at, bt = pa[t], pb[t]
        for k in range(t + 1, count):
            ak, bk = pa[k], pb[k]
            # Cheapest term first; a term whose sigmoid is ~ 0 (< 1e-3) makes the pair
            # incompatible, and the costly square roots and arc tangents are skipped.
            d2 = abs(_wrap(_wrap(a_angle[at] - a_angle[ak]) - _wrap(b_angle[bt] - b_angle[bk])))
            if d2 > cut2:
                continue
            dxa, dya = a_xy[ak, 0] - a_xy[at, 0], a_xy[ak, 1] - a_xy[at, 1]
            dxb, dyb = b_xy[bk, 0] - b_xy[bt, 0], b_xy[bk, 1] - b_xy[bt, 1]
            d1 = abs(math.sqrt(dxa * dxa + dya * dya) - math.sqrt(dxb * dxb + dyb * dyb))
            if d1 > cut1:
                continue
            ra = _wrap(a_angle[at] - math.atan2(dya, dxa))
            rb = _wrap(b_angle[bt] - math.atan2(dyb, dxb))
            d3 = abs(_wrap(ra - rb))
            if d3 > cut3:
                continue
            r = _sigmoid(d1, mu1, tau1) * _sigmoid(d2, mu2, tau2) * _sigmoid(d3, mu3, tau3)
            rho[t, k] = r
            rho[k, t] = r
    lam = lam0[:count].copy()
    for _ in range(iterations):
        new = np.empty(count)
        for t in range(count):
            acc = 0.0
            for k in range(count):
                acc += rho[t, k] * lam[k]
            new[t] = weight * lam[t] + (1.0 - weight) * acc / (count - 1)
        lam = new
    efficiency = lam / lam0[:count]
    best = np.argsort(-efficiency)
    take = min(n_p, count)
    total = 0.0
    for q in range(take):
        total += lam[best[q]]
    lssr = total / n_p
    if cons_weight <= 0.0:
        return lssr
    ratio = _consensus(
        a_xy,
        a_angle,
        b_xy,
        b_angle,
        pa,
        pb,
        best,
        min(cons_pairs, count),
        cons_distance,
        cons_angle,
        cons_min,
    )
    return lssr ** (1.0 - cons_weight) * ratio**cons_weight


@njit(cache=True, fastmath=True)
def _wrap_any(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True, fastmath=True)
def _consensus(a_xy, a_angle, b_xy, b_angle, pa, pb, order, tries, tol_d, tol_a, min_count):
    """Best share of minutiae paired under one rigid alignment, over the alignments given by
    the ``tries`` most consistent pairs: m² / (n_A · n_B), each n counting only minutiae in
    the other print's bounding box after alignment (the overlap), and at least min_count."""
    na, nb = a_xy.shape[0], b_xy.shape[0]
    margin = tol_d
    a_lo_x, a_hi_x = a_xy[:, 0].min() - margin, a_xy[:, 0].max() + margin
    a_lo_y, a_hi_y = a_xy[:, 1].min() - margin, a_xy[:, 1].max() + margin
    b_lo_x, b_hi_x = b_xy[:, 0].min() - margin, b_xy[:, 0].max() + margin
    b_lo_y, b_hi_y = b_xy[:, 1].min() - margin, b_xy[:, 1].max() + margin
    used = np.zeros(nb, np.bool_)
    best = 0.0
    tol_d2 = tol_d * tol_d
    for q in range(tries):
        i, j = pa[order[q]], pb[order[q]]
        rot = b_angle[j] - a_angle[i]
        c, s = math.cos(rot), math.sin(rot)
        used[:] = False
        matched = 0
        in_b = 0
        for u in range(na):
            dx, dy = a_xy[u, 0] - a_xy[i, 0], a_xy[u, 1] - a_xy[i, 1]
            px = b_xy[j, 0] + c * dx - s * dy
            py = b_xy[j, 1] + s * dx + c * dy
            if b_lo_x <= px <= b_hi_x and b_lo_y <= py <= b_hi_y:
                in_b += 1
            best_v, best_d = -1, tol_d2
            for v in range(nb):
                if used[v]:
                    continue
                ex, ey = b_xy[v, 0] - px, b_xy[v, 1] - py
                d2 = ex * ex + ey * ey
                if d2 <= best_d and abs(_wrap_any(a_angle[u] + rot - b_angle[v])) <= tol_a:
                    best_v, best_d = v, d2
            if best_v >= 0:
                used[best_v] = True
                matched += 1
        in_a = 0
        for v in range(nb):  # B into A's frame (the inverse alignment)
            dx, dy = b_xy[v, 0] - b_xy[j, 0], b_xy[v, 1] - b_xy[j, 1]
            px = a_xy[i, 0] + c * dx + s * dy
            py = a_xy[i, 1] - s * dx + c * dy
            if a_lo_x <= px <= a_hi_x and a_lo_y <= py <= a_hi_y:
                in_a += 1
        ratio = matched * matched / (max(in_b, min_count) * max(in_a, min_count))
        best = max(best, min(1.0, ratio))
    return best


@njit(cache=True, fastmath=True)
def _match_packed(
    a_xy,
    a_angle,
    a_bits,
    a_mask,
    xy,
    angle,
    bits,
    mask,
    offsets,
    delta_theta,
    min_matchable,
    min_np,
    max_np,
    mu_p,
    tau_p,
    relax_factor,
    iterations,
    weight,
    mu1,
    tau1,
    mu2,
    tau2,
    mu3,
    tau3,
    cons_pairs,
    cons_distance,
    cons_angle,
    cons_min,
    cons_weight,
):
    n = len(offsets) - 1
    out = np.zeros(n)
    for c in range(n):
        s, e = offsets[c], offsets[c + 1]
        out[c] = _match_pair(
            a_xy,
            a_angle,
            a_bits,
            a_mask,
            xy[s:e],
            angle[s:e],
            bits[s:e],
            mask[s:e],
            delta_theta,
            min_matchable,
            min_np,
            max_np,
            mu_p,
            tau_p,
            relax_factor,
            iterations,
            weight,
            mu1,
            tau1,
            mu2,
            tau2,
            mu3,
            tau3,
            cons_pairs,
            cons_distance,
            cons_angle,
            cons_min,
            cons_weight,
        )
    return out
