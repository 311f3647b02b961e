"""The arena step's image operations give what scipy.ndimage gives (they replace it so that the
arena step does not import scipy), on random masks of many shapes and densities; so does the
labelling it shares with the filters (filters.label_regions), numbering included."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from scipy import ndimage

from depthextractors.extraction.arena_image_ops import (
    bilinear_at,
    distance_to,
    fill_holes,
    gaussian_smooth,
)
from depthextractors.extraction.filters import label_regions


def random_mask(seed: int) -> np.ndarray:
    """Blobs, specks and rings at a random density on a random image size."""
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(1, 90, size=2)
    density = rng.uniform(0.05, 0.95)
    mask = rng.random((rows, cols)) < density
    if seed % 3 == 0 and min(rows, cols) > 10:
        # Rings with holes, some touching the border.
        yy, xx = np.mgrid[:rows, :cols]
        for _ in range(3):
            cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
            radius = np.hypot(yy - cy, xx - cx)
            mask |= (radius > 3) & (radius < 5)
    return mask


SEEDS = range(60)


def large_mask(seed: int) -> np.ndarray:
    """A noisy 1024x1024 mask of thousands of regions (OpenCV labels it in parallel stripes)."""
    rng = np.random.default_rng(seed)
    return ndimage.binary_opening(rng.random((1024, 1024)) < rng.uniform(0.3, 0.7))


@pytest.mark.parametrize("mask", [*(random_mask(s) for s in SEEDS), large_mask(0), large_mask(1)])
def test_labels_and_their_boxes_are_scipys_in_the_same_order(mask):
    """Region i holds the i-th region a raster scan meets, as scipy numbers them (the arena's
    ranking breaks ties by label), and the statistics are each region's box and area."""
    expected, expected_count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    count, labels, stats = label_regions(mask)
    assert count == expected_count + 1
    np.testing.assert_array_equal(labels, expected)
    areas = np.bincount(expected.ravel(), minlength=count)[1:]
    np.testing.assert_array_equal(stats[1:, cv2.CC_STAT_AREA], areas)
    for (left, top, width, height, _), box in zip(
        stats[1:], ndimage.find_objects(expected), strict=True
    ):
        assert (slice(top, top + height), slice(left, left + width)) == box


@pytest.mark.parametrize("seed", SEEDS)
def test_filled_holes_are_scipys(seed):
    mask = random_mask(seed)
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


@pytest.mark.parametrize("seed", SEEDS)
def test_distances_are_scipys(seed):
    mask = random_mask(seed)
    mask[0, 0] |= not mask.any()  # a distance needs a pixel to measure to
    np.testing.assert_allclose(
        distance_to(mask), ndimage.distance_transform_edt(~mask), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_bilinear_samples_are_scipys_including_beyond_the_edges(seed):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=tuple(rng.integers(1, 40, size=2)))
    rows = rng.uniform(-3, image.shape[0] + 2, size=200)
    cols = rng.uniform(-3, image.shape[1] + 2, size=200)
    # Whole positions too, where floor and the weights meet.
    rows[:20] = np.round(rows[:20])
    cols[:20] = np.round(cols[:20])
    expected = ndimage.map_coordinates(image, (rows, cols), order=1, mode="nearest")
    np.testing.assert_allclose(bilinear_at(image, rows, cols), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_smoothing_is_scipys(seed):
    rng = np.random.default_rng(seed)
    values = rng.exponential(size=rng.integers(1, 300))
    sigma = rng.uniform(0.5, 20)
    expected = ndimage.gaussian_filter1d(values, sigma=sigma, mode="constant")
    np.testing.assert_allclose(gaussian_smooth(values, sigma), expected, rtol=1e-12, atol=1e-15)


def test_the_arena_step_does_not_import_scipy(tmp_path):
    """Finding an arena must not pay scipy.ndimage's import (0.2-0.5 s on 2 cores)."""
    script = (
        "import sys\n"
        "from depthextractors.testing import generate_synthetic_session\n"
        "from depthextractors import SessionExtraction, open_depth_video\n"
        f"session = generate_synthetic_session({str(tmp_path)!r}, 40, seed=3)\n"
        "SessionExtraction(open_depth_video(session.directory)).find_roi()\n"
        "print('scipy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert done.stdout.strip() == "False"
