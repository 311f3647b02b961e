"""A test helper: a small mouse beside reflective walls, whose spurious depth is often larger
than the mouse (tracking again, issue 15)."""

from __future__ import annotations

from pathlib import Path

from depthextractors.testing import MouseShape, SyntheticSession
from depthextractors.testing.variety import SessionParameters


def small_mouse_by_reflective_walls(directory: Path, seed: int, frames: int) -> SyntheticSession:
    """A mouse 0.7 times the default adult (about 6 x 8 pixels) at an Azure Kinect's binned
    wide view 1 m away, in a sloped arena with reflective walls, beside which spurious depth
    flickers in squares up to 7 x 7 pixels: ``frames`` frames written to ``directory``."""
    parameters = SessionParameters(
        camera="azure_wfov_binned",
        floor_depth_mm=1000.0,
        mouse=MouseShape().scaled(0.7),
        walls="sloped",
        reflective_walls=True,
        seed=seed,
    )
    return parameters.generate(directory, frames)
