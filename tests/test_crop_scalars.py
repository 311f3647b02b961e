"""Crop-and-rotate (sub-pixel, nose east, moseq2's rotation) and the per-frame scalars."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from depthextractors.cameras import get_camera
from depthextractors.extraction.crop import crop_and_rotate, place_crop
from depthextractors.extraction.scalars import (
    MOSEQ2_SCALARS,
    SCALAR_DESCRIPTIONS,
    ScalarComputer,
    detect_dropped_frames,
)


def _animal(x, y, heading, shape=(240, 320)):
    """Body ellipse plus a bright nose blob at ``heading`` (radians, y up)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    dx, dy = cols - x, y - rows
    along = dx * math.cos(heading) + dy * math.sin(heading)
    across = -dx * math.sin(heading) + dy * math.cos(heading)
    image = np.where((along / 20) ** 2 + (across / 8) ** 2 <= 1, 30.0, 0.0)
    image[((along - 15) ** 2 + across**2) <= 9] = 60.0
    return image.astype(np.float32)


@pytest.mark.parametrize("heading", [0.0, 0.7, 2.5, -1.2, math.pi])
def test_crop_puts_centroid_at_centre_and_nose_east(heading):
    x, y = 150.37, 101.81
    crop = crop_and_rotate(_animal(x, y, heading), x, y, heading, (80, 80))
    body = crop > 0
    rows, cols = np.nonzero(body)
    nose_rows, nose_cols = np.nonzero(crop > 45)
    assert nose_cols.mean() > 40 + 10  # nose east of centre
    assert abs(nose_rows.mean() - 40) < 0.6
    # The body's centre lands on pixel (40, 40) to within interpolation error.
    weights = body.astype(float)
    assert (cols * weights[rows, cols]).sum() / weights.sum() == pytest.approx(40, abs=0.6)
    assert (rows * weights[rows, cols]).sum() / weights.sum() == pytest.approx(40, abs=0.3)


def test_crop_uses_moseq2_rotation_sign():
    image = _animal(100, 100, 0.6)
    ours = crop_and_rotate(image, 100, 100, 0.6, (80, 80))
    # moseq2-extract: window around the (integer) centroid, rotated by -degrees(angle).
    window = image[60:140, 60:140]
    matrix = cv2.getRotationMatrix2D((40, 40), -np.rad2deg(0.6), 1)
    theirs = cv2.warpAffine(window, matrix, (80, 80))
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_sub_pixel_centroid_moves_the_crop():
    image = _animal(100.5, 100, 0.0)
    at_half = crop_and_rotate(image, 100.5, 100, 0.0)
    rounded = crop_and_rotate(image, 100.0, 100, 0.0)
    cols = np.nonzero(at_half[40] > 0)[0]
    assert (cols.min() + cols.max()) / 2 == pytest.approx(40, abs=0.5)
    assert not np.array_equal(at_half, rounded)


def test_place_crop_inverts_crop_and_rotate():
    image = _animal(120.3, 90.6, 1.1)
    crop = crop_and_rotate(image, 120.3, 90.6, 1.1, (80, 80))
    back = place_crop(np.zeros_like(image), crop, 120.3, 90.6, 1.1)
    region = image > 0
    assert np.abs(back[region] - image[region]).mean() < 3.0


def test_crop_outside_the_frame_is_zero():
    image = np.full((60, 60), 20, np.uint8)
    crop = crop_and_rotate(image, 2.0, 2.0, 0.0, (80, 80))
    assert crop[0, 0] == 0
    assert crop[45, 45] == 20
    # A sub-image holding all the non-zero pixels gives the same crop with its origin.
    sparse = np.zeros((60, 60), np.uint8)
    sparse[20:40, 25:45] = 20
    whole = crop_and_rotate(sparse, 30.0, 31.0, 0.3, (80, 80))
    part = crop_and_rotate(sparse[10:, 12:], 30.0, 31.0, 0.3, (80, 80), origin=(12, 10))
    np.testing.assert_array_equal(part, whole)


def _computer():
    return ScalarComputer(get_camera("kinect_v2"), 673.5, (115, 99))


