"""Fingerprint pipeline, pure: segment → orientation → ridge period → enhance → minutiae →
quality → template; MCC matching, search keys and the ISO/IEC 19794-2 codec."""

from fieldid.core.finger.match import SCORE_RANGE, Matcher, PackedCylinders, pack, prepare
from fieldid.core.finger.photo import extract_fingers_from_photo
from fieldid.core.finger.pipeline import EXTRACTOR_ID, EXTRACTOR_VERSION, TraceSink, extract_finger
from fieldid.core.finger.searchkey import SEARCH_KEY_DIM, search_key
from fieldid.core.finger.template import decode_iso19794_2, encode_iso19794_2

#: Model id of the fingerprint matcher: calibration tables and index spaces are keyed by it.
#: fieldid-finger-<minutiae: the LEADER network>-<matcher: bit MCC, LSS-R and consensus>@<version>.
#: A change of either part's numbers is a new version (and calibration). The previous one,
#: "fieldid-finger-gaborcn-mcc16b@1", took minutiae from our classic Gabor / crossing-number
#: stages (still there without a net, as the measured baseline).
MATCHER_MODEL_ID = "fieldid-finger-leader-mcc16b@1"

__all__ = [
    "EXTRACTOR_ID",
    "EXTRACTOR_VERSION",
    "MATCHER_MODEL_ID",
    "SCORE_RANGE",
    "SEARCH_KEY_DIM",
    "Matcher",
    "PackedCylinders",
    "TraceSink",
    "decode_iso19794_2",
    "encode_iso19794_2",
    "extract_finger",
    "extract_fingers_from_photo",
    "pack",
    "prepare",
    "search_key",
]
