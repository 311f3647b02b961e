"""A wide part standing over the animal within the height range (a hand over a rat, whose
max_height is set for rearing) is hidden depth for the body centroid, not body (issue 15)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthextractors import SessionExtraction, open_depth_video
from depthextractors.config import ExtractionConfig
from depthextractors.extraction.animal_size import size_changes
from depthextractors.extraction.body_occluders import occluders
from depthextractors.io import InMemoryResultsWriter
from depthextractors.testing import MouseShape
from depthextractors.testing.variety import SessionParameters


def _rat(rise_to=None):
    """A 90 x 40 px body 50 mm tall, its front rising smoothly to ``rise_to`` mm (rearing)."""
    body = np.zeros((70, 120), np.uint8)
    cv2.ellipse(body, (60, 35), (45, 20), 0, 0, 360, 1, -1)
    heights = np.where(body > 0, 50.0, 0.0).astype(np.float32)
    if rise_to is not None:
        cols = np.arange(120, dtype=np.float32)
        # From the middle to the head (column 105) the body rises linearly.
        rise = np.clip((cols - 60) / 45, 0, 1) * (rise_to - 50)
        heights = np.where(body > 0, heights + rise[None, :], 0).astype(np.float32)
    return body, heights


def _half_width(body):
    return float(cv2.distanceTransform(body, cv2.DIST_L2, 5).max())


def test_a_hand_hovering_over_the_body_is_found_and_nothing_else():
    body, heights = _rat()
    hand = np.zeros_like(body)
    cv2.ellipse(hand, (85, 30), (20, 12), 0, 0, 360, 1, -1)
    # The hand joins the object where it hovers past the body's outline too.
    body = cv2.bitwise_or(body, hand)
    heights[hand > 0] = 190.0
    # At 1.2 mm a pixel a hand holds a disc of 10 px.
    found = occluders(heights, body, _half_width(body), 10.0)
    assert found is not None
    np.testing.assert_array_equal(found, hand)


@pytest.mark.parametrize("rise_to", [None, 150.0, 230.0])
def test_a_body_rising_without_a_break_has_nothing_over_it(rise_to):
    # A rearing rat: its head four times as tall as its back, reached without a step.
    body, heights = _rat(rise_to)
    assert occluders(heights, body, _half_width(body), 10.0) is None


def test_a_cable_hovering_over_the_back_is_too_narrow_to_be_a_hand():
    body, heights = _rat()
    cable = np.zeros_like(body)
    cv2.line(cable, (20, 35), (110, 30), 1, 3)
    body = cv2.bitwise_or(body, cable)
    heights[cable > 0] = 160.0
    assert occluders(heights, body, _half_width(body), 10.0) is None


def test_a_bundle_as_wide_as_half_a_small_body_is_no_hand():
    # Over a small mouse (half-width 10 px) a bundle about 11 mm thick at 1.2 mm a pixel
    # holds a disc of 6 px, over half the body's half-width, standing 3 times as tall as the
    # back; a hand holds one of 10.
    body = np.zeros((40, 70), np.uint8)
    cv2.ellipse(body, (30, 20), (22, 9), 0, 0, 360, 1, -1)
    heights = np.where(body > 0, 25.0, 0.0).astype(np.float32)
    bundle = np.zeros_like(body)
    cv2.line(bundle, (38, 19), (60, 15), 1, 9)
    body = cv2.bitwise_or(body, bundle)
    heights[bundle > 0] = 75.0
    half_width = _half_width(body)
    assert cv2.distanceTransform(bundle, cv2.DIST_L2, 5).max() >= 0.5 * half_width
    assert occluders(heights, body, half_width, 12.0 / 1.2) is None
    # Were a hand's width not asked for, it would be taken for one.
    assert occluders(heights, body, half_width, 0.0) is not None


@pytest.mark.parametrize("seed", [61, 62])
def test_a_hand_over_a_rat_no_longer_pulls_its_body_centroid(tmp_path, seed):
    # A hand 190 mm over the floor reaches in over a rat for 40 frames; with animal: auto the
    # rat's max_height is 255 mm, so the hand is in the height range. (Seeds chosen for this
    # test, not those the rule was developed on: drawn seeds 3124 and 3153. On these two the
    # code before took the hand for body: in the hand's frames p95 15.3 and 9.7 px.)
    parameters = SessionParameters(
        camera="kinect_v2",
        floor_depth_mm=1000.0,
        mouse=MouseShape.rat(0.8),
        hand_frames=40,
        arena_size_mm=700.0,
        seed=seed,
    )
    session = parameters.generate(tmp_path / "session", 120)
    video = open_depth_video(session.directory)
    arena = SessionExtraction(video).find_roi()
    extraction = ExtractionConfig(
        **size_changes(ExtractionConfig(), arena.animal)
    ).build_extraction(video)
    extraction.arena = arena
    assert extraction.tracker.max_height > 190
    results = extraction.run(InMemoryResultsWriter(), progress=False)
    row0, _, col0, _ = arena.roi.bbox
    truth = session.truth
    error = np.hypot(
        np.asarray(results.scalars["body_centroid_x_px"]) + col0 - truth.centroid_px[:, 0],
        np.asarray(results.scalars["body_centroid_y_px"]) + row0 - truth.centroid_px[:, 1],
    )
    hand = truth.hand_present & truth.visible
    assert hand.sum() >= 20
    assert np.median(error[hand]) < 0.5
    assert np.percentile(error[hand], 95) < 0.1 * arena.animal.length_px
