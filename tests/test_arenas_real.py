"""PlaneROI on real arena backgrounds against moseq2-extract's reference masks.

The backgrounds and masks are moseq2-extract's own test fixtures (see
``../shared/data/real/README.md``); the tests skip when that folder is absent.

Settings, and why:

* ``REFERENCE``: ``depth_range=(650, 750)`` (the range moseq2-extract's ``test_get_roi`` uses and
  its default ``bg_roi_depth_range``), a 15x15 rectangle dilated once (the default structuring
  element of moseq2-extract's ``get_roi``) and ``noise_tolerance=10``. With the test's literal
  ``noise_tolerance=30`` the masks come out larger than the references (IoU 0.85-0.94 dilated,
  0.88-0.95 undilated); a 10 mm tolerance reproduces their edges (IoU >= 0.98).
* The chamber (``bground_chamber_gradient`` / ``roi_chamber_01``) needs the gradient filter: its
  box stands on a room floor at almost the same depth, and only the wall edges separate them.
* ``MOSEQ2_BAND`` (``exclude_sloped_walls=False``): the tests below that check moseq2-extract's
  floor band keep it; the defaults leave sloped walls out (the chamber's floor rises 30 mm into
  a ramp at its far end, which its reference includes). The defaults on these arenas, with the
  issue's bars, are tested in ``test_arena_defaults.py``.

Measured IoUs are printed at the end of the module (``-rA`` not needed) and logged at INFO.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from depthextractors.cameras import get_camera
from depthextractors.extraction import ArenaWarning, PlaneROI

tifffile = pytest.importorskip("tifffile")

logger = logging.getLogger(__name__)

ARENAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "arena_backgrounds"
KINECT = get_camera("kinect_v2")
REFERENCE = {"depth_range": (650, 750), "noise_tolerance": 10, "dilate": (15, 15), "shape": "rect"}
CHAMBER = {"gradient_filter": True}
MOSEQ2_BAND = {"exclude_sloped_walls": False}
WITH_MASKS = {
    "bucket": "bucket",
    "bearbox": "bearbox",
    "cross": "cross",
    "odorbox": "odorbox",
    "chamber_gradient": "chamber",
}
ALL_ARENAS = [*WITH_MASKS, "unreachable_863c157e"]

_measured: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def arenas_dir(request) -> Iterator[Path]:
    if not ARENAS.is_dir():
        pytest.skip(f"real arena backgrounds not found at {ARENAS} (not shipped with the project)")
    yield ARENAS
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not _measured:
        return
    # Teardown output is captured (and shown only on failure) unless capturing is paused.
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("PlaneROI on real arenas (IoU with moseq2-extract's reference masks):")
        for line in _measured:
            reporter.write_line(f"  {line}")


def _report(message: str) -> None:
    logger.info(message)
    _measured.append(message)


def load_background(name: str) -> np.ndarray:
    """A ``bground_<name>.tiff`` in millimetres (stored value / scale_factor)."""
    with tifffile.TiffFile(ARENAS / f"bground_{name}.tiff") as tiff:
        page = tiff.pages[0]
        scale = float(json.loads(page.description)["scale_factor"])
        return page.asarray().astype(np.float64) / scale


def load_reference(name: str) -> np.ndarray:
    return tifffile.imread(ARENAS / f"roi_{WITH_MASKS[name]}_01.tiff") > 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


@pytest.mark.parametrize("name", ["bucket", "bearbox", "cross", "odorbox"])
@pytest.mark.parametrize("depth_range", [(650, 750), None], ids=["range650-750", "auto-range"])
def test_reference_settings_reproduce_the_reference_masks(name, depth_range):
    background = load_background(name)
    settings = {**REFERENCE, "depth_range": depth_range}
    arena = PlaneROI(**settings).find(background, KINECT)
    reference = load_reference(name)
    score = iou(arena.mask, reference)
    _report(
        f"{name:9s} PlaneROI(noise_tolerance=10, dilate=(15, 15), shape='rect', "
        f"depth_range={depth_range}): IoU {score:.4f}, true depth {arena.true_depth:.1f} mm"
    )
    assert score >= 0.95
    assert abs(arena.true_depth - np.median(background[reference & (background > 0)])) <= 2.0


def test_chamber_with_the_gradient_filter():
    background = load_background("chamber_gradient")
    reference = load_reference("chamber_gradient")
    scores = {}
    for label, depth_range in (("auto", None), ("750-900", (750, 900))):
        roi = PlaneROI(depth_range=depth_range, **CHAMBER, **MOSEQ2_BAND)
        arena = roi.find(background, KINECT)
        scores[label] = iou(arena.mask, reference)
        _report(
            f"chamber   PlaneROI(gradient_filter=True, exclude_sloped_walls=False, "
            f"depth_range={depth_range}) [moseq2 defaults otherwise]: IoU {scores[label]:.4f}, "
            f"range {arena.depth_range}, true depth {arena.true_depth:.1f} mm"
        )
    # This guards the measured quality (0.999 and 0.968; 0.964 and 0.968 before the plane was
    # refined on the floor's own points).
    assert min(scores.values()) >= 0.95
    with pytest.warns(ArenaWarning, match="implausible"):
        without = PlaneROI(retry_implausible=False).find(background, KINECT)
    _report(
        f"chamber   PlaneROI() without the gradient filter: IoU {iou(without.mask, reference):.4f}"
    )


@pytest.mark.parametrize("name", ALL_ARENAS)
def test_automatic_depth_range_finds_each_floor(name):
    background = load_background(name)
    settings = {**MOSEQ2_BAND, **(CHAMBER if name == "chamber_gradient" else {})}
    arena = PlaneROI(**settings).find(background, KINECT)
    low, high = arena.depth_range
    assert low < arena.true_depth < high
    if name in WITH_MASKS:
        reference = load_reference(name)
        floor = np.median(background[reference & (background > 0)])
        assert abs(arena.true_depth - floor) <= 2.0
        covered = np.count_nonzero(arena.mask & reference) / np.count_nonzero(reference)
        _report(
            f"{name:9s} automatic range {low:.0f}-{high:.0f} mm, moseq2 default settings"
            f"{' + gradient filter' if name == 'chamber_gradient' else ''}: IoU "
            f"{iou(arena.mask, reference):.4f}, reference covered {covered:.3f}"
        )
        # The default 10x10 dilation grows the floor past the reference's edge, but must keep
        # all of the reference floor.
        assert covered >= 0.98
    else:
        # No reference: check the floor found is one compact, flat region of plausible size.
        from scipy import ndimage

        _, count = ndimage.label(arena.mask)
        rows0, rows1, cols0, cols1 = arena.bbox
        extent = arena.mask.sum() / ((rows1 - rows0) * (cols1 - cols0))
        inside = background[arena.mask & (background > 0)]
        _report(
            f"{name} automatic range {low:.0f}-{high:.0f} mm: floor at {arena.true_depth:.0f} mm, "
            f"{arena.mask.sum()} px ({arena.mask.mean():.1%} of the image), rows {rows0}-{rows1},"
            f" cols {cols0}-{cols1}, extent {extent:.2f} (one of its two boxes; index=1 gives "
            "the other)"
        )
        assert count == 1
        assert extent > 0.8
        assert 0.03 < arena.mask.mean() < 0.5
        # Flat like the floors with references (their median deviation is 2-4 mm; the default
        # dilation reaches onto the foot of the walls, so only a majority lies within 15 mm).
        deviation = np.abs(inside - arena.true_depth)
        assert np.median(deviation) <= 5
        assert np.mean(deviation < 15) > 0.75


@pytest.mark.parametrize("name", ALL_ARENAS)
def test_same_roi_on_every_run(name):
    background = load_background(name)
    settings = CHAMBER if name == "chamber_gradient" else {}
    first = PlaneROI(**settings).find(background, KINECT)
    second = PlaneROI(**settings).find(background.copy(), KINECT)
    np.testing.assert_array_equal(first.mask, second.mask)
    np.testing.assert_array_equal(first.plane, second.plane)


def test_same_roi_in_a_fresh_process():
    background = load_background("cross")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import hashlib, numpy as np
        from test_arenas_real import KINECT, load_background
        from depthextractors.extraction import PlaneROI
        arena = PlaneROI().find(load_background("cross"), KINECT)
        print(hashlib.sha256(np.packbits(arena.mask).tobytes() + arena.plane.tobytes()).hexdigest())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import hashlib

    arena = PlaneROI().find(background, KINECT)
    here = hashlib.sha256(np.packbits(arena.mask).tobytes() + arena.plane.tobytes()).hexdigest()
    assert result.stdout.strip() == here


def test_wrong_depth_range_names_the_floor_found():
    background = load_background("bucket")
    with pytest.raises(ValueError, match=r"no arena floor between 200 and 400 mm") as info:
        PlaneROI(depth_range=(200, 400)).find(background, KINECT)
    message = str(info.value)
    assert "percentiles" in message
    suggested = float(message.split("centre is at about ")[1].split(" mm")[0])
    assert abs(suggested - 680.0) <= 5  # the bucket floor (median inside the reference: 680)
