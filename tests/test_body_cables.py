"""Thick cables the body centroid takes out: a bundle's stretch too short to reach far out of
the body's wide part before it rises above max_height (hidden) or narrows below the tail
filter's disc (trimmed), without losing the body a cable crosses or the head a rising bundle
leaves from its tip; and a slack bundle's stub lying at the body's height, without losing the
head a bundle leaves."""

import math

import cv2
import numpy as np
import pytest

from depthextractors import MomentsTracker
from depthextractors.extraction import body_cables, body_centroid
from depthextractors.extraction.body_cables import back_height, body_length
from depthextractors.extraction.body_centroid import BodyCentroid
from depthextractors.extraction.box_windows import cable_ridges, high_level
from depthextractors.extraction.filters import FrameFilters

ROWS, COLS = 130, 190
MAX_HEIGHT = 120


def body_heights(axes=(27, 14), centre=(90, 65)):
    """uint16 heights (mm): an elliptic body 30 mm tall with a 1 px rim of 12 mm; and the
    body's pixels (what the median leaves at 10 mm and above)."""
    heights = np.zeros((ROWS, COLS), dtype=np.uint16)
    cv2.ellipse(heights, centre, axes, 0, 0, 360, 12, thickness=cv2.FILLED)
    cv2.ellipse(heights, centre, (axes[0] - 1, axes[1] - 1), 0, 0, 360, 30, thickness=cv2.FILLED)
    return heights, cv2.medianBlur(heights.astype(np.uint8), 3) >= 10


def add_cable(heights, start, direction, length, width_at, height_at):
    """Draw a cable from ``start`` (x, y) along ``direction`` (degrees, y down) over the
    heights, as discs of ``width_at(step)`` px at ``height_at(step)`` mm, step by half a pixel;
    heights above MAX_HEIGHT are hidden (0 in the heights). Returns the hidden pixels."""
    hidden = np.zeros(heights.shape, dtype=np.uint8)
    dx, dy = math.cos(math.radians(direction)), math.sin(math.radians(direction))
    for step in np.arange(0.0, length, 0.5):
        centre = (round(start[0] + step * dx), round(start[1] + step * dy))
        radius = int(width_at(step)) // 2
        value = height_at(step)
        if value > MAX_HEIGHT:
            cv2.circle(hidden, centre, radius, 1, thickness=cv2.FILLED)
        else:
            cv2.circle(heights, centre, radius, int(value), thickness=cv2.FILLED)
    heights[hidden > 0] = 0
    return hidden


def body_with_head(head_at):
    """A narrow body (44 x 18 px) with a head (an ellipse of 18 x 12 px at 25 mm) centred
    ``head_at`` px east of its middle: its heights, its pixels and its length (px)."""
    heights, _ = body_heights(axes=(22, 9))
    cv2.ellipse(heights, (90 + head_at, 65), (9, 6), 0, 0, 360, 25, thickness=cv2.FILLED)
    body = cv2.medianBlur(heights.astype(np.uint8), 3) >= 10
    return heights, body, body_length(body.astype(np.uint8))


def locate(heights, hidden=None, animal_length=None, mask_east_end=None):
    """The body centroid (x, y) with the default filters, and moseq2-extract's centroid; with
    ``mask_east_end``, the tracker's mask holds the object only west of that column (as
    ``EMTracker``'s mask leaves out a cable's base it finds unlikely)."""
    filters = FrameFilters()
    filtered = filters.apply_spatial(heights)
    found = MomentsTracker(10.0, MAX_HEIGHT).track(filtered)
    found.image, found.image_origin = filtered, (0, 0)
    if mask_east_end is not None:
        found.mask = found.mask[:, : max(1, mask_east_end - found.mask_origin[0])].copy()

    def read(y0, y1, x0, x1):
        return heights[y0:y1, x0:x1]

    def hidden_at(y0, y1, x0, x1):
        return hidden[y0:y1, x0:x1]

    x, y, _ = BodyCentroid(filters, 10.0, animal_length).locate(
        found, read, heights.shape, None, None if hidden is None else hidden_at
    )
    return (x, y), (found.x, found.y)


