"""Golden test: the fixed sessions of ``tests/golden`` give exactly the recorded results.

Every dataset of ``results_00.h5`` (but the run's uuid, the software version and the recorded
parameters, whose layout may change) must be identical to ``tests/golden/reference.yaml``,
which ``tests/golden/make_golden.py`` wrote. A failure names the datasets that differ and, for
frames, which frames; if the change is intended, rerun ``make_golden.py`` and say so in the
commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))

from sessions import (  # noqa: E402
    GOLDEN_SESSIONS,
    extract,
    input_digest,
    make_input,
    read_datasets,
    summarise,
)

REFERENCE = yaml.safe_load((GOLDEN / "reference.yaml").read_text())


def _differences(expected: dict, found: dict) -> list[str]:
    lines = []
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            lines.append(f"{name}: missing")
            continue
        if name not in expected:
            lines.append(f"{name}: not in the golden results")
            continue
        want, got = expected[name], found[name]
        if want["digest"] == got["digest"] or _same_to_rounding(want, got):
            continue
        detail = f"dtype {got['dtype']} shape {got['shape']}"
        if (want["dtype"], want["shape"]) != (got["dtype"], got["shape"]):
            detail += f" (golden: {want['dtype']} {want['shape']})"
        for key in ("frame_sums", "values"):
            if key in want and key in got and len(want[key]) == len(got[key]):
                a, b = np.asarray(want[key], float), np.asarray(got[key], float)
                differ = np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))
                detail += f"; {differ.size} entries differ (first: {differ[:8].tolist()})"
        lines.append(f"{name}: {detail}")
    return lines


def _same_to_rounding(want: dict, got: dict) -> bool:
    """Small float datasets (a fitted floor plane) equal to 1e-9: their last bits follow the
    summation order of the numpy build (seen between numpy 2.2 and 2.4); everything else must
    be identical to the bit."""
    if want["dtype"] != got["dtype"] or want["shape"] != got["shape"]:
        return False
    if np.dtype(want["dtype"]).kind != "f" or "values" not in want or "values" not in got:
        return False
    return bool(np.allclose(want["values"], got["values"], rtol=1e-9, atol=0, equal_nan=True))


@pytest.mark.parametrize("session", GOLDEN_SESSIONS, ids=lambda s: s.name)
def test_golden_results_are_unchanged(session, tmp_path):
    golden = REFERENCE[session.name]
    recording = make_input(session, tmp_path)
    assert input_digest(recording) == golden["input"], (
        "the synthetic recording itself changed (generator or reader); the golden results "
        "can only be compared on the same input"
    )
    found = summarise(read_datasets(extract(session, recording, tmp_path / "proc")))
    differences = _differences(golden["datasets"], found)
    assert not differences, "results differ from the golden ones:\n" + "\n".join(differences)