def _inputs(n=6):
    """Features of six frames (the fourth without the animal) and their times."""
    nan = np.nan
    features = {
        "x": np.array([10.0, 11.0, 13.0, nan, 20.0, 21.0]),
        "y": np.array([50.0, 50.0, 52.0, nan, 55.0, 55.0]),
        "angle": np.linspace(0.1, 0.6, 6),
        "length": np.full(6, 30.0),
        "width": np.full(6, 15.0),
        # moseq2's area and height come from the cropped frame: 0 where there is no animal.
        "crop_area": np.array([400.0, 410.0, 410.0, 0.0, 420.0, 420.0]),
        "crop_height": np.array([20.0, 21.0, 21.0, 0.0, 22.0, 22.0]),
        "body_length": np.full(6, 31.0),
        "body_width": np.full(6, 16.0),
        "body_area": np.full(6, 430.0),
        "body_height": np.array([20.5, 21.5, 21.5, nan, 22.5, 22.5]),
        "body_x": np.array([10.25, 11.5, 13.5, 12.0, 20.5, 21.5]),
        "body_y": np.array([50.5, 50.5, 52.5, 52.0, 55.5, 55.5]),
        # The body's axis modulo pi: in frames 2 and 6 pointing the other way from angle.
        "body_axis": np.linspace(0.1, 0.6, 6)
        + np.array([0.02, 0.03 - np.pi, 0.0, 0.0, -0.04, 0.01 + np.pi]),
    }
    times = np.array([0.0, 1 / 30, 2 / 30, 3 / 30, 5 / 30, 6 / 30])
    return {name: values[:n] for name, values in features.items()}, times[:n]


def _split(n):
    features, times = _inputs()
    first = ({k: v[:n] for k, v in features.items()}, times[:n])
    second = ({k: v[n:] for k, v in features.items()}, times[n:])
    return first, second


def test_scalar_names_and_units():
    values = _computer().compute(*_inputs())
    assert set(MOSEQ2_SCALARS) <= set(values)
    assert set(values) == set(SCALAR_DESCRIPTIONS)
    assert len(MOSEQ2_SCALARS) == 17
    for name, series in values.items():
        assert series.dtype == (bool if name == "valid" else np.float32), name
    kinect = get_camera("kinect_v2")
    mm_x, mm_y = kinect.mm_per_pixel(673.5)
    # moseq2-extract's millimetres: the ROI-relative pixel as if it were a Kinect v2 pixel.
    expected = kinect.pixels_to_mm(np.array([[10.0, 50.0]]), 673.5)[0]
    assert values["centroid_x_mm"][0] == pytest.approx(expected[0], rel=1e-6)
    assert values["centroid_y_mm"][0] == pytest.approx(expected[1], rel=1e-6)
    assert values["length_mm"][0] == pytest.approx(30 * mm_x, rel=1e-6)
    assert values["width_mm"][0] == pytest.approx(15 * mm_y, rel=1e-6)
    assert values["area_px"][0] == 400
    assert values["area_mm"][0] == pytest.approx(400 * mm_x * mm_y, rel=1e-6)
    assert values["height_ave_mm"][0] == 20
    # This project's: the full-frame pixel (ROI box at (115, 99)) with the camera's model.
    floor = kinect.pixels_to_mm(np.array([[10.0 + 115, 50.0 + 99]]), 673.5)[0]
    assert values["centroid_x_floor_mm"][0] == pytest.approx(floor[0], rel=1e-6)
    assert values["centroid_y_floor_mm"][0] == pytest.approx(floor[1], rel=1e-6)
    assert values["body_length_px"][0] == 31
    assert values["body_length_mm"][0] == pytest.approx(31 * mm_x, rel=1e-6)
    assert values["body_area_mm2"][0] == pytest.approx(430 * mm_x * mm_y, rel=1e-6)
    assert values["body_height_mean_mm"][0] == 20.5
    # The body centroid: ROI-box pixels as given, NaN where the animal was not found.
    assert values["body_centroid_x_px"][0] == 10.25
    assert values["body_centroid_y_px"][2] == 52.5
    assert np.isnan(values["body_centroid_x_px"][3])
    # The body's axis turned to the angle's heading (and unwrapping): within 90 degrees of it.
    turned = values["body_angle"] - values["angle"]
    np.testing.assert_allclose(turned[[0, 1, 2, 4, 5]], [0.02, 0.03, 0.0, -0.04, 0.01], atol=1e-6)
    assert np.isnan(values["body_angle"][3])


