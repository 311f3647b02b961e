"""Image filters (spatial, temporal, tail, cable) and the Hampel outlier filter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthextractors.config import ExtractionConfig
from depthextractors.extraction.filters import (
    FrameFilters,
    HampelFilter,
    hampel_filter,
    remove_tethers,
    structuring_element,
    temporal_median,
)
from depthextractors.extraction.parameters import build_strategies


def _body_with_tail():
    image = np.zeros((80, 120), dtype=np.uint8)
    cv2.ellipse(image, (50, 40), (18, 9), 0, 0, 360, 30, thickness=-1)
    cv2.line(image, (68, 40), (110, 40), 12, thickness=2)  # a 2-pixel tail
    return image


def test_tail_filter_removes_the_tail_keeps_the_body():
    image = _body_with_tail()
    filtered = FrameFilters(spatial_size=0).apply_spatial(image)
    assert not filtered[:, 80:].any()  # tail gone
    assert filtered[40, 50] == 30  # body kept
    kept = np.count_nonzero(filtered) / np.count_nonzero(image[:, :69])
    assert kept > 0.9


def test_filters_can_be_switched_off():
    image = _body_with_tail()
    np.testing.assert_array_equal(
        FrameFilters(spatial_size=0, tail_iterations=0).apply_spatial(image), image
    )


def test_spatial_median_removes_speckle():
    image = np.zeros((50, 50), dtype=np.uint8)
    image[10, 10] = 90
    image[30:40, 30:40] = 25
    filtered = FrameFilters(spatial_size=3, tail_iterations=0).apply_spatial(image)
    assert filtered[10, 10] == 0
    assert filtered[35, 35] == 25


@pytest.mark.parametrize("size", [3, 5])
def test_spatial_median_of_narrow_regions_is_opencv_s_own(size):
    """Regions narrower than OpenCV's vectorised median are widened first (its scalar path is
    15-20x slower): every pixel is what cv2.medianBlur gives, at every width and height."""
    rng = np.random.default_rng(size)
    filters = FrameFilters(spatial_size=size, tail_iterations=0)
    for columns in (1, 2, 3, 5, 17, 64, 65, 66, 79, 80, 81, 120):
        for rows in (1, 2, 4, 31):
            frame = rng.integers(0, 255, (rows, columns), dtype=np.uint8)
            frame[rng.random(frame.shape) < 0.3] = 0
            filtered = filters.apply_spatial(frame)
            assert filtered.shape == frame.shape
            np.testing.assert_array_equal(filtered, cv2.medianBlur(frame, size))
    # A view into a wider frame (the session filters regions of the ROI box) too.
    box = rng.integers(0, 60, (50, 200), dtype=np.uint8)
    np.testing.assert_array_equal(
        filters.apply_spatial(box[5:45, 20:60]), cv2.medianBlur(box[5:45, 20:60].copy(), size)
    )


def test_cable_filter_erodes_iterations_times():
    image = np.zeros((60, 60), dtype=np.uint8)
    image[10:50, 10:50] = 40
    once = FrameFilters(spatial_size=0, tail_iterations=0, cable_iterations=1).apply_spatial(image)
    twice = FrameFilters(spatial_size=0, tail_iterations=0, cable_iterations=2).apply_spatial(image)
    assert np.count_nonzero(once) == 36 * 36
    assert np.count_nonzero(twice) == 32 * 32


def test_reach_bounds_how_far_filters_move_edges():
    filters = FrameFilters(cable_iterations=1)
    assert filters.reach() == 1 + 2 + 2 * 4
    image = np.zeros((100, 100), dtype=np.uint8)
    image[35:65, 30:70] = 50
    grown = filters.apply_spatial(image)
    rows, cols = np.nonzero(grown)
    assert rows.min() >= 35 - filters.reach()
    assert cols.max() < 70 + filters.reach()


def test_parameters_use_moseq2_names():
    # The filters' settings as recorded with the results (the moseq2 parameter table).
    from depthextractors import NumpyDepthExtractor, SessionExtraction
    from depthextractors.extraction import JobOptions
    from depthextractors.extraction.recorded_parameters import moseq2_parameters

    extractor = NumpyDepthExtractor(np.full((2, 8, 8), 680, np.uint16), 30.0)
    recorded = moseq2_parameters(
        SessionExtraction(extractor, filters=FrameFilters()), None, JobOptions()
    )
    params = {key: recorded[key] for key in recorded if "_filter_" in key}
    assert params == {
        "spatial_filter_size": [3],
        "temporal_filter_size": [0],
        "tail_filter_size": [9, 9],
        "tail_filter_shape": "ellipse",
        "tail_filter_iters": 1,
        "tether_filter_size": 0,
        "cable_filter_size": [5, 5],
        "cable_filter_shape": "rectangle",
        "cable_filter_iters": 0,
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spatial_size": 4}, "odd"),
        ({"temporal_size": 2}, "odd"),
        ({"tail_shape": "hexagon"}, "shape"),
        ({"tail_iterations": -1}, ">= 0"),
        ({"cable_size": (0, 3)}, "at least"),
    ],
)
def test_bad_filter_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FrameFilters(**kwargs)


def test_structuring_element_shapes():
    assert structuring_element("rectangle", (5, 3)).shape == (3, 5)
    assert structuring_element("ellipse", (9, 9))[0, 0] == 0
    assert structuring_element("rect", (3, 3)).all()


def test_temporal_median_matches_scipy_in_the_interior():
    from scipy.ndimage import median_filter

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 100, (20, 6, 7), dtype=np.uint8)
    ours = temporal_median(frames, 5, block=3)
    reference = median_filter(frames, size=(5, 1, 1), mode="nearest")
    np.testing.assert_array_equal(ours, reference)


def test_temporal_median_removes_a_one_frame_flash():
    frames = np.full((9, 4, 4), 20, dtype=np.uint8)
    frames[4] = 90
    np.testing.assert_array_equal(temporal_median(frames, 3), np.full_like(frames, 20))
    with pytest.raises(ValueError, match="in place"):
        temporal_median(frames, 3, out=frames)


def test_hampel_replaces_outliers_with_the_window_median():
    rng = np.random.default_rng(1)
    series = 100 + rng.normal(0, 1, 200)
    series[[20, 120]] += [15, -12]
    filtered, outliers = hampel_filter(series, span=7, sig=3)
    assert set(np.flatnonzero(outliers)) >= {20, 120}
    # Medians and MADs of 7 samples are noisy: a few Gaussian samples get flagged too.
    assert outliers.sum() <= 20
    assert abs(filtered[20] - 100) < 3
    untouched = ~outliers
    np.testing.assert_array_equal(filtered[untouched], series[untouched])


def test_hampel_threshold_is_sig_robust_sigmas_not_median_plus_mad():
    # Window 10, 11, 16, 12, 13: median 12, MAD 1 -> robust sigma 1.4826. The probe 16 lies
    # 4 from the median: an outlier at sig=2 (4 > 2.97) but not at sig=3 (4 < 4.45).
    # moseq2's rule (|x - med| > med + sig * MAD = 15) would call it an outlier at neither.
    series = np.array([10.0, 11.0, 16.0, 12.0, 13.0])
    _, outliers_2 = hampel_filter(series, span=5, sig=2)
    _, outliers_3 = hampel_filter(series, span=5, sig=3)
    assert outliers_2[2]
    assert not outliers_3[2]


def test_hampel_ignores_missing_values():
    series = np.array([1.0, np.nan, 1.1, 0.9, 25.0, 1.0, np.nan, 1.05])
    filtered, outliers = hampel_filter(series, span=5)
    assert outliers[4]
    assert np.isnan(filtered[1])
    assert np.isnan(filtered[6])
    filtered, outliers = hampel_filter(np.full(6, np.nan), span=3)
    assert np.isnan(filtered).all()
    assert not outliers.any()


def test_hampel_filter_object():
    assert not HampelFilter().enabled
    assert HampelFilter(span=5).radius == 2
    with pytest.raises(ValueError, match="span"):
        HampelFilter(span=-1)
    with pytest.raises(ValueError, match="sig"):
        HampelFilter(span=5, sig=0)
    series = np.arange(10.0)
    np.testing.assert_array_equal(HampelFilter().apply(series)[0], series)


def body_with_cable(cable_width: int) -> np.ndarray:
    """A 60x24-pixel elliptical body, 30 mm tall, and a cable of ``cable_width`` pixels from its
    back to the image's edge, 40 mm tall."""
    image = np.zeros((120, 200), np.uint8)
    cv2.ellipse(image, (70, 60), (30, 12), 0, 0, 360, 30, -1)
    image[60 - cable_width // 2 : 60 + (cable_width + 1) // 2, 80:200] = np.maximum(
        image[60 - cable_width // 2 : 60 + (cable_width + 1) // 2, 80:200], 40
    )
    return image


def test_the_tether_filter_removes_a_cable_and_keeps_the_body():
    body = body_with_cable(0)
    tethered = body_with_cable(7)
    cleaned = remove_tethers(tethered, 17)
    outside = body == 0
    assert not cleaned[outside].any()  # the cable is gone
    # the body is whole but for the cable's few pixels over its back
    kept = (cleaned > 0) & (body > 0)
    assert kept.sum() >= 0.97 * (body > 0).sum()
    # an animal without a cable, its narrow nose inside the body's ellipse, is unchanged
    np.testing.assert_array_equal(remove_tethers(body, 17), body)
    # a cable as wide as the disc is part of the body: the filter cannot tell it apart
    assert remove_tethers(body_with_cable(19), 17)[60, 190] > 0
    # through FrameFilters and the parameter table
    filters = FrameFilters(spatial_size=0, tail_iterations=0, tether_size=17)
    assert not filters.apply_spatial(tethered)[outside].any()
    built = build_strategies(ExtractionConfig(tether_filter_size=17))
    assert built["filters"].tether_size == 17


def test_the_tether_filter_keeps_both_halves_of_a_body_the_opening_cuts_in_two():
    """A cable standing on the back that rises above max_height leaves a hole there (its
    heights are dropped): the disc's opening cuts the body in two at the hole, and both halves
    are body. Only the cable, narrower than the disc and reaching out, is removed."""
    tethered = body_with_cable(7)
    hole = np.zeros_like(tethered)
    cv2.ellipse(hole, (70, 60), (6, 10), 0, 0, 360, 1, -1)
    tethered[hole > 0] = 0
    body = body_with_cable(0)
    body[hole > 0] = 0
    cleaned = remove_tethers(tethered, 17)
    assert not cleaned[body == 0].any()  # the cable is gone
    for half in (slice(0, 70), slice(71, 200)):
        kept = (cleaned[:, half] > 0) & (body[:, half] > 0)
        assert kept.sum() >= 0.95 * (body[:, half] > 0).sum()


def tethers_removed_over_the_whole_image(heights, size, reach=1.25):
    """The tether filter as first written: the opening, labels and one pass per part over
    the whole image (the filter works round the non-zero pixels and on all parts at once)."""
    mask = (heights > 0).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disc)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count < 2:
        return heights
    largest = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    _, objects = cv2.connectedComponents(mask, connectivity=8)
    row, col = np.unravel_index(int(np.argmax(largest)), largest.shape)
    ys, xs = np.nonzero(opened.astype(bool) & (objects == objects[row, col]))
    if xs.size < 3:
        return heights
    centre = np.array([xs.mean(), ys.mean()])
    inverse = np.linalg.pinv(np.cov(np.vstack([xs, ys])) * 4.0 * reach**2)
    count, parts = cv2.connectedComponents(mask & ~opened, connectivity=8)
    out = heights.copy()
    for label in range(1, count):
        part_ys, part_xs = np.nonzero(parts == label)
        offsets = np.vstack([part_xs, part_ys]).T - centre
        if np.einsum("ij,jk,ik->i", offsets, inverse, offsets).max() > 1.0:
            out[part_ys, part_xs] = 0
    return out


