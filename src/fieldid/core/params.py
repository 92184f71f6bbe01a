"""Every tunable number of the pure pipelines, named and commented.

Nothing here is read from the environment: operators change behaviour through
:class:`fieldid.config.Settings`, which passes values down; these are the defaults and the
constants that only change with a new release (and a new calibration).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaceDetectParams:
    #: HOG pyramid upsampling: 1 finds faces down to ~40 px wide (dlib's own default).
    hog_upsample: int = 1
    #: Extra upsampling tried when nothing is found (small faces in phone photos).
    hog_retry_upsample: int = 2
    #: HOG SVM score offset; negative finds more (and more false) faces. 0 = dlib default.
    hog_adjust_threshold: float = 0.0
    #: CNN (MMOD) detector upsampling: 0 finds faces down to ~80 px (after the CNN downscale
    #: below); 1 finds ~40 px faces at ~5× the cost (3 s for 250×250 on one core).
    cnn_upsample: int = 0
    cnn_retry_upsample: int = 1
    #: The CNN is costly (∝ pixels): it sees images downscaled to this long side.
    cnn_max_side: int = 640
    #: A HOG result is "doubtful" — and the CNN is asked too — when its best face is both weak
    #: (SVM margin under this) and off-centre (see below). Typical clear faces score 0.5–2.5.
    doubtful_score: float = 0.3
    #: Off-centre: box centre further than this fraction of the half-diagonal from the centre.
    doubtful_offcentre: float = 0.35
    #: Two boxes overlapping more than this (intersection over union) are the same face.
    same_face_iou: float = 0.4
    #: Images whose long side exceeds this are downscaled for detection only (speed on
    #: 12–48 MP phone photos); landmarks and the aligned chip use full resolution.
    detect_max_side: int = 1600
    #: Choosing among several faces: the chosen face maximises width · max(0.05, 1 − w · d),
    #: d = distance of the box centre from the image centre over half the image diagonal.
    #: The officer frames the person of interest, so centrality dominates: with w = 2 a face
    #: a quarter of the way to the corner must be ~ 2× wider to beat a central one.
    centrality_weight: float = 2.0


@dataclass(frozen=True)
class FaceQualityParams:
    """Quality floor (hard failures) and warnings for a face probe.

    Sizes are inter-ocular distance (IOD) in pixels of the original image. ISO/IEC 19794-5
    asks ≥ 60 px for a frontal enrolment image; recognition still works, less reliably,
    down to ~ 25 px, below which embeddings of different people collapse together.
    """

    min_iod_px: float = 24.0
    warn_iod_px: float = 40.0
    #: Variance of the Laplacian of the 150×150 aligned grey chip. Measured on LFW: sharp
    #: faces ≥ 150, motion-blurred ones fall under ~ 40.
    min_sharpness: float = 25.0
    warn_sharpness: float = 60.0
    #: |yaw| proxy: horizontal offset of the nose base from the eye midpoint, in IODs.
    #: 0 = frontal; ~0.35 ≈ 30°; ~0.6 ≈ 45° (the 128-d model degrades fast past ~ 45°).
    max_yaw_ratio: float = 0.55
    warn_yaw_ratio: float = 0.35
    #: Roll (in-plane tilt) of the eye line, degrees. Alignment undoes roll, so only extreme
    #: tilt (usually a detection on a wrong structure) fails.
    max_roll_deg: float = 45.0
    #: Mean luma of the face region (0–255).
    min_mean_luma: float = 45.0
    max_mean_luma: float = 215.0
    #: Fraction of face pixels clipped at the ends of the range.
    max_clipped_fraction: float = 0.35
    dark_level: int = 16
    bright_level: int = 240


@dataclass(frozen=True)
class FaceAlignParams:
    #: dlib ResNet input: 150×150 chip with 25 % padding (as the model was trained).
    dlib_chip_size: int = 150
    dlib_padding: float = 0.25
    #: ArcFace-style models: 112×112 chip on the InsightFace 5-point template.
    arcface_chip_size: int = 112


#: InsightFace ArcFace reference points for a 112×112 chip: left eye, right eye (image left
#: to right), nose tip. dlib's 5-point model gives the nose *base* (subnasale), which sits
#: ~ 7 px below the tip on this template, so the nose target is shifted down accordingly.
ARCFACE_TEMPLATE_112 = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 78.7366))


@dataclass(frozen=True)
class FaceParams:
    detect: FaceDetectParams = FaceDetectParams()
    quality: FaceQualityParams = FaceQualityParams()
    align: FaceAlignParams = FaceAlignParams()
    #: Embedding jitters (dlib): 0 = one pass. Enrollment may use more for a steadier template.
    jitters: int = 0


@dataclass(frozen=True)
class SearchParams:
    #: Templates asked from the vector index (at least 3 per candidate asked for); an approximate
    #: index re-scores index_rescore_factor times as many exactly before answering.
    shortlist: int = 30
    #: Prints taken from the search-key pass of a large finger gallery for exact re-ranking
    #: (benchmarks/finger_search.py, 100 000 prints: the mate is in the top 500 in 93 % of
    #: searches, in the top 1 000 in 96 % at 0.30 s per search on one core).
    finger_shortlist: int = 1000
    #: Candidates returned to the caller by default, and the most that may be asked for.
    default_top_k: int = 10
    max_top_k: int = 50


# ===================================================================================== fingers
# Sizes in pixels are for 500 ppi images (the ISO/IEC 19794-4 norm for contact prints);
# the extractor rescales other resolutions to 500 ppi first.


@dataclass(frozen=True)
class FingerSegmentParams:
    #: Side of the square window (px) over which local ridge contrast is measured.
    block_size: int = 16
    #: A pixel is "print" where its local grey-level standard deviation exceeds this share of
    #: the 95th percentile of that deviation over the image (background is flat or noisy-low).
    relative_std_threshold: float = 0.22
    #: ...and at least this many grey levels: ridges have 13–60 (FVC2000, SOCOFing), smooth
    #: shading and quantised gradients under 5.
    min_std: float = 6.0
    #: Morphological smoothing radius (px) of the mask: closes pores and cuts, opens speckle.
    smooth_radius: int = 8
    #: The mask is eroded by this many px so that the hard image/background edge, which
    #: produces false ridge endings, is never inside it.
    erode_px: int = 6
    #: Fewer print pixels than this (at 500 ppi: ~ 5 × 5 mm) means "no fingerprint".
    min_area_px: int = 9000


@dataclass(frozen=True)
class FingerOrientParams:
    #: Gaussian σ (px) of the gradient operator (derivative of Gaussian).
    gradient_sigma: float = 1.0
    #: Gaussian σ (px) over which the gradient structure tensor is averaged: about two ridge
    #: periods, enough to bridge a pore or a crease, small enough to follow the core.
    tensor_sigma: float = 7.0
    #: Extra smoothing σ (px) of the doubled-angle orientation vectors.
    smooth_sigma: float = 5.0


@dataclass(frozen=True)
class FingerFrequencyParams:
    #: Side (px) of the windows whose 2-D spectrum gives the local ridge period.
    window: int = 32
    #: Step (px) between windows.
    stride: int = 16
    #: Ridge periods accepted at 500 ppi (px). Adult ridges are 7–12 px apart; children and
    #: fine-ridged prints go down to ~5; very coarse ones up to ~15.
    min_period_px: float = 4.5
    max_period_px: float = 16.0
    #: A window counts only if its spectral peak (2-D, ± 1.5 bins) holds at least this share
    #: of the band energy (parallel ridges: one strong peak; noise and texture spread out).
    min_peak_share: float = 0.08
    #: "No fingerprint" when the median peak share inside the print is under min_clarity
    #: (FVC2000 prints: 0.17–0.55; white noise ≈ 0.10) or fewer than min_reliable_share of
    #: its windows show a clear period.
    min_clarity: float = 0.13
    min_reliable_share: float = 0.3


@dataclass(frozen=True)
class FingerEnhanceParams:
    #: Orientations in the Gabor bank (180° / 16 = 11.25° steps).
    orientations: int = 16
    #: Gabor envelope σ across and along the ridges, in ridge periods (Hong, Wan & Jain 1998
    #: used 4 px at a 9 px period ≈ 0.45; a longer σ along ridges bridges breaks).
    sigma_across_periods: float = 0.45
    sigma_along_periods: float = 0.6
    #: Ridge period bins of the bank: periods are snapped to this step (px).
    period_step_px: float = 1.0


@dataclass(frozen=True)
class FingerMinutiaeParams:
    #: Minutiae closer than this to the mask edge are dropped (edges make false endings).
    border_margin_px: float = 10.0
    #: Spur: a branch from a bifurcation that ends within this many px (a hair on a ridge).
    spur_length_px: int = 12
    #: Short ridge / island: two ridge endings joined by a ridge shorter than this.
    short_ridge_px: int = 14
    #: Broken ridge: two endings closer than this, facing each other, are one gap, not two.
    gap_distance_px: float = 12.0
    gap_angle_deg: float = 45.0
    #: Two minutiae closer than this are one noisy structure: both are dropped.
    cluster_distance_px: float = 6.0
    #: Skeleton length (px) traced to measure a minutia's direction.
    direction_trace_px: int = 10
    #: Keep at most this many minutiae (the best by quality); ISO allows 255 per view.
    max_minutiae: int = 120
    #: Minutiae whose local orientation coherence is under this are dropped (smudges).
    min_coherence: float = 0.25
    #: Minutiae are looked for only where the local spectral peak share (ridge clarity) is at
    #: least this. Off (0): on FVC2000 DB1-3, 0.12 raised the EER from 4.9 % to 6.4 %
    #: (real minutiae in faint areas are lost with the false ones).
    min_local_clarity: float = 0.0


@dataclass(frozen=True)
class FingerNetParams:
    """Decoding of a minutiae network's output (:mod:`fieldid.core.finger.netminutiae`)."""

    #: A pixel is a minutia where the net's quality map (after its own non-maximum
    #: suppression) reaches this. LEADER's published default; on FVC2000 DB1-3 it gives
    #: 17-48 minutiae per print.
    quality_threshold: float = 0.55
    #: Type map at or above this: ridge ending, else bifurcation.
    type_threshold: float = 0.5


