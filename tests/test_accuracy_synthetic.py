"""Accuracy of the whole extraction against the synthetic ground truth of depthextractors.testing.

Round and square arenas, a tilted floor, 2 mm depth noise, invalid pixels and dropped frames;
the arena is found by PlaneROI and the background by the strided median, as a user would run it.
Bars (DESIGN 4): centroid median error <= 0.3 px and 95th percentile <= 1 px; body-axis angle
(mod pi) median error <= 0.5 degrees.
"""

from __future__ import annotations

import numpy as np
import pytest

from depthextractors import (
    SessionExtraction,
    StridedMedianBackground,
    open_depth_video,
)
from depthextractors.io import H5ResultsWriter
from depthextractors.testing import generate_synthetic_session


@pytest.fixture(scope="module", params=["round", "square"])
def extracted(request, tmp_path_factory):
    arena = request.param
    session = generate_synthetic_session(
        tmp_path_factory.mktemp(f"accuracy_{arena}"),
        360,
        arena=arena,
        floor_tilt_deg=(2.0, -1.5),
        noise_mm=2.0,
        dropout_fraction=0.004,
        dropped_frames=4,
        seed=21 if arena == "round" else 22,
    )
    extraction = SessionExtraction(
        open_depth_video(session.directory),
        background=StridedMedianBackground(frame_stride=12),
    )
    results = extraction.run(
        H5ResultsWriter(tmp_path_factory.mktemp(f"proc_{arena}")), chunk_size=100, progress=False
    )
    return session, extraction, results


def _full_frame_centroid(extraction, results):
    row0, _, col0, _ = extraction.arena.roi.bbox
    return np.column_stack(
        [results.scalars["centroid_x_px"][:] + col0, results.scalars["centroid_y_px"][:] + row0]
    )


def test_every_frame_is_found(extracted):
    session, _, results = extracted
    assert len(results) == session.truth.centroid_px.shape[0]
    assert results.valid.all()


def test_centroid_error_bars(extracted):
    session, extraction, results = extracted
    error = np.hypot(*(_full_frame_centroid(extraction, results) - session.truth.centroid_px).T)
    assert np.median(error) <= 0.3
    assert np.percentile(error, 95) <= 1.0


def test_body_axis_angle_error_bar(extracted):
    session, _, results = extracted
    angle = results.scalars["angle"][:].astype(np.float64)
    # Compare mod pi: the tracker knows the body axis, not which end is the nose.
    error = np.abs(np.angle(np.exp(2j * (angle - session.truth.heading)))) / 2
    assert np.degrees(np.median(error)) <= 0.5


def test_shape_scalars_close_to_truth(extracted):
    session, _, results = extracted
    truth = session.truth
    scalars = results.scalars

    def median_difference(name, true):
        return np.median(np.asarray(scalars[name][:], dtype=float) - true)

    # The body's own moments (the filled pixel set): the tail filter trims its ends, so
    # lengths and areas come out slightly small.
    assert median_difference("body_length_px", truth.length_px) == pytest.approx(0, abs=2)
    assert median_difference("body_width_px", truth.width_px) == pytest.approx(0, abs=1)
    assert np.median(scalars["body_area_px"][:] / truth.area_px) == pytest.approx(1, abs=0.05)
    assert median_difference("body_height_mean_mm", truth.height_mean_mm) == pytest.approx(
        0, abs=2
    )
    # moseq2's: the contour polygon is half a pixel smaller all round (a pixel shorter along
    # each axis), and the cropped frame's pixels between the heights are the body's.
    assert median_difference("length_px", scalars["body_length_px"][:]) == pytest.approx(
        -1, abs=0.3
    )
    assert median_difference("width_px", scalars["body_width_px"][:]) == pytest.approx(
        -1, abs=0.3
    )
    # area_px counts the cropped filtered frame's pixels strictly above min_height: the body
    # less its lowest rim (a few per cent).
    ratio = np.median(scalars["area_px"][:] / scalars["body_area_px"][:])
    assert 0.9 <= ratio <= 1.0
    assert median_difference("height_ave_mm", truth.height_mean_mm) == pytest.approx(0, abs=2)


def test_arena_and_floor_depth(extracted):
    session, extraction, results = extracted
    mask = extraction.arena.roi.mask
    iou = (mask & session.truth.arena_mask).sum() / (mask | session.truth.arena_mask).sum()
    assert iou > 0.9
    assert results.true_depth == pytest.approx(session.truth.true_depth_mm, abs=3)


def test_dropped_frames_found(extracted):
    session, _, results = extracted
    assert results.dropped_frame_count == len(session.truth.dropped_after)
    np.testing.assert_array_equal(results.dropped_after, session.truth.dropped_after)


def test_speed_per_second_uses_real_time(extracted):
    session, _, results = extracted
    per_frame = results.scalars["velocity_2d_mm"][:].astype(np.float64)
    per_second = results.scalars["velocity_2d_mm_per_s"][:].astype(np.float64)
    dt = np.diff(session.truth.timestamps_ms) / 1000.0
    np.testing.assert_allclose(per_second[1:], per_frame[1:] / dt, rtol=1e-4, atol=1e-3)
    # Across a dropped frame the per-frame step is about twice the usual one, the speed is not.
    gap = session.truth.dropped_after[0] + 1
    assert dt[gap - 1] > 1.5 * np.median(dt)


def test_truth_speed_matches_extracted_speed(extracted):
    session, _, results = extracted
    mm_per_px = session.truth.mm_per_px
    truth_speed = np.r_[0.0, np.hypot(*np.diff(session.truth.centroid_px, axis=0).T)] * mm_per_px
    measured = results.scalars["velocity_2d_mm"][:]
    assert np.median(np.abs(measured[1:] - truth_speed[1:])) < 0.5
