"""Shared test helpers: where the real recordings live, and small synthetic sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real`` beside the project; tests using it skip when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(
            f"real recordings not found at {REAL_DATA} (they are not shipped with the project)"
        )
    return REAL_DATA


@pytest.fixture(scope="session")
def synthetic_kinect_session(tmp_path_factory):
    """A 120-frame synthetic Kinect v2 session on disk with two dropped frames."""
    from depthextractors.testing import generate_synthetic_session

    return generate_synthetic_session(
        tmp_path_factory.mktemp("kinect_session"), 120, dropped_frames=2, seed=3
    )
