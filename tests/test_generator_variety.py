"""Sessions drawn from what labs record (issue 15): a fixed seed gives fixed files, the draws
cover the declared ranges, the ground truth is what the frames show, and the default
extraction's accuracy on a small fixed sample (benchmarks/bench_accuracy.py draws 200)."""

import hashlib
import json
import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from depthextractors import (
    CAMERA_PRESETS,
    EMTracker,
    ManualROI,
    SessionExtraction,
    get_camera,
)
from depthextractors.io import InMemoryResultsWriter
from depthextractors.testing import (
    GENERATOR_VERSION,
    SyntheticDepthExtractor,
    draw_session,
    draw_session_parameters,
    read_ground_truth,
)

#: Draws looked at for the ranges (parameters only: drawing renders nothing).
DRAWS = 120


def digests(directory):
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
    }


def test_a_seed_gives_the_same_files_and_another_seed_others(tmp_path):
    first = draw_session(tmp_path / "a", 5, 12)
    again = draw_session(tmp_path / "b", 5, 12)
    other = draw_session(tmp_path / "c", 6, 12)
    assert set(digests(first.directory)) == {
        "depth.dat", "depth_ts.txt", "metadata.json", "ground_truth.npz", "session.json",
    }  # fmt: skip
    assert digests(first.directory) == digests(again.directory)
    assert digests(first.directory)["depth.dat"] != digests(other.directory)["depth.dat"]
    record = json.loads((first.directory / "session.json").read_text())
    assert record["generator_version"] == GENERATOR_VERSION
    assert record["seed"] == 5
    assert record["num_frames"] == 12
    assert record["conditions"] == draw_session_parameters(5).conditions()
    truth = read_ground_truth(first.directory)
    np.testing.assert_array_equal(truth.centroid_px, first.truth.centroid_px)
    np.testing.assert_array_equal(truth.heading, first.truth.heading)
    np.testing.assert_array_equal(truth.visible, first.truth.visible)
    with np.load(first.directory / "ground_truth.npz") as stored:
        axis = stored["body_axis"]
    assert np.all(np.abs(axis) <= np.pi / 2)
    assert np.allclose(np.cos(2 * (axis - first.truth.heading)), 1.0)


def test_draws_cover_the_declared_ranges():
    draws = [draw_session_parameters(seed) for seed in range(DRAWS)]
    assert draw_session_parameters(7) == draws[7]
    levels = {}
    for params in draws:
        for factor, level in params.conditions().items():
            levels.setdefault(factor, set()).add(level)
    assert levels["camera"] == {get_camera(name).name for name in CAMERA_PRESETS}
    assert levels["animal"] == {"juvenile mouse", "adult mouse", "large mouse", "rat"}
    assert levels["arena"] == {"round", "square"}
    assert levels["walls"] == {"vertical", "sloped", "vertical, reflective", "sloped, reflective"}
    assert levels["tether"] == {"none", "fibre", "cable", "bundle"}
    assert levels["tether route"] == {"none", "wall", "commutator"}
    assert levels["tether slack"] == {"none", "taut", "slack"}
    assert levels["tether attachment"] == {"none", "head", "back"}
    for factor in ("objects", "bedding", "hand", "rearing", "grooming", "invalid patches"):
        assert levels[factor] == {"yes", "no"}, factor
    sizes = {get_camera(p.camera).image_size for p in draws}
    assert (288, 320) in sizes
    assert (1024, 1024) in sizes
    assert (720, 1280) in sizes
    depths = np.array([p.floor_depth_mm for p in draws])
    assert depths.min() < 560
    assert np.mean(depths <= 1100) > 0.9
    assert depths.max() < 1550
    tilts = np.abs([p.floor_tilt_deg for p in draws])
    assert tilts.max() <= 3
    assert tilts.max() > 2.5
    lengths = np.array([2 * p.mouse.half_length_mm for p in draws])
    assert lengths.min() < 50
    assert lengths.max() > 200
    widths = np.array([p.tether.width_mm for p in draws if p.tether is not None])
    assert widths.min() < 1.0
    assert widths.max() > 10.0
    assert any(p.tether is not None and p.tether.connector_mm for p in draws)
    assert 0.35 < np.mean([p.tether is not None for p in draws]) < 0.65
    for params in draws:
        camera = get_camera(params.camera)
        # The arena fits in the view (the renderer refuses one that does not).
        largest = 0.94 * min(camera.image_size) * camera.mm_per_pixel(params.floor_depth_mm)[0]
        assert params.arena_size_mm <= largest
        assert params.arena_size_mm > 6 * params.mouse.half_length_mm


def measured_body(heights, threshold, tail_px):
    """Centroid, axis and area of the pixels above ``threshold``, the tail opened away."""
    mask = (heights > threshold).astype(np.uint8)
    kernel = 2 * math.ceil(tail_px / 2) + 3
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    )
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    body = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    moments = cv2.moments(body, binaryImage=True)
    centroid = np.array([moments["m10"], moments["m01"]]) / moments["m00"]
    axis = -0.5 * np.arctan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"])
    return centroid, axis, moments["m00"]


