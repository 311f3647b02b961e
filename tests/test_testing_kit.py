"""The synthetic session generator and its ground truth."""

import hashlib
import json
import pickle

import cv2
import numpy as np
import pytest

from depthextractors import CAMERA_PRESETS, RawDepthExtractor
from depthextractors.testing import (
    MouseShape,
    SessionParameters,
    SyntheticDepthExtractor,
    check_depth_extractor,
    generate_synthetic_session,
    synthesize_depth_video,
)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = generate_synthetic_session(tmp_path / "a", 30, seed=5)
    second = generate_synthetic_session(tmp_path / "b", 30, seed=5)
    third = generate_synthetic_session(tmp_path / "c", 30, seed=6)
    assert digest(first.depth_path) == digest(second.depth_path)
    assert digest(first.depth_path) != digest(third.depth_path)
    assert not (tmp_path / "a" / "depth.dat.partial").exists()


def test_lazy_extractor_reads_the_frames_the_generator_writes(tmp_path):
    parameters = SessionParameters(camera="azure_nfov_binned", seed=9, dropped_frames=4)
    written = generate_synthetic_session(tmp_path, 620, **parameters.arguments())
    raw = RawDepthExtractor(written.depth_path)
    lazy = SyntheticDepthExtractor(620, parameters)
    # Reads across the generator's 500-frame blocks, random ones in any order, the last frame.
    for start, end in [(0, 620), (480, 560), (499, 501), (619, 620)]:
        assert np.array_equal(lazy.get_video(start, end), raw.get_video(start, end))
    indices = [619, 3, 3, 540, 10, 500]
    assert np.array_equal(lazy.get_frames(indices), raw.get_frames(indices))
    np.testing.assert_allclose(lazy.get_timestamps(), raw.get_timestamps())
    assert np.diff(lazy.get_timestamps()).max() > 1.5 / 30  # the dropped frames' gaps
    assert lazy.get_metadata() == raw.get_metadata()
    assert lazy.camera.name == "azure_nfov_binned"
    np.testing.assert_array_equal(lazy.truth.centroid_px, written.truth.centroid_px)
    copy = pickle.loads(pickle.dumps(lazy))
    assert np.array_equal(copy.get_video(495, 505), raw.get_video(495, 505))
    # Small blocks, so the conformance check's reads cross many of them.
    check_depth_extractor(SyntheticDepthExtractor(90, parameters, chunk_size=40))
    # A block of another size draws other noise: the same scene, not the same bytes.
    other = SyntheticDepthExtractor(620, parameters, chunk_size=300).get_video(0, 10)
    assert not np.array_equal(other, raw.get_video(0, 10))
    for bad in (0, 1.5, True):
        with pytest.raises((TypeError, ValueError), match="num_frames"):
            SyntheticDepthExtractor(bad)


def test_session_files_are_moseq_shaped(synthetic_kinect_session):
    directory = synthetic_kinect_session.directory
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["DepthResolution"] == [512, 424]
    lines = (directory / "depth_ts.txt").read_text().splitlines()
    assert len(lines) == 120
    assert len(lines[0].split()) == 2
    assert (directory / "depth.dat").stat().st_size == 120 * 424 * 512 * 2


def measured_body(height_image, threshold):
    mask = (height_image > threshold).astype(np.uint8)
    # The tail is thin: an opening removes it, as extraction does.
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    )
    moments = cv2.moments(mask, binaryImage=True)
    centroid = np.array([moments["m10"], moments["m01"]]) / moments["m00"]
    orientation = -0.5 * np.arctan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"])
    return centroid, orientation, moments["m00"]


@pytest.mark.parametrize("arena", ["round", "square"])
def test_ground_truth_matches_noise_free_rendering(arena):
    video, truth = synthesize_depth_video(
        60, arena=arena, noise_mm=0.0, dropout_fraction=0.0, seed=11
    )
    heights = truth.floor_depth_mm[None] - video.astype(np.float32)
    centroid_errors, angle_errors = [], []
    for index in range(0, 60, 3):
        height = np.where(truth.arena_mask, heights[index], 0)
        centroid, orientation, area = measured_body(height, MouseShape().threshold_mm)
        centroid_errors.append(np.hypot(*(centroid - truth.centroid_px[index])))
        difference = (orientation - truth.heading[index]) % np.pi
        angle_errors.append(min(difference, np.pi - difference))
        assert area == pytest.approx(truth.area_px[index], rel=0.08)
    assert np.median(centroid_errors) < 0.15
    assert np.max(centroid_errors) < 0.4
    assert np.degrees(np.median(angle_errors)) < 0.5


def test_heading_points_where_the_mouse_walks():
    _, truth = synthesize_depth_video(400, seed=2)
    step = np.diff(truth.centroid_px, axis=0)
    moving = truth.moving[1:] & (np.hypot(*step.T) > 1.0)
    walk_angle = np.arctan2(-step[moving, 1], step[moving, 0])  # y up
    difference = np.angle(np.exp(1j * (walk_angle - truth.heading[1:][moving])))
    assert moving.sum() > 50
    assert np.mean(np.abs(difference) < np.pi / 4) > 0.95