@dataclass(frozen=True)
class FingerQualityParams:
    """NFIQ 2-style quality of a contact print (0–100) and its floor.

    NFIQ 2 combines ~ 70 local features in a random forest; we combine the few that carry
    most of its weight (orientation certainty, ridge–valley clarity, frequency consistency,
    foreground area and minutiae count) in a documented formula. It ranks images the same
    way on the dev data but its numbers are *not* NFIQ 2 scores.
    """

    #: Below this many minutiae matching is unreliable (the FBI asks ≥ 12 for latent value).
    min_minutiae: int = 12
    warn_minutiae: int = 25
    #: Quality score (0–100) under which the sample is blocked / warned.
    min_score: float = 20.0
    warn_score: float = 40.0
    #: Print area (px at 500 ppi) under which the sample is blocked / warned.
    min_area_px: int = 20000
    warn_area_px: int = 40000


@dataclass(frozen=True)
class ContactlessParams:
    """Finger photos from phones: segmentation, scale and the contactless quality measure."""

    #: The photo is first brought to this long side (px) for finding fingers (speed).
    detect_max_side: int = 800
    #: Skin: Cr/Cb window of YCrCb (Chai & Ngan 1999), widened for dark and pale skin.
    skin_cr_min: int = 130
    skin_cr_max: int = 180
    skin_cb_min: int = 75
    skin_cb_max: int = 135
    #: A finger blob must cover at least this share of the detection image.
    min_finger_area_share: float = 0.01
    #: Fingers kept from one photo (a hand photo shows four).
    max_fingers: int = 4
    #: Only the fingertip (first phalanx) is matched: this many finger widths from the tip.
    tip_length_widths: float = 1.5
    #: Ridge period (px) of a 500 ppi contact print: the photo is rescaled so that its
    #: measured ridge period becomes this (Maltoni et al.: adult mean ≈ 9 px at 500 ppi).
    target_period_px: float = 9.0
    #: Ridge periods searched in the photo before rescaling (px): phone close-ups at 12 MP
    #: show 8–40 px periods.
    min_photo_period_px: float = 4.0
    max_photo_period_px: float = 40.0
    #: CLAHE tile grid and clip limit used to flatten uneven light before enhancement.
    clahe_tiles: int = 8
    clahe_clip: float = 3.0
    #: Contactless quality: Laplacian energy per ridge contrast (sharpness), ridge-period
    #: consistency and fingertip size; thresholds on the 0–100 scale.
    min_score: float = 20.0
    warn_score: float = 40.0
    #: Below this ridge-frequency peak share the ridges are not resolved (blur / too far).
    min_ridge_clarity: float = 0.10