def clean(params, **changes):
    """The drawn scene without noise, invalid pixels, reflections, hand or (by default)
    tether, so the frames show the animal as the ground truth describes it."""
    values = dict(
        noise_mm=0.0, dropout_fraction=0.0, dropout_patches=0.0, flying_pixels=0.0,
        tether=None, hand_frames=0, reflective_walls=False,
    )  # fmt: skip
    values.update(changes)
    return replace(params, **values)


# Seeds: a posed, bending adult mouse (1.8 mm/px); a rat at 3.9 mm/px; a large mouse on
# bedding; a juvenile mouse at 2.8 mm/px, whose body is only 16 by 8 pixels (its pixels'
# own axis strays by degrees from the body's).
@pytest.mark.parametrize(
    ("seed", "frames", "axis_deg"), [(0, 240, 1.5), (5, 40, 1.5), (8, 240, 1.5), (39, 40, 3.0)]
)
def test_ground_truth_is_what_the_frames_show(seed, frames, axis_deg):
    params = draw_session_parameters(seed)
    video, truth = clean(params).synthesize(frames)
    mouse = params.mouse
    tail_px = mouse.tail_width_mm / truth.mm_per_px
    posed = truth.rearing | truth.grooming
    sample = np.r_[np.arange(0, 40, 3), np.flatnonzero(posed)[::4]]
    errors, axes, areas, nose_lower = [], [], [], []
    for index in sample:
        heights = truth.background_depth_mm - video[index].astype(np.float32)
        image = np.where(truth.arena_mask, heights, 0)
        centroid, axis, area = measured_body(image, mouse.threshold_mm, tail_px)
        errors.append(np.hypot(*(centroid - truth.centroid_px[index])))
        turn = (axis - truth.heading[index]) % np.pi
        axes.append(np.degrees(min(turn, np.pi - turn)))
        areas.append(area / truth.area_px[index])
        if not posed[index]:
            # The heading points to the nose: lower than the rear, which it faces away from.
            step = 0.5 * mouse.half_length_mm / truth.mm_per_px
            ahead = np.array([np.cos(truth.heading[index]), -np.sin(truth.heading[index])])
            x, y = truth.centroid_px[index]
            front = image[round(y + step * ahead[1]), round(x + step * ahead[0])]
            back = image[round(y - step * ahead[1]), round(x - step * ahead[0])]
            nose_lower.append(front < back)
    if frames > 40:
        assert posed.sum() >= 20  # the sample holds rearing or grooming frames
    # Opening the tail away shaves a small body unevenly: up to a pixel at 2.8 mm/px.
    assert np.median(errors) < 0.45
    assert np.max(errors) < 1.0
    assert np.median(axes) < axis_deg
    assert np.max(axes) < 4 * axis_deg
    assert np.min(areas) > 0.75
    assert np.max(areas) < 1.05
    assert np.mean(nose_lower) == 1.0


@pytest.mark.parametrize("seed", [0, 39])
def test_tether_truth_is_where_the_cable_is_drawn(seed):
    params = draw_session_parameters(seed)
    assert params.tether is not None
    assert not params.tether.partial_pixels
    video, truth = clean(params, tether=params.tether).synthesize(20)
    for index in (0, 10, 19):
        under = truth.tether_mask(index) & truth.arena_mask
        raised = video[index] < truth.background_depth_mm - 2.0
        assert under.sum() > 20
        assert raised[under].mean() > 0.95
        # Beyond the cable (and the animal with its tail) the frame shows the empty scene.
        near = cv2.dilate(under.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        animal = (
            np.hypot(*(np.indices(video.shape[1:])[::-1] - truth.centroid_px[index][:, None, None]))
            < 1.2 * params.mouse.reach_mm() / truth.mm_per_px
        )
        assert not raised[truth.arena_mask & ~near & ~animal].any()


def extraction_errors(results, truth, bbox, centroid="centroid"):
    """Per visible frame: centroid error (px), body-axis error (deg), heading right; a frame
    in which the animal was not found counts as an infinite error and a wrong heading.
    ``centroid`` names the scalars: "centroid" (moseq2's, with angle) or "body_centroid" (with
    body_angle)."""
    row0, _, col0, _ = bbox
    found = np.asarray(results.valid, dtype=bool)
    x = np.asarray(results.scalars[f"{centroid}_x_px"][:], dtype=np.float64) + col0
    y = np.asarray(results.scalars[f"{centroid}_y_px"][:], dtype=np.float64) + row0
    angle = "body_angle" if centroid == "body_centroid" else "angle"
    turn = np.asarray(results.scalars[angle][:], dtype=np.float64) - truth.heading
    error = np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])
    axis = np.degrees(np.abs(np.angle(np.exp(2j * turn))) / 2)
    error[~found] = axis[~found] = np.inf
    visible = truth.visible
    return error[visible], axis[visible], ((np.cos(turn) > 0) & found)[visible]


