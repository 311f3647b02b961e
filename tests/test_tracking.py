"""MomentsTracker: largest object, moments, orientation sign, axis lengths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthextractors.extraction.tracking import MomentsTracker, largest_component


def _ellipse(centre, axes, angle_y_up_deg, height=30, shape=(200, 200)):
    """A filled ellipse (pixel centres inside it) with its major axis at an angle, y up."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    dx = cols - centre[0]
    dy = centre[1] - rows  # y up
    theta = math.radians(angle_y_up_deg)
    along = dx * math.cos(theta) + dy * math.sin(theta)
    across = -dx * math.sin(theta) + dy * math.cos(theta)
    inside = (along / axes[0]) ** 2 + (across / axes[1]) ** 2 <= 1.0
    return np.where(inside, height, 0).astype(np.uint8)


@pytest.mark.parametrize("angle", [0.0, 30.0, 75.0, -40.0, 89.0])
def test_orientation_is_counter_clockwise_with_y_up(angle):
    found = MomentsTracker().track(_ellipse((100, 100), (30, 12), angle))
    assert found is not None
    error = math.degrees(abs(np.angle(np.exp(2j * (found.orientation - math.radians(angle))))) / 2)
    assert error < 1.0
    assert -math.pi / 2 <= found.orientation <= math.pi / 2


def test_centroid_is_sub_pixel():
    found = MomentsTracker().track(_ellipse((100.3, 80.7), (25, 11), 20))
    assert found.x == pytest.approx(100.3, abs=0.1)
    assert found.y == pytest.approx(80.7, abs=0.1)


def test_axis_lengths_follow_moseq2_definition():
    # For a filled ellipse of semi-axes a, b the variance along a is a²/4, so moseq2's
    # 2*sqrt(2)*sqrt(lambda) ... definition gives 4 * std = 2a (the full axis length). The
    # filled pixel set gives that (body_*); moseq2's polygon through the boundary pixels'
    # centres is half a pixel smaller all round: one pixel shorter along each axis.
    found = MomentsTracker().track(_ellipse((100, 100), (30, 10), 0))
    assert found.body_length == pytest.approx(60, rel=0.03)
    assert found.body_width == pytest.approx(20, rel=0.05)
    assert found.length == pytest.approx(found.body_length - 1, abs=0.3)
    assert found.width == pytest.approx(found.body_width - 1, abs=0.3)
    assert found.area == pytest.approx(math.pi * 30 * 10, rel=0.03)
    assert found.height_mean == pytest.approx(30)


def test_largest_object_wins_and_mask_is_that_object():
    image = _ellipse((60, 60), (25, 10), 0)
    image |= _ellipse((150, 150), (8, 5), 0, height=50)
    found = MomentsTracker().track(image)
    assert found.x == pytest.approx(60, abs=0.2)
    assert found.mask.sum() == pytest.approx(found.area, abs=0)
    x0 = found.mask_origin[0]
    assert x0 < 60 < x0 + found.mask.shape[1]
    assert found.height_mean == pytest.approx(30)


def test_height_limits():
    image = _ellipse((100, 100), (20, 10), 0, height=9)
    assert MomentsTracker(min_height=10).track(image) is None
    # The animal is what lies strictly above min_height, as moseq2-extract's frames > min.
    assert MomentsTracker(min_height=9).track(image) is None
    assert MomentsTracker(min_height=8.5).track(image) is not None
    assert MomentsTracker(min_height=8).track(image) is not None
    # Pixels above max_height are not counted in the area or mean height.
    tall = _ellipse((100, 100), (20, 10), 0, height=30)
    tall[95:105, 95:105] = 200
    found = MomentsTracker(max_height=100).track(tall)
    assert found.height_mean == pytest.approx(30)
    assert found.area < np.count_nonzero(tall)


def test_empty_frame_gives_none():
    assert MomentsTracker().track(np.zeros((50, 50), np.uint8)) is None


def test_largest_contour_wins_also_over_objects_touching_at_a_corner():
    # moseq2-extract 1.4.0 takes the largest contour whatever its use_cc (its connected
    # component of pixels above -30 mm is the whole frame): two squares meeting at a corner
    # are one outer contour, two 4-connected components.
    image = np.zeros((100, 100), np.uint8)
    image[20:50, 20:50] = 30
    image[50:60, 50:60] = 30
    found = MomentsTracker().track(image)
    assert found.area == 30 * 30 + 10 * 10
    component = largest_component((image > 10).astype(np.uint8))
    assert component.sum() == 30 * 30
    by_component = MomentsTracker().measure(component, image)
    assert by_component.area == 30 * 30
    assert by_component.x < found.x


def test_uint16_frames_are_tracked_like_uint8():
    image = _ellipse((70, 90), (25, 10), 40)
    a = MomentsTracker().track(image)
    b = MomentsTracker().track(image.astype(np.uint16))
    assert (a.x, a.y, a.orientation) == pytest.approx((b.x, b.y, b.orientation))


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="min_height"):
        MomentsTracker(min_height=50, max_height=20)
    assert MomentsTracker().get_params()["min_height"] == 10