def test_moseq2_millimetres_use_kinect_v2_pixels_whatever_the_camera():
    from depthextractors.extraction.scalars import ScalarComputer

    azure = get_camera("azure_nfov_unbinned")
    values = ScalarComputer(azure, 673.5, (115, 99)).compute(*_inputs())
    kinect = get_camera("kinect_v2")
    expected = kinect.pixels_to_mm(np.array([[10.0, 50.0]]), 673.5)[0]
    assert values["centroid_x_mm"][0] == pytest.approx(expected[0], rel=1e-6)
    assert values["length_mm"][0] == pytest.approx(30 * kinect.mm_per_pixel(673.5)[0], rel=1e-6)
    floor = azure.pixels_to_mm(np.array([[125.0, 149.0]]), 673.5)[0]
    assert values["centroid_x_floor_mm"][0] == pytest.approx(floor[0], rel=1e-6)
    assert values["body_length_mm"][0] == pytest.approx(31 * azure.mm_per_pixel(673.5)[0])


def test_velocities_per_frame_and_per_second():
    values = _computer().compute(*_inputs())
    assert values["velocity_2d_px"][0] == 0
    assert values["velocity_2d_px"][2] == pytest.approx(math.hypot(2, 2))
    # The 3-D velocity adds the change of height_ave_mm (1 mm here).
    assert values["velocity_3d_px"][1] == pytest.approx(math.sqrt(1 + 1))
    mm_x, _ = get_camera("kinect_v2").mm_per_pixel(673.5)
    assert values["velocity_2d_mm"][1] == pytest.approx(mm_x, rel=1e-5)
    assert values["velocity_2d_mm_per_s"][1] == pytest.approx(mm_x * 30, rel=1e-4)
    assert values["velocity_theta"][1] == pytest.approx(0.0, abs=1e-6)
    # Frames around a missing animal are NaN, not a jump through zero.
    assert np.isnan(values["velocity_2d_px"][3])
    assert np.isnan(values["velocity_2d_px"][4])
    assert values["velocity_2d_px"][5] == pytest.approx(1.0)
    # A two-frame gap in time halves the per-second speed of an equal step.
    assert values["velocity_2d_mm_per_s"][5] == pytest.approx(mm_x * 30, rel=1e-4)
    # Without the animal: moseq2's conventions (0 area and height, NaN elsewhere), NaN for
    # this project's own scalars.
    assert not values["valid"][3]
    assert np.isnan(values["angle"][3])
    assert values["area_px"][3] == 0
    assert values["height_ave_mm"][3] == 0
    assert np.isnan(values["area_mm"][3])
    assert np.isnan(values["width_px"][3])
    assert np.isnan(values["body_area_px"][3])
    assert np.isnan(values["centroid_x_floor_mm"][3])


def test_scalars_continue_across_chunks():
    whole = _computer().compute(*_inputs())
    computer = _computer()
    (features_a, times_a), (features_b, times_b) = _split(2)
    first = computer.compute(features_a, times_a)
    second = computer.compute(features_b, times_b)
    for name in whole:
        joined = np.concatenate([first[name], second[name]])
        np.testing.assert_array_equal(joined, whole[name], err_msg=name)


def test_dropped_frames_from_timestamp_gaps():
    times = np.arange(100) / 30.0
    times[40:] += 2 / 30.0  # two frames missing after index 39
    times[70:] += 1 / 30.0  # one after 69
    dropped = detect_dropped_frames(times)
    assert dropped.count == 3
    np.testing.assert_array_equal(dropped.after, [39, 69])
    assert dropped.interval_s == pytest.approx(1 / 30)
    assert detect_dropped_frames(np.arange(5) / 30.0).count == 0
    assert detect_dropped_frames(np.array([0.0])).count == 0
