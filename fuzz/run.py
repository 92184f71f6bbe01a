"""Coverage-guided fuzzing of one target with atheris (libFuzzer options pass through).

    .venv/bin/python fuzz/run.py TARGET [libFuzzer options]      e.g. image -max_total_time=600

The seed corpus is fuzz/corpus/TARGET; new interesting inputs go to a scratch directory
(var/fuzz/TARGET), crashes to ./crash-* files: copy a crash into the corpus and add a
regression test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PARSERS = ["fieldid.imaging", "fieldid.core.finger.template", "fieldid.calibration_io", "fieldid.records.config"]

# Coverage instrumentation of the parsers only (not numba-compiled code or libraries).
with atheris.instrument_imports(include=PARSERS):
    import fieldid.calibration_io  # noqa: E402,F401
    import fieldid.core.finger.template  # noqa: E402,F401
    import fieldid.imaging  # noqa: E402,F401
    import fieldid.records.config  # noqa: E402,F401
from harnesses import TARGETS  # noqa: E402


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: run.py {{{','.join(TARGETS)}}} [libFuzzer options]")
    name = sys.argv[1]
    scratch = HERE.parent / "var" / "fuzz" / name
    scratch.mkdir(parents=True, exist_ok=True)
    args = [sys.argv[0], *sys.argv[2:], str(scratch), str(HERE / "corpus" / name)]
    atheris.Setup(args, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