@pytest.mark.parametrize("seed", range(30))
def test_the_tether_filter_round_the_non_zero_pixels_equals_it_over_the_whole_image(seed):
    """Drawn bodies, blocks with flat edges, cables (some to the image's edge, where the
    opening's erosion takes the outside as set), specks and second objects: the filter gives
    what it gives over the whole image, pixel for pixel."""
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(60, 300)), int(rng.integers(60, 300))
    heights = np.zeros((rows, cols), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        centre = (int(rng.integers(0, cols)), int(rng.integers(0, rows)))
        axes = (int(rng.integers(8, 40)), int(rng.integers(5, 20)))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(heights, centre, axes, angle, 0, 360, int(rng.integers(20, 90)), -1)
    for _ in range(int(rng.integers(0, 3))):
        # Flat edges as wide as the disc, which lie along the box of the non-zero pixels.
        corner = (int(rng.integers(-20, cols)), int(rng.integers(-20, rows)))
        far = (corner[0] + int(rng.integers(10, 80)), corner[1] + int(rng.integers(10, 80)))
        cv2.rectangle(heights, corner, far, int(rng.integers(20, 90)), -1)
    for _ in range(int(rng.integers(0, 4))):
        start = (int(rng.integers(0, cols)), int(rng.integers(0, rows)))
        end = (int(rng.integers(-20, cols + 20)), int(rng.integers(-20, rows + 20)))
        cv2.line(heights, start, end, int(rng.integers(20, 200)), int(rng.integers(1, 12)))
    specks = rng.random((rows, cols)) < 0.003
    heights[specks] = rng.integers(10, 60, specks.sum())
    size = int(rng.integers(5, 40))
    np.testing.assert_array_equal(
        remove_tethers(heights, size), tethers_removed_over_the_whole_image(heights, size)
    )


@pytest.mark.parametrize("seed", range(40))
def test_filtering_the_region_round_non_zero_pixels_equals_filtering_the_whole_image(seed):
    """The session filters only the non-zero pixels' box plus ``region_margin()``; every
    combination of filters must give there what filtering the whole image gives, and 0 past
    it (shapes, odd and even sizes, iterations, the tether filter, 8- and 16-bit heights)."""
    from depthextractors.extraction.stages import nonzero_region

    rng = np.random.default_rng(seed)
    shapes = ("ellipse", "rectangle", "cross")
    filters = FrameFilters(
        spatial_size=int(rng.choice([0, 3, 5, 7])),
        tail_size=tuple(int(v) for v in rng.integers(1, 14, 2)),
        tail_shape=str(rng.choice(shapes)),
        tail_iterations=int(rng.integers(0, 4)),
        cable_size=tuple(int(v) for v in rng.integers(1, 8, 2)),
        cable_shape=str(rng.choice(shapes)),
        cable_iterations=int(rng.integers(0, 3)),
        tether_size=int(rng.choice([0, 0, 5, 9])),
    )
    dtype = np.uint16 if seed % 4 == 3 else np.uint8
    image = np.zeros((90, 110), dtype=dtype)
    centre = (int(rng.integers(-5, 115)), int(rng.integers(-5, 95)))
    axes = (int(rng.integers(4, 30)), int(rng.integers(3, 15)))
    cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, 40, thickness=-1)
    end = (int(rng.integers(0, 110)), int(rng.integers(0, 90)))
    cv2.line(image, centre, end, 25, thickness=int(rng.integers(1, 6)))
    # Noise on and round the animal, and specks that widen the region.
    image[image > 0] += rng.integers(0, 20, np.count_nonzero(image)).astype(dtype)
    specks = rng.integers(0, image.shape, (int(rng.integers(0, 4)), 2))
    image[specks[:, 0], specks[:, 1]] = rng.integers(11, 60, len(specks)).astype(dtype)
    whole = filters.apply_spatial(image)
    region = nonzero_region(image, filters.region_margin())
    if region is None:
        assert not whole.any()
        return
    y0, y1, x0, x1 = region
    part = filters.apply_spatial(image[y0:y1, x0:x1])
    np.testing.assert_array_equal(part, whole[y0:y1, x0:x1])
    outside = np.ones(whole.shape, dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert not whole[outside].any()