@dataclass(frozen=True)
class MccParams:
    """Minutia Cylinder-Code (Cappelli, Ferrara & Maltoni, IEEE TPAMI 2010), bit variant.

    Values are the paper's (its Table 2) unless marked; sizes in px at 500 ppi.
    """

    radius: float = 70.0
    #: Cells across a cylinder's base and along its angular axis.
    ns: int = 16
    nd: int = 6
    sigma_s: float = 28.0 / 3.0
    sigma_d: float = 2.0 * 3.141592653589793 / 9.0
    #: Sigmoid centre of a cell's summed contribution; with bits, a cell is 1 when ≥ this.
    mu_psi: float = 0.01
    #: Convex-hull enlargement (px) inside which cells are valid.
    omega: float = 50.0
    #: A cylinder is valid when ≥ this share of its base cells is valid and ≥ min_m minutiae
    #: other than its own contribute to it.
    min_valid_cells: float = 0.75
    min_m: int = 2
    #: Two cylinders are comparable when ≥ this share of cells are valid in both.
    min_matchable_cells: float = 0.6
    #: Cylinders of minutiae whose directions differ more than this (rad) are not compared.
    delta_theta: float = 3.141592653589793 / 2.0
    #: LSS-R: number of top pairs n_P = min_np + round(sigmoid(min(n_A, n_B); mu_p, tau_p)
    #: · (max_np − min_np)).
    min_np: int = 4
    max_np: int = 12
    mu_p: float = 20.0
    tau_p: float = 0.4
    #: Relaxation: pairs considered (n_R = min(n_A, n_B, factor · n_P); the paper uses
    #: min(n_A, n_B); 3 · n_P measured the same EER on FVC2000 B at ~ 2× the speed),
    #: iterations, weight of the previous step, and the sigmoid parameters of the distance /
    #: direction / radial-angle compatibility.
    relax_pairs_factor: int = 3
    relax_iterations: int = 5
    relax_weight: float = 0.5
    mu1: float = 5.0
    tau1: float = -1.6
    mu2: float = 3.141592653589793 / 12.0
    tau2: float = -30.0
    mu3: float = 3.141592653589793 / 12.0
    tau3: float = -30.0
    #: At most this many minutiae (the best by quality) get cylinders: bounds match time.
    max_cylinders: int = 64
    #: A contactless probe's scale comes from its ridge period, assumed to be the 500 ppi
    #: mean; real fingers differ by ± 15 %, so its minutiae are matched at these scales and
    #: the best score is kept (costs one comparison per scale).
    contactless_scales: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
    #: Consensus (not in the paper): the alignments given by the ``consensus_pairs`` most
    #: consistent pairs are each applied to all minutiae; those landing within
    #: ``consensus_distance`` px and ``consensus_angle`` rad of a free partner pair up. The
    #: best m² / (n_A · n_B) over the overlap (each n ≥ consensus_min_minutiae) is blended
    #: with the LSS-R score geometrically: score = lssr^(1 − w) · consensus^w, in [0, 1].
    consensus_pairs: int = 5
    consensus_distance: float = 16.0
    consensus_angle: float = 3.141592653589793 / 9.0
    consensus_min_minutiae: int = 12
    #: FVC2000 DB1-3 (FVC protocol, pooled): w = 0 (LSS-R only) 4.9 % EER, 0.3 4.4 %,
    #: 0.5 5.4 %, 1 5.9 % (DB3's many false minutiae dilute the consensus share).
    consensus_weight: float = 0.3