@pytest.fixture(scope="module")
def extracted_sample():
    """Drawn sessions of 150 frames extracted with the defaults (MomentsTracker) and with
    EMTracker on the same arena: per seed, (conditions, moments errors, EM errors, the body
    centroid's errors with the defaults)."""
    out = {}
    for seed in SAMPLE:
        parameters = draw_session_parameters(seed)
        # Rendered as read: the frames draw_session would write, without the disk.
        video = SyntheticDepthExtractor(150, parameters)
        default = SessionExtraction(video)
        results = default.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
        roi = default.arena.roi
        em = SessionExtraction(
            video, roi=ManualROI(roi.mask, true_depth=roi.true_depth), tracker=EMTracker()
        ).run(InMemoryResultsWriter(), progress=False, n_jobs=1)
        out[seed] = (
            parameters.conditions(),
            extraction_errors(results, video.truth, roi.bbox),
            extraction_errors(em, video.truth, roi.bbox),
            extraction_errors(results, video.truth, roi.bbox, "body_centroid"),
        )
    return out


#: A fixed sample small enough for the tests (cameras up to 640x480): mice untethered (1, 2)
#: and tethered (3: a fibre; 9: a slack cable to a commutator), and a rat at 3.9 mm/px (5).
SAMPLE = (1, 2, 3, 9, 5)
MICE = (1, 2, 3, 9)


def test_default_extraction_on_drawn_mice_meets_the_issue_bars(extracted_sample):
    error, heading = (
        np.concatenate([extracted_sample[seed][1][k] for seed in MICE]) for k in (0, 2)
    )
    assert np.median(error) <= 0.3
    assert np.percentile(error, 95, method="higher") <= 1.0
    assert heading.mean() >= 0.99


def test_body_axis_on_drawn_mice_current_level(extracted_sample):
    """Issue 15's bar (body-axis median 0.5 degrees) is just missed on this sample: measured
    0.502 degrees. This asserts the level reached so that a change for the worse shows."""
    axis = np.concatenate([extracted_sample[seed][1][1] for seed in MICE])
    assert np.median(axis) <= 0.55


def test_em_on_drawn_tethered_mice_meets_the_issue_bars(extracted_sample):
    tethered = [seed for seed in MICE if extracted_sample[seed][0]["tether"] != "none"]
    assert tethered == [3, 9]
    for seed in tethered:
        _, moments, em, _ = extracted_sample[seed]
        assert np.median(em[0]) <= 0.5
        assert np.percentile(em[0], 95, method="higher") <= 1.5
        assert np.median(em[0]) - np.median(moments[0]) <= 0.1


def test_rat_at_coarse_pixels_current_level(extracted_sample):
    """Issue 15's bar (median 0.3 px, p95 1 px) is missed on this rat (Azure NFOV binned,
    3.9 mm/px; measured 0.78 / 1.58 px with MomentsTracker, 1.11 / 2.14 px with EMTracker):
    this asserts the level reached so that a change for the worse shows."""
    conditions, moments, em, _ = extracted_sample[5]
    assert conditions["animal"] == "rat"
    assert np.median(moments[0]) < 0.9
    assert np.percentile(moments[0], 95) < 1.8
    assert np.median(em[0]) < 1.3
    assert np.percentile(em[0], 95) < 2.5
    assert np.median(moments[1]) <= 0.5
    assert moments[2].mean() >= 0.99


def test_body_centroid_on_drawn_animals_is_closer_than_moseq2_s(extracted_sample):
    """The body centroid (body_centroid_x_px, _y_px) on the same extractions: the issue's
    bars on the mice, and closer to the truth than moseq2-extract's centroid on every
    session, the rat at 3.9 mm/px included."""
    body = np.concatenate([extracted_sample[seed][3][0] for seed in MICE])
    assert np.median(body) <= 0.3
    assert np.percentile(body, 95, method="higher") <= 1.0
    for seed in SAMPLE:
        moseq2, body = extracted_sample[seed][1][0], extracted_sample[seed][3][0]
        assert np.median(body) < np.median(moseq2), seed



def test_body_angle_on_drawn_mice_meets_the_axis_bar(extracted_sample):
    """The body's axis (body_angle, from the body centroid's pixels) on the same extractions:
    the issue's body-axis bar (median 0.5 degrees) on the mice, which moseq2-extract's angle
    (the trimmed contour's axis) just misses, and the same heading as angle in every frame."""
    axis = np.concatenate([extracted_sample[seed][3][1] for seed in MICE])
    contour_axis = np.concatenate([extracted_sample[seed][1][1] for seed in MICE])
    assert np.median(axis) <= 0.5
    assert np.median(axis) < np.median(contour_axis)
    for seed in SAMPLE:
        np.testing.assert_array_equal(extracted_sample[seed][3][2], extracted_sample[seed][1][2])