def pixel_centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def distance(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


def test_a_bundle_s_stub_rising_into_hidden_pixels_is_left_out():
    """A bundle (11 px, wider than the tail filter's disc) leaves the body's east end and
    passes max_height 9 px out: too short to reach twice the cable opening's radius out of
    the body's wide part, so only the hidden pixels beyond it tell it is a cable. It lies 1.5
    times as high as the back over the east end, so its pixels there go with it, and what is
    given back of the body under it ends where the cable's edges cross the outline: the tip's
    cap under the bundle is lost (0.43 px west; 0.28 px east, the stub partly kept, while the
    back's height was the bundle's)."""
    heights, body = body_heights()
    hidden = add_cable(
        heights, (107, 65), 0.0, 40, lambda step: 11, lambda step: 45 + 8.5 * max(0, step - 9)
    )
    truth = pixel_centroid(body)
    found, moseq2 = locate(heights, hidden)
    assert distance(found, truth) < 0.45
    # Without knowing the hidden pixels, the stub stays and pulls the centroid east.
    assert distance(locate(heights)[0], truth) > 1.0
    assert distance(moseq2, truth) > 0.5


def test_a_bundle_s_stub_narrowing_beyond_the_tail_filter_s_disc_is_left_out():
    """The same bundle narrows to 5 px 4 px out of the body (a sleeve's end) and rises on:
    the tail filter trims the narrow stretch, which rises above the body's tallest pixel,
    and the stub beside it is taken out; the stub alone is too short to tell."""
    heights, body = body_heights()
    add_cable(
        heights,
        (107, 65),
        0.0,
        40,
        lambda step: 11 if step < 14 else 5,
        lambda step: min(45 + 4.0 * max(0, step - 9), MAX_HEIGHT),
    )
    truth = pixel_centroid(body)
    found, moseq2 = locate(heights, np.zeros_like(heights, dtype=np.uint8))
    assert distance(found, truth) < 0.5
    assert distance(moseq2, truth) > 1.0


def no_ridges(heights, body):
    return np.zeros(body.shape, dtype=bool)


@pytest.mark.parametrize("width", [7, 9])
@pytest.mark.parametrize("on_back", [45, 70])
def test_a_bundle_lying_along_the_back_before_it_leaves_is_left_out(on_back, width, monkeypatch):
    """A bundle lies along the back (``on_back`` mm over a 30 mm back) from its middle to the
    east end and on, as high, for 4 px beyond it, then rises above max_height: it covers a
    sixth of the body, so the tallest twentieth of the body is the bundle, and the stub
    beyond the end passes for no taller than the back unless the back's height leaves it
    out."""
    heights, body = body_heights()
    end = 117

    def height_at(step):
        return on_back + 12.0 * max(0.0, 80 + step - end - 4)

    hidden = add_cable(heights, (80, 65), 0.0, 70, lambda step: width, height_at)
    truth = pixel_centroid(body)
    found = locate(heights, hidden)[0]
    assert distance(found, truth) < 0.35
    # Without either of the back height's rules (the bundle 70 mm high is a ridge too).
    monkeypatch.setattr(body_cables, "BACK_MEDIAN_SHARE", math.inf)
    monkeypatch.setattr(body_cables, "cable_ridges", no_ridges)
    assert distance(locate(heights, hidden)[0], truth) > distance(found, truth) + 0.15


def test_the_back_s_height_leaves_out_a_bundle_lying_over_it():
    """Over a body alone the back's height is the 95th percentile of its heights; with a
    bundle 45 mm tall over a fifth of it, the 95th percentile is the bundle's and the back's
    height stays the body's."""
    heights, body = body_heights()
    pixels = body.astype(np.uint8)
    assert back_height(heights, pixels) == high_level(heights, pixels) == 30
    heights[60:71, 70:118][heights[60:71, 70:118] > 0] = 45
    assert high_level(heights, pixels) == 45
    assert back_height(heights, pixels) == 30
    # A body mostly hidden (no heights) keeps the plain 95th percentile.
    heights[:, :95] = 0
    assert back_height(heights, pixels) == high_level(heights, pixels) == 45


def round_body(scale):
    """float32 heights (mm) of a half-ellipsoid body 30 mm high, 54 x 28 px times ``scale``,
    in a window with a margin of 10 px times ``scale``."""
    half_length, half_width, margin = 27 * scale, 14 * scale, 10 * scale
    rows, cols = np.mgrid[: 2 * (half_width + margin), : 2 * (half_length + margin)]
    inside = 1.0 - ((cols - half_length - margin) / half_length) ** 2
    inside -= ((rows - half_width - margin) / half_width) ** 2
    return (30.0 * np.sqrt(np.clip(inside, 0.0, None))).astype(np.float32)


@pytest.mark.parametrize("scale", [1, 3])
def test_a_bundle_lying_along_a_round_back_is_a_ridge(scale):
    """A round back 30 mm high under a bundle 55 mm high, 8 px wide (times ``scale``: a rat at
    fine pixels is looked at every few pixels) from the body's middle to past its east end:
    the bundle's pixels over the body are a ridge, the body's away from it are not, and the
    back's height is what it is without the bundle (the body's 95th percentile is the
    bundle's)."""
    alone = round_body(scale)
    body = (alone >= 10).astype(np.uint8)
    assert not cable_ridges(alone, body).any()
    heights = alone.copy()
    rows, cols = heights.shape
    bundle = np.zeros(heights.shape, dtype=bool)
    bundle[rows // 2 - 4 * scale : rows // 2 + 4 * scale, cols // 2 :] = True
    heights[bundle] = 55.0
    with_bundle = np.maximum(body, bundle.view(np.uint8))
    ridges = cable_ridges(heights, with_bundle)
    over_body = bundle & (body > 0)
    # The ridge is found on every few pixels at the coarser scale: it may take in the body's
    # pixels beside the bundle, never any farther.
    beside = cv2.dilate(bundle.view(np.uint8), np.ones((8 * scale + 1,) * 2, np.uint8)) > 0
    assert not (ridges & ~beside).any()
    assert np.count_nonzero(ridges & ~bundle) <= 0.2 * np.count_nonzero(ridges)
    assert np.count_nonzero(ridges & over_body) >= 0.8 * np.count_nonzero(over_body)
    assert back_height(heights, with_bundle) == pytest.approx(back_height(alone, body), abs=1.0)
    assert high_level(heights, with_bundle) == 55.0


def test_a_body_every_sampled_pixel_misses_has_no_ridge():
    """A large body is looked at every n-th pixel; a thin diagonal line of 800 pixels lies
    wholly between the pixels looked at, and has no ridge (rather than no median)."""
    heights = np.zeros((802, 802), dtype=np.uint8)
    line = np.arange(0, 800, 2)
    heights[line, line] = heights[line, line + 2] = 40
    body = heights > 0
    assert np.count_nonzero(body) == 800
    assert not cable_ridges(heights, body).any()


def test_a_tail_left_out_is_no_cable():
    """A tail (3 px, 15 mm) the tail filter trims is left out, but lies lower than the body:
    nothing beside it is taken for a cable's stub."""
    heights, _ = body_heights()
    heights[64:67, 20:63] = 15
    without_tail = heights.copy()
    without_tail[64:67, 20:63] = 0
    found, _ = locate(heights, np.zeros_like(heights, dtype=np.uint8))
    assert distance(found, locate(without_tail)[0]) < 0.1


def test_a_bundle_rising_from_over_the_body_keeps_the_body_beyond():
    """A bundle rises from the middle of the back to the north and passes max_height over the
    body: its visible stretch (taller than the back) and the hidden pixels cross the body, the
    tracker keeps one side, and what the stub covers is body underneath: taking the stub out
    loses none of it."""
    heights, body = body_heights()
    hidden = add_cable(heights, (95, 72), -90.0, 60, lambda step: 11, lambda step: 40 + 12.0 * step)
    truth = pixel_centroid(body)
    found, _ = locate(heights, hidden)
    assert distance(found, truth) < 0.5


def _level(step):
    return 28


def _rising_from_13_px(step):
    return 28 + 5 * max(0, step - 13)


@pytest.mark.parametrize(
    ("height_at", "direction"), [(_level, 90.0), (_level, 110.0), (_rising_from_13_px, 90.0)]
)
@pytest.mark.parametrize("along", [8, 14, 18])
def test_a_slack_bundle_s_stub_at_the_body_s_height_is_cut_off(along, height_at, direction):
    """A bundle 7 px wide (narrower than the tail filter's disc, about a third of the body's
    width) hangs from the back over a flank, ``along`` px behind the middle, and lies on as
    high as the body (28 mm), or does so for 13 px and then rises 5 mm a pixel towards its
    anchor (what the tail filter trimmed beyond the stub is then up to 1.9 times as tall as
    the back's 30 mm): the tail filter trims it beyond a stub, which no height tells from the
    body. Given the animal's length, the stub is cut off; without it, nothing."""
    heights, body = body_heights(axes=(22, 9))
    length = body_length(body.astype(np.uint8))
    add_cable(heights, (90 + along, 65), direction, 45, lambda step: 7, height_at)
    truth = pixel_centroid(body)
    none = np.zeros(heights.shape, dtype=np.uint8)
    before = distance(locate(heights, none)[0], truth)
    after = distance(locate(heights, none, length)[0], truth)
    assert after < 0.4
    assert after < before - 0.08


def test_a_bundle_rising_steeply_beyond_a_narrow_part_is_no_low_stub():
    """Rising 12 mm a pixel from 13 px out, what the tail filter trimmed beyond the narrow
    part is on average more than twice the back's height (``body_cables.STUB_HEIGHT_SHARES``):
    most often a taut cable leaving the head, so the narrow part beside it is not cut as a
    stub."""
    heights, body = body_heights(axes=(22, 9))
    length = body_length(body.astype(np.uint8))
    add_cable(
        heights,
        (98, 65),
        90.0,
        45,
        lambda step: 7,
        lambda step: min(115, 28 + 12 * max(0, step - 13)),
    )
    none = np.zeros(heights.shape, dtype=np.uint8)
    assert distance(locate(heights, none, length)[0], locate(heights, none)[0]) < 0.01


@pytest.mark.parametrize(("head_at", "direction"), [(20, -20.0), (22, 0.0), (24, 0.0)])
def test_a_bundle_leaving_the_head_at_its_height_keeps_the_head(head_at, direction):
    """The same bundle leaves the tip of a head (an ellipse of 18 x 12 px at 25 mm) at the
    head's height: the head is the narrow part beside it, and the body without it would be
    shorter than the animal, so it stays; were the animal half as long, it would go."""
    heights, body, length = body_with_head(head_at)
    add_cable(heights, (96 + head_at, 65), direction, 45, lambda step: 7, lambda step: 24)
    truth = pixel_centroid(body)
    none = np.zeros(heights.shape, dtype=np.uint8)
    kept = locate(heights, none, length)[0]
    assert distance(kept, locate(heights, none)[0]) < 0.01
    assert distance(kept, truth) < 0.6
    assert distance(locate(heights, none, 0.5 * length)[0], truth) > 2.0


@pytest.mark.parametrize("rise", [4.0, 6.0])
@pytest.mark.parametrize(("head_at", "direction"), [(20, -20.0), (22, 0.0), (24, 0.0)])
def test_a_bundle_rising_from_the_head_s_tip_keeps_the_head(head_at, direction, rise):
    """The same head, and the bundle leaving its tip rising ``rise`` mm a pixel to its anchor:
    the narrow part holding the head and the bundle reaches far out of the body and is mostly
    taller out there than the back, a cable. It is cut from its first pixel that tall
    outwards, so the head nearer the body stays (taking the whole narrow part out lost the
    head: 1.8 and 2.7 px off for the first two heads)."""
    heights, body, length = body_with_head(head_at)
    add_cable(
        heights,
        (96 + head_at, 65),
        direction,
        45,
        lambda step: 7,
        lambda step: min(115, 24 + rise * step),
    )
    truth = pixel_centroid(body)
    none = np.zeros(heights.shape, dtype=np.uint8)
    assert distance(locate(heights, none, length)[0], truth) < 0.6


def test_the_extraction_gives_the_body_centroid_the_animal_s_measured_length(tmp_path):
    """The session's body centroid gets the length the arena step measured of the animal."""
    from depthextractors import open_depth_video
    from depthextractors.config import ExtractionConfig
    from depthextractors.extraction.frame_stages import BodyCentroidStage
    from depthextractors.extraction.heights import ArenaHeights
    from depthextractors.testing import generate_synthetic_session

    session = generate_synthetic_session(tmp_path, 60, seed=3)
    extraction = ExtractionConfig().build_extraction(open_depth_video(session.directory))
    arena = extraction.find_roi()
    converter = ArenaHeights(arena.background, arena.roi.mask, 10.0, MAX_HEIGHT)
    stages = extraction.frame_stages(converter, None)
    (stage,) = [stage for stage in stages if isinstance(stage, BodyCentroidStage)]
    assert arena.animal is not None
    assert stage.locator.animal_length == pytest.approx(arena.animal.length_px)
    assert 20 < stage.locator.animal_length < 80


@pytest.mark.parametrize(("low", "rise"), [(20, 3), (30, 3), (40, 3), (30, 6), (40, 10)])
def test_a_bundle_lying_low_before_it_rises_is_cut_whole(low, rise, monkeypatch):
    """A bundle 11 px wide (it passes the tail filter) leaves the body's east end and lies as
    high as the body (28 mm) for ``low`` px, then rises ``rise`` mm a pixel (above max_height
    it is hidden). Out there it reaches farther from the body's wide part than a body's end
    does (``body_cables.BODY_END_REACH_SHARE`` of the animal's length) and holds tall pixels:
    a cable, mostly taller than the back or not, and its first tall pixel lies beyond a body's
    end too, so it goes whole. Without that share, its low stretch stayed, 5-16 px off."""
    heights, body = body_heights()
    length = body_length(body.astype(np.uint8))
    add_cable(
        heights, (115, 65), 0.0, 70, lambda step: 11, lambda step: 28 + rise * max(0, step - low)
    )
    truth = pixel_centroid(body)
    none = np.zeros(heights.shape, dtype=np.uint8)
    assert distance(locate(heights, none, length)[0], truth) < 0.5
    monkeypatch.setattr(body_cables, "BODY_END_REACH_SHARE", 100.0)
    assert distance(locate(heights, none, length)[0], truth) > 4.0


@pytest.mark.parametrize(("front", "cable_end"), [(40, 110), (40, 125), (36, 120), (44, 130)])
def test_a_long_narrow_front_holding_a_cable_near_the_rump_stays(front, cable_end):
    """A rat-like body: a rump 32 px wide and a front half 16 px wide and ``2 * front`` px long,
    narrower than the cable opening's disc, so the whole front is one narrow part reaching
    farther out of the wide part than a body's end does (with its low snout). A bundle lies
    along the back (45 mm, over the 30 mm back) from the rump into the front as far as column
    ``cable_end``: the front holds tall pixels far out of the wide part, but none farther than
    a body's end, and too few for a cable by their share. The front stays; when any two tall
    pixels made such a part a cable, it was cut whole, 18-22 px off."""
    heights = np.zeros((ROWS, COLS), dtype=np.uint16)
    for centre, axes, height in (((70, 65), (25, 16), 30), ((95 + front // 2, 65), (front, 8), 28)):
        cv2.ellipse(heights, centre, axes, 0, 0, 360, 12, thickness=cv2.FILLED)
        inner = (axes[0] - 1, axes[1] - 1)
        cv2.ellipse(heights, centre, inner, 0, 0, 360, height, thickness=cv2.FILLED)
    body = cv2.medianBlur(heights.astype(np.uint8), 3) >= 10
    length = body_length(body.astype(np.uint8))
    along = heights[63:68, 75:cable_end]
    along[along > 0] = 45
    none = np.zeros(heights.shape, dtype=np.uint8)
    assert distance(locate(heights, none, length)[0], pixel_centroid(body)) < 0.3


@pytest.mark.parametrize(("low", "rise"), [(40, 3), (40, 6), (20, 6), (10, 3)])
def test_the_body_centroid_does_not_follow_how_much_of_the_object_the_mask_holds(
    low, rise, monkeypatch
):
    """The same bundle lying low for ``low`` px and rising ``rise`` mm a pixel: whether the
    tracker's mask ends at the body's east end or holds part of the bundle, the object is
    flooded again wherever it reaches the edge of the pixels examined, and the body centroid
    is that of the whole mask (within 0.7 px). Flooded once, a bundle lying low for 20 px then
    rising was cut short at the window's edge, and the body centroid moved 4.8 px."""
    heights, body = body_heights()
    length = body_length(body.astype(np.uint8))
    add_cable(
        heights, (115, 65), 0.0, 70, lambda step: 11, lambda step: 28 + rise * max(0, step - low)
    )
    none = np.zeros(heights.shape, dtype=np.uint8)
    whole = locate(heights, none, length)[0]
    for east_end in (110, 118, 125, 135, 145):
        assert distance(locate(heights, none, length, east_end)[0], whole) < 0.7
    if (low, rise) == (20, 6):
        monkeypatch.setattr(body_centroid, "FLOOD_ROUNDS", 0)
        assert distance(locate(heights, none, length, 118)[0], whole) > 4.0