@dataclass(frozen=True)
class FingerSearchKeyParams:
    """Fixed-length search key: a soft histogram of minutia *pairs*.

    Every two minutiae between ``min_distance`` and ``max_distance`` px apart (500 ppi) add
    one vote, shared linearly between neighbouring bins, at (their distance, the difference
    of their directions, the direction of the line joining them relative to the first):
    all three are invariant to rotation and translation. Square-rooted counts, centred per
    distance bin (what every print has: many pairs at every distance) and L2-normalised.
    Measured on FVC2000 DB1_B against 1,000 distractors with classic minutiae, the mate
    ranked in the top 1 % for 70 % of probes (hyperplane-LSH bags of MCC cylinders: 13–33 %).
    With LEADER minutiae, against 20,000 distractors (``benchmarks/finger_search.py``'s), the
    mate is in the top 1 % for 90 % of probes with pairs up to 150 px and 10 distance bins,
    and for 96 % (top 5 %: 99 %) with pairs up to 100 px in 12 bins: short pairs survive the
    partial overlap of two impressions (1 728 dimensions instead of 1 440).
    """

    distance_bins: int = 12
    angle_bins: int = 12
    min_distance: float = 10.0
    max_distance: float = 100.0


@dataclass(frozen=True)
class FingerParams:
    segment: FingerSegmentParams = FingerSegmentParams()
    orient: FingerOrientParams = FingerOrientParams()
    frequency: FingerFrequencyParams = FingerFrequencyParams()
    enhance: FingerEnhanceParams = FingerEnhanceParams()
    minutiae: FingerMinutiaeParams = FingerMinutiaeParams()
    net: FingerNetParams = FingerNetParams()
    quality: FingerQualityParams = FingerQualityParams()
    contactless: ContactlessParams = ContactlessParams()
    mcc: MccParams = MccParams()
    search_key: FingerSearchKeyParams = FingerSearchKeyParams()
    #: Resolution the stages work at; other resolutions are rescaled to it.
    working_ppi: int = 500
