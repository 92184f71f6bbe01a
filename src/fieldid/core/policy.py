"""The decision policy: which candidates to show, and what to say about them.

Never a bare "match". A probe under the quality floor returns no candidates and the reasons.
Otherwise only candidates at or above the gallery's operating threshold are shown; when there
is none the outcome is "no_candidate" — which says nothing about whether the person is
enrolled. An investigative list (explicitly asked for, by a permitted role) shows the best
candidates under the threshold too, each labelled as such.

The strength band depends on the expected number of false candidates at the candidate's
score in *this* gallery (N · FMR, using the upper end of the FMR interval), never on fixed
score cut-offs: the same score is weaker evidence in a larger gallery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from fieldid.core.calibration import Calibration, expected_false_candidates, fpir_at
from fieldid.types import QualityReport


class Outcome(StrEnum):
    CANDIDATES = "candidates"  # at least one candidate at or above the threshold
    NO_CANDIDATE = "no_candidate"  # none at or above the threshold (not "not in the database")
    UNDER_QUALITY = "under_quality"  # probe not searched: below the quality floor
    INVESTIGATIVE_LIST = "investigative_list"  # asked-for list including sub-threshold leads


class Tier(StrEnum):
    CANDIDATE = "candidate"  # at or above the operating threshold
    INVESTIGATIVE_LEAD = "investigative_lead"  # under the threshold: a lead only


class Strength(StrEnum):
    STRONG = "strong"
    MODERATE = "moderate"
    LIMITED = "limited"
    WEAK = "weak"


#: Band edges on the expected number of false candidates at or above the score (N · FMR_high).
STRENGTH_EDGES: tuple[tuple[float, Strength], ...] = (
    (0.001, Strength.STRONG),
    (0.01, Strength.MODERATE),
    (0.1, Strength.LIMITED),
)

CAVEAT = "A candidate is an investigative lead, not an identification: confirm it with independent evidence."


@dataclass(frozen=True)
class Hit:
    """Best raw score of one identity for this probe."""

    key: str
    score: float


@dataclass(frozen=True)
class AssessedCandidate:
    key: str
    rank: int
    score: float
    fmr: float
    fmr_interval: tuple[float, float]
    expected_false_candidates: float
    expected_false_candidates_high: float
    tier: Tier
    strength: Strength
    explanation: str


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    threshold_fmr: float
    fpir_target: float
    gallery_size: int


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    candidates: tuple[AssessedCandidate, ...]
    operating_point: OperatingPoint
    reasons: tuple[str, ...]


def operating_point(cal: Calibration, target_fpir: float, gallery_size: int) -> OperatingPoint:
    threshold, fmr = cal.threshold_for_fpir(target_fpir, max(1, gallery_size))
    return OperatingPoint(threshold=threshold, threshold_fmr=fmr, fpir_target=target_fpir, gallery_size=gallery_size)


def strength_of(expected_high: float) -> Strength:
    for edge, band in STRENGTH_EDGES:
        if expected_high <= edge:
            return band
    return Strength.WEAK


def explain(expected_high: float, gallery_size: int, strength: Strength) -> str:
    """Plain-language reading of a candidate's score in this gallery."""
    if expected_high <= 0:
        chance = "essentially never"
    elif expected_high < 1:
        chance = f"about once in every {_round_sig(1 / expected_high)} such searches"
    else:
        chance = f"about {expected_high:.1f} wrong people per search"
    return (
        f"{strength.value.capitalize()}: searching {gallery_size:,} enrolled people, a wrong person would "
        f"score this high {chance}. {CAVEAT}"
    )


def assess(cal: Calibration, hit: Hit, rank: int, point: OperatingPoint) -> AssessedCandidate:
    fmr = float(cal.fmr(hit.score))
    low, high = cal.fmr_interval(hit.score)
    n = point.gallery_size
    expected = expected_false_candidates(fmr, n)
    expected_high = expected_false_candidates(high, n)
    tier = Tier.CANDIDATE if hit.score >= point.threshold else Tier.INVESTIGATIVE_LEAD
    strength = strength_of(expected_high)
    return AssessedCandidate(
        key=hit.key,
        rank=rank,
        score=hit.score,
        fmr=fmr,
        fmr_interval=(low, high),
        expected_false_candidates=expected,
        expected_false_candidates_high=expected_high,
        tier=tier,
        strength=strength,
        explanation=explain(expected_high, n, strength),
    )


def decide(
    cal: Calibration,
    hits: Sequence[Hit],
    quality: QualityReport,
    point: OperatingPoint,
    *,
    top_k: int,
    investigative: bool = False,
) -> Decision:
    """Apply the policy to ranked hits (best first, one per identity)."""
    if not quality.acceptable:
        reasons = tuple(i.message for i in quality.issues if i.blocking)
        return Decision(Outcome.UNDER_QUALITY, (), point,
                        ("The probe is under the quality floor and was not searched.", *reasons))
    ranked = sorted(hits, key=lambda h: (-h.score, h.key))[: max(0, top_k)]
    assessed = [assess(cal, h, i + 1, point) for i, h in enumerate(ranked)]
    shown = [c for c in assessed if c.tier is Tier.CANDIDATE]
    fpir_note = (
        f"Threshold {point.threshold:.3f} keeps the chance of any false candidate for a person not "
        f"enrolled at {point.fpir_target:.2%} in a gallery of {point.gallery_size:,}."
    )
    if investigative:
        reasons = [fpir_note, "Investigative list: candidates under the threshold are leads only."]
        if not shown:
            reasons.append("No candidate reached the operating threshold.")
        return Decision(Outcome.INVESTIGATIVE_LIST, tuple(assessed), point, tuple(reasons))
    if not shown:
        return Decision(
            Outcome.NO_CANDIDATE,
            (),
            point,
            (
                "No candidate reached the operating threshold. This does not mean the person is not "
                "enrolled: the probe may be of low quality or the person may look different.",
                fpir_note,
            ),
        )
    return Decision(Outcome.CANDIDATES, tuple(shown), point, (fpir_note, CAVEAT))


def _round_sig(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:,.0f} million"
    if x >= 100:
        digits = 10 ** (len(str(int(x))) - 2)
        return f"{round(x / digits) * digits:,.0f}"
    return f"{x:,.0f}"


__all__ = [
    "CAVEAT",
    "AssessedCandidate",
    "Decision",
    "Hit",
    "OperatingPoint",
    "Outcome",
    "Strength",
    "Tier",
    "assess",
    "decide",
    "fpir_at",
    "operating_point",
    "strength_of",
]