def test_the_rear_is_taller_and_wider_than_the_head():
    shape = MouseShape()
    along = np.linspace(-25, 25, 11)
    assert (
        shape.body_height(np.array([-15.0]), np.array([0.0]))[0]
        > shape.body_height(np.array([15.0]), np.array([0.0]))[0]
    )
    rear_width = np.sum(shape.body_height(np.full(200, -10.0), np.linspace(-20, 20, 200)) > 0)
    head_width = np.sum(shape.body_height(np.full(200, 10.0), np.linspace(-20, 20, 200)) > 0)
    assert rear_width > head_width
    assert np.all(shape.tail_height(along - 60, np.zeros(11))[along - 60 < -32] >= 0)


def test_mouse_stays_in_arena_and_pauses():
    _, truth = synthesize_depth_video(900, arena="square", seed=4)
    rows = np.round(truth.centroid_px[:, 1]).astype(int)
    cols = np.round(truth.centroid_px[:, 0]).astype(int)
    assert truth.arena_mask[rows, cols].all()
    assert 0.1 < np.mean(~truth.moving) < 0.7
    assert np.ptp(truth.centroid_px[:, 0]) > 60


def test_dropped_frames_show_as_timestamp_gaps(tmp_path):
    session = generate_synthetic_session(tmp_path, 200, dropped_frames=6, seed=9)
    intervals = np.diff(RawDepthExtractor(session.depth_path).get_timestamps())
    gaps = np.flatnonzero(intervals > 1.5 / 30)
    np.testing.assert_array_equal(gaps, session.truth.dropped_after)
    assert 1 <= gaps.size <= 6
    assert intervals[gaps].sum() == pytest.approx((gaps.size + 6) / 30, abs=0.01)


def test_noise_dropouts_and_tilt():
    video, truth = synthesize_depth_video(
        20, noise_mm=2.0, dropout_fraction=0.01, floor_tilt_deg=(3.0, 0.0), seed=1
    )
    floor = truth.arena_mask & (video[0] > 0)
    residual = video[0][floor].astype(float) - truth.floor_depth_mm[floor]
    assert 1.5 < np.std(residual[np.abs(residual) < 20]) < 2.6
    zero_fraction = np.mean(video[:, truth.arena_mask] == 0)
    assert 0.005 < zero_fraction < 0.02
    row = truth.floor_depth_mm[212]
    assert row[400] - row[100] == pytest.approx(
        300 * np.tan(np.radians(3.0)) * truth.mm_per_px, rel=1e-3
    )


@pytest.mark.parametrize("camera", ["azure_nfov_unbinned", "realsense_d435_640x480"])
def test_other_cameras(camera):
    video, truth = synthesize_depth_video(5, camera=camera, seed=0)
    assert video.shape[1:] == CAMERA_PRESETS[camera].image_size
    assert truth.arena_mask.shape == video.shape[1:]


@pytest.mark.parametrize("camera", sorted(CAMERA_PRESETS))
def test_a_written_session_reads_back_as_the_camera_it_was_made_with(tmp_path, camera):
    """Several presets share a frame size (the RealSense D415's and D435's, whose fields of
    view differ 1.5x); the camera recorded in metadata.json says which, so pixel sizes (and
    the animal's measured size) come out right."""
    session = generate_synthetic_session(tmp_path, 2, camera=camera, seed=0)
    extractor = RawDepthExtractor(session.depth_path)
    assert extractor.camera.name == camera
    assert extractor.camera.mm_per_pixel(700.0) == pytest.approx(
        CAMERA_PRESETS[camera].mm_per_pixel(700.0)
    )


def test_generator_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="arena"):
        synthesize_depth_video(5, arena="hexagon")
    with pytest.raises(ValueError, match="dropped_frames"):
        synthesize_depth_video(8, dropped_frames=5)
    with pytest.raises(ValueError, match="num_frames"):
        synthesize_depth_video(0)


def test_tether_runs_from_the_back_out_of_the_arena_and_sways():
    from depthextractors.testing import Tether

    video, truth = synthesize_depth_video(240, tether=Tether(), seed=3)
    _, untethered = synthesize_depth_video(240, seed=3)
    np.testing.assert_allclose(truth.centroid_px, untethered.centroid_px)
    starts, anchors = truth.tether_segments[:, 0], truth.tether_segments[:, 1]
    assert np.all(np.hypot(*(starts - truth.centroid_px).T) < 10)
    rows, cols = np.round(anchors[:, 1]).astype(int), np.round(anchors[:, 0]).astype(int)
    inside = (rows >= 0) & (rows < 424) & (cols >= 0) & (cols < 512)
    assert not truth.arena_mask[rows[inside], cols[inside]].any()
    swing = np.degrees(np.ptp(np.unwrap(np.arctan2(anchors[:, 1] - 211.5, anchors[:, 0] - 255.5))))
    assert swing > 20
    # The cable is raised above the floor along its whole length.
    cable = truth.tether_mask(10) & truth.arena_mask & (video[10] > 0)
    heights = truth.floor_depth_mm[cable] - video[10][cable]
    assert cable.sum() > 100
    assert np.median(heights) > 50


def test_hand_hides_the_animal_for_a_few_frames():
    video, truth = synthesize_depth_video(200, hand_frames=20, seed=8)
    assert truth.hand_present.sum() == 20
    hidden = ~truth.visible
    assert 0 < hidden.sum() <= 20
    assert np.all(truth.hand_present[hidden])
    index = np.flatnonzero(hidden)[0]
    x, y = np.round(truth.centroid_px[index]).astype(int)
    assert truth.floor_depth_mm[y, x] - video[index, y, x] > 150  # the hand, far above the mouse
    with pytest.raises(ValueError, match="hand_frames"):
        synthesize_depth_video(20, hand_frames=15)
