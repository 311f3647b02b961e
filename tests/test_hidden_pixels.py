"""Pixels whose depth hides the animal (an invalid code, or taller than max_height: an invalid
patch, a hand or a cable over it) are 0 in the heights, like the floor; the body centroid joins
the parts of the body they cut off and gives them to the body when they lie nearer it than
anything seen, on every path of the extraction."""

import math

import cv2
import numpy as np
import pytest

from depthextractors import MomentsTracker
from depthextractors.extraction.body_cables import body_length
from depthextractors.extraction.body_centroid import BodyCentroid
from depthextractors.extraction.filters import FrameFilters
from depthextractors.extraction.heights import ArenaHeights, HiddenPixels

ROWS, COLS = 120, 170
CENTRE = (85, 60)
AXES = (26, 13)


def body_heights():
    """uint8 heights (mm): an elliptic body 30 mm tall (52 x 26 px); and its pixels."""
    heights = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.ellipse(heights, CENTRE, AXES, 0, 0, 360, 30, thickness=cv2.FILLED)
    return heights, heights > 0


def pixel_centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def locate(heights, hidden_mask=None, animal_length=None, mm_per_px=None, back_height=None):
    """The body centroid of ``heights`` (tracked with the default filters), with
    ``hidden_mask`` (bool, whole box) as the hidden pixels, and ``animal_length`` (px),
    ``mm_per_px`` and ``back_height`` (mm) as the animal's measured length, pixel size and
    back height when given."""
    filters = FrameFilters()
    filtered = filters.apply_spatial(heights)
    found = MomentsTracker(10.0, 120).track(filtered)
    found.image, found.image_origin = filtered, (0, 0)

    def read(y0, y1, x0, x1):
        return heights[y0:y1, x0:x1]

    hidden = None
    if hidden_mask is not None:

        def hidden(y0, y1, x0, x1):
            return hidden_mask[y0:y1, x0:x1].astype(np.uint8)

    centroid = BodyCentroid(filters, 10.0, animal_length, mm_per_px, back_height)
    return centroid.locate(found, read, heights.shape, None, hidden)[:2]


def distance(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


def hide(heights, mask):
    covered = heights.copy()
    covered[mask] = 0
    return covered


def test_a_patch_over_the_rear_of_the_body_is_given_back():
    """A hand or an invalid patch over the rear third: without the hidden pixels the centroid
    moves forward by several pixels; with them it is back within a fraction of a pixel."""
    heights, body = body_heights()
    truth = pixel_centroid(body)
    hidden = np.zeros_like(body)
    hidden[30:95, 40:76] = True  # over the west end and well past it
    covered = hide(heights, hidden)
    without = locate(covered)
    assert distance(without, truth) > 4.0
    assert distance(locate(covered, hidden), truth) < 0.5


def test_a_hand_past_the_body_end_gives_no_more_body_than_the_animal_is_long():
    """A hand hiding the body's west tip and the floor far past it: nearness gives the body
    the hidden pixels up to its half-width past its seen end, 4 px of centroid too far west;
    with the animal's measured length, nothing past that length from the east end."""
    heights, body = body_heights()
    truth = pixel_centroid(body)
    hidden = np.zeros_like(body)
    hidden[20:100, 20:62] = True
    covered = hide(heights, hidden)
    assert distance(locate(covered, hidden), truth) > 3.0
    length = body_length(body.view(np.uint8))
    # At 1 mm a pixel the hidden region (42 px wide) holds a hand's disc (12 mm).
    assert distance(locate(covered, hidden, length, 1.0), truth) < 0.6
    # At 0.25 mm a pixel it is 10.5 mm wide, a cable's width: nothing is taken back.
    assert distance(locate(covered, hidden, length, 0.25), truth) > 3.0


def test_a_hole_in_the_body_is_filled():
    """An invalid patch inside the body (farther from its outline than the tail filter's
    disc, which would trim the thin rim beside it) is filled: the centroid is the whole
    body's."""
    heights, body = body_heights()
    hidden = np.zeros_like(body)
    cv2.circle(hidden.view(np.uint8), (92, 62), 4, 1, thickness=cv2.FILLED)
    covered = hide(heights, hidden)
    whole = locate(heights)
    assert distance(locate(covered), whole) > 0.2
    assert locate(covered, hidden) == pytest.approx(whole, abs=1e-9)


def test_hidden_pixels_away_from_the_body_add_nothing():
    """A hand beside the animal (two pixels of floor between them) and an invalid patch
    across the arena: the floor seen between is nearer, so nothing is added."""
    heights, body = body_heights()
    hidden = np.zeros_like(body)
    hidden[10:110, 114:150] = True  # the body ends at column 111
    hidden[5:20, 5:30] = True
    assert locate(heights, hidden) == pytest.approx(locate(heights), abs=1e-9)


def test_a_cable_leaving_the_body_adds_no_more_than_its_base():
    """A cable above max_height (hidden) from the body's flank to the arena's edge: only the
    pixels nearer the body than the floor on either side of the cable are added, a stub no
    longer than the cable's half width, not the cable."""
    heights, body = body_heights()
    cable = np.zeros_like(body)
    cable[:47, 83:88] = True  # 5 px wide, north from the body's top edge (row 47)
    found = locate(heights, cable)
    whole = locate(heights)
    assert distance(found, whole) < 0.2
    assert distance(pixel_centroid(body | cable), pixel_centroid(body)) > 2.0


def test_nothing_is_added_past_the_body_s_deepest_distance_to_its_outline():
    """A hidden region that covers the body's east end and reaches far beyond it, with no
    floor seen round it: the body grows by at most its half width (13 px) there."""
    heights, body = body_heights()
    hidden = np.zeros_like(body)
    hidden[:, 100:] = True
    covered = hide(heights, hidden)
    x, _ = locate(covered, hidden)
    # The centroid of the body cut at column 100 and extended by up to 13 px + rounding.
    extended = body.copy()
    extended[:, 100:] = False
    rows = np.flatnonzero(extended[:, 99])
    extended[rows[0] : rows[-1] + 1, 100:114] = True
    assert x <= pixel_centroid(extended)[0] + 0.5


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_the_hidden_pixels_are_those_the_heights_drop_for_invalid_depth_or_height(dtype):
    """``ArenaHeights.hidden`` marks exactly the pixels of the ROI whose heights are 0 because
    the depth is an invalid code or the height above ``max_height``, for 8- and 16-bit heights
    (the converter's two paths)."""
    rng = np.random.default_rng(4)
    background = np.full((60, 80), 700.0, dtype=np.float32) + rng.uniform(0, 1, (60, 80))
    roi = np.zeros((60, 80), dtype=bool)
    roi[5:55, 8:75] = True
    converter = ArenaHeights(background, roi, 10.0, 120.0, dtype)
    depth = rng.integers(540, 720, (60, 80)).astype(np.uint16)
    depth[rng.random((60, 80)) < 0.05] = 0
    depth[rng.random((60, 80)) < 0.05] = 65535
    row0, row1, col0, col1 = converter.bbox
    box = depth[row0:row1, col0:col1]
    heights = np.empty(converter.shape, dtype=dtype)
    converter.convert(box, heights)
    height = np.floor(background[row0:row1, col0:col1]) - box.astype(np.float64)
    expected = ((box == 0) | (box == 65535) | (height > 120)) & roi[row0:row1, col0:col1]
    hidden = converter.hidden(depth, 0, row1 - row0, 0, col1 - col0)
    assert hidden.dtype == np.uint8
    np.testing.assert_array_equal(hidden.astype(bool), expected)
    assert not heights[expected].any()
    # A window of the box gives the same pixels as the whole box there.
    np.testing.assert_array_equal(converter.hidden(depth, 7, 30, 11, 50), hidden[7:30, 11:50])


def test_hidden_pixels_kept_for_a_later_pass_give_back_any_window():
    """A frame's hidden pixels are kept at one bit a pixel over their bounding box; any
    window of the ROI box reads back as the mask did there, 0 past the kept box (all 0 for a
    window that misses it)."""
    rng = np.random.default_rng(7)
    mask = np.zeros((50, 70), dtype=np.uint8)
    mask[12:31, 9:44] = rng.random((19, 35)) < 0.3
    mask[12, 9] = mask[30, 43] = 1  # the bounding box's corners
    kept = HiddenPixels.of(mask, 100, 200)
    assert (kept.x0, kept.y0, kept.cols, kept.bits.shape) == (109, 212, 35, (19, 5))
    box = np.zeros((300, 300), dtype=np.uint8)  # the ROI box, the mask at (100, 200)
    box[200:250, 100:170] = mask
    windows = [(100, 200, 170, 250), (95, 190, 130, 215), (140, 225, 180, 260), (0, 0, 90, 60)]
    for x0, y0, x1, y1 in windows:
        np.testing.assert_array_equal(kept.window(x0, y0, x1, y1), box[y0:y1, x0:x1])
    assert HiddenPixels.of(np.zeros((5, 5), dtype=np.uint8), 0, 0) is None


def _session_with_patches(tmp_path):
    """A generated session with many invalid patches (some over the animal) and a hand over
    it for a quarter of the frames."""
    from depthextractors.testing import generate_synthetic_session

    return generate_synthetic_session(
        tmp_path / "session", 160, seed=21, dropout_patches=15.0, hand_frames=40
    )


def _body_centroids(session, em, workers, temporal_filter_size=0):
    from depthextractors import open_depth_video
    from depthextractors.config import ExtractionConfig
    from depthextractors.io import InMemoryResultsWriter

    config = ExtractionConfig(use_tracking_model=em, temporal_filter_size=temporal_filter_size)
    extraction = config.build_extraction(open_depth_video(session.directory))
    results = extraction.run(InMemoryResultsWriter(), progress=False, workers=workers, n_jobs=2)
    row0, _, col0, _ = extraction.arena.roi.bbox
    x = results.scalars["body_centroid_x_px"][:] + col0
    y = results.scalars["body_centroid_y_px"][:] + row0
    return x, y, np.asarray(results.valid, bool)


@pytest.mark.parametrize("em", [False, True])
def test_threads_and_worker_processes_fill_the_same_hidden_pixels(tmp_path, em):
    """The body centroid reads the hidden pixels from the raw depth in the tracking pass, or,
    after a sequential tracker (``EMTracker``), from what the patch stage kept round its
    input: in threads and in worker processes alike."""
    session = _session_with_patches(tmp_path)
    threads = _body_centroids(session, em, "threads")
    processes = _body_centroids(session, em, "processes")
    for a, b in zip(threads, processes, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_sequential_tracker_s_patches_hold_every_hidden_pixel_read(tmp_path, monkeypatch):
    """After ``EMTracker`` the hidden pixels come from the patches kept round its input:
    keeping them over the whole box instead changes no centroid, so the patches hold every
    pixel the body centroid reads."""
    from depthextractors.extraction import frame_stages

    session = _session_with_patches(tmp_path)
    patches = _body_centroids(session, True, "threads")
    keep = frame_stages.HeightsPatchStage.__init__

    def whole_box(self, reach, around="animal", converter=None):
        keep(self, 100_000, around, converter)

    monkeypatch.setattr(frame_stages.HeightsPatchStage, "__init__", whole_box)
    everywhere = _body_centroids(session, True, "threads")
    for a, b in zip(patches, everywhere, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("em", "temporal_filter_size"),
    [(False, 0), (True, 0), (False, 3)],
    ids=["moments", "em", "temporal-median"],
)
def test_the_hidden_pixels_bring_the_body_centroid_nearer_the_truth(
    tmp_path, monkeypatch, em, temporal_filter_size
):
    """End to end on a generated session with invalid patches and a hand over the animal, on
    each path the hidden pixels reach the body centroid by (the raw depth in the tracking
    pass, the patches kept round a sequential tracker's input, the whole box kept before a
    temporal median): the frames the body centroid changes are nearer the truth with the
    hidden pixels than without them (measured with the default tracker: 22 frames, mean error
    1.42 against 2.39 px, p95 of all frames 1.44 against 2.61 px; after a temporal median:
    20 frames, 1.14 against 1.98 px, p95 0.89 against 1.66 px)."""
    from depthextractors.extraction import body_centroid

    session = _session_with_patches(tmp_path)
    truth = session.truth
    with_hidden = _body_centroids(session, em, "threads", temporal_filter_size)
    monkeypatch.setattr(body_centroid, "with_hidden", lambda body, origin, *_: (body, *origin))
    without = _body_centroids(session, em, "threads", temporal_filter_size)

    def errors(found):
        x, y, valid = found
        error = np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])
        return error, valid & truth.visible

    error_with, visible = errors(with_hidden)
    error_without, _ = errors(without)
    changed = visible & (np.abs(error_with - error_without) > 1e-6)
    assert changed.sum() >= 10
    assert np.mean(error_with[changed]) < 0.85 * np.mean(error_without[changed])
    assert np.percentile(error_with[visible], 95) < np.percentile(error_without[visible], 95)


def test_the_part_of_the_body_a_hidden_cable_cuts_off_joins_it():
    """A cable above max_height lying across the middle of the body hides a strip of it, and
    the tracker follows one half: the other half, as wide as a body, joins it across the
    hidden strip and the strip is filled, so the centroid is the whole body's again."""
    heights, body = body_heights()
    strip = np.zeros_like(body)
    strip[:, 83:89] = True  # 6 px wide, north to south across the body's middle
    covered = hide(heights, strip)
    half = locate(covered)
    assert distance(half, locate(heights)) > 10.0
    assert distance(locate(covered, strip), locate(heights)) < 0.3


def test_a_narrow_part_beyond_a_hidden_strip_stays_out():
    """Beyond a hidden stretch of cable leaving the body, the cable's visible stretch (above
    min_height, narrow) does not join the body: only parts as wide as a body do."""
    heights, body = body_heights()
    hidden = np.zeros_like(body)
    hidden[56:65, 111:125] = True  # the cable above max_height, from the body's east end
    with_cable = heights.copy()
    with_cable[57:64, 125:150] = 40  # then visible again, 7 px wide
    assert locate(with_cable, hidden) == pytest.approx(locate(heights, hidden), abs=1e-9)
    # As wide as the body there and as high, it would join (and pull the centroid east by
    # pixels).
    wide = heights.copy()
    wide[47:74, 125:150] = 30
    assert locate(wide, hidden)[0] > locate(heights, hidden)[0] + 5.0


@pytest.mark.parametrize("height", [40, 60])
def test_a_wide_part_beyond_a_hidden_strip_taller_than_the_body_stays_out(height):
    """A bundle rising from the body to its anchor, hidden where it passes max_height and
    visible again beyond, can be as wide as a body's half there; it is taller than the body
    (30 mm), which the body beyond a cable crossing it is not, so it does not join."""
    heights, body = body_heights()
    hidden = np.zeros_like(body)
    hidden[56:65, 111:125] = True
    tall = heights.copy()
    tall[47:74, 125:150] = height
    assert locate(tall, hidden) == pytest.approx(locate(heights, hidden), abs=1e-9)


def test_a_part_that_would_make_the_body_longer_than_the_animal_stays_out():
    """With the animal's measured length known, a part as wide and as high as a body beyond a
    hidden strip (a slack bundle's low stretch beyond where it rose above max_height) does
    not join when the body with it would be longer than 1.25 times the animal; the half of
    the body a cable across it cuts off still joins."""
    heights, body = body_heights()
    length = body_length(body.view(np.uint8))
    hidden = np.zeros_like(body)
    hidden[56:65, 111:125] = True
    beyond = heights.copy()
    beyond[47:74, 125:150] = 30
    assert locate(beyond, hidden)[0] > locate(heights, hidden)[0] + 5.0
    # (With the length known, the hidden strip is given to the body only up to the animal's
    # length from its west end, with the part beyond or without it.)
    assert locate(beyond, hidden, length) == pytest.approx(
        locate(heights, hidden, length), abs=1e-9
    )
    strip = np.zeros_like(body)
    strip[:, 83:89] = True
    assert distance(locate(hide(heights, strip), strip, length), locate(heights)) < 0.3


def test_flanks_that_would_make_the_body_longer_than_the_animal_stay_out():
    """A bundle leaving the body's east end lies low along a hidden stretch of itself (where it
    rises above max_height): narrower than the tail filter's disc, it is trimmed from the
    body, and beside the hidden stretch it is as wide as a body, like the flanks beside a
    cable along the back. With the animal's measured length known it stays out, as the body
    with it would be far longer than the animal (measured: 11 px east without the length,
    0.4 px off with it)."""
    heights, body = body_heights()
    length = body_length(body.view(np.uint8))
    hidden = np.zeros_like(body)
    hidden[49:57, 100:150] = True
    covered = hide(heights, hidden)
    bundle = covered.copy()
    bundle[57:64, 100:150][~body[57:64, 100:150]] = 30  # 7 px wide, along the hidden stretch
    without_bundle = locate(covered, hidden, length)
    assert locate(bundle, hidden)[0] > without_bundle[0] + 5.0
    assert distance(locate(bundle, hidden, length), without_bundle) < 0.5


def test_a_body_cut_in_three_joins_whole():
    """Two cables above max_height across a long body cut it in three; the tracker follows the
    largest part, and the far one joins once the middle one has brought its hidden strip next
    to the body (measured: 5.0 px off with one round of joining)."""
    heights = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.ellipse(heights, CENTRE, (40, 13), 0, 0, 360, 30, thickness=cv2.FILLED)
    strips = np.zeros((ROWS, COLS), dtype=bool)
    strips[:, 90:94] = strips[:, 108:112] = True
    covered = hide(heights, strips)
    whole = locate(heights)
    assert distance(locate(covered), whole) > 10.0
    assert distance(locate(covered, strips), whole) < 0.3


def test_the_flanks_beside_a_hidden_cable_along_the_back_stay_body():
    """A cable above max_height lying along the rear half of a narrow body's back hides a
    strip down its middle; the tail filter removes the slivers of body either side of it.
    Together with the strip they are as wide as the body, so they stay body and the strip
    between them is filled: the centroid is near the whole body's again (measured: 0.53 px
    off, against 13 px without the hidden pixels)."""
    heights = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.ellipse(heights, CENTRE, (30, 9), 0, 0, 360, 30, thickness=cv2.FILLED)
    strip = np.zeros((ROWS, COLS), dtype=bool)
    strip[57:64, 50:86] = True  # 7 px wide, from the rear end to the middle
    covered = hide(heights, strip)
    whole = locate(heights)
    assert distance(locate(covered), whole) > 10.0
    assert distance(locate(covered, strip), whole) < 1.0


def _without_the_outline(monkeypatch):
    """The body centroid with hidden pixels shared out by nearness alone (no ellipse)."""
    from depthextractors.extraction import body_hidden

    monkeypatch.setattr(
        body_hidden, "within_seen_outline", lambda body, x0, y0, *rest: (body, x0, y0)
    )


def _cable_along_the_back_leaving_the_east_end(body):
    """A cable above max_height, 7 px wide, from the body's middle along its axis and on past
    its east end (column 111)."""
    cable = np.zeros_like(body)
    cable[57:64, 85:160] = True
    return cable


def test_the_end_under_a_cable_leaving_it_follows_the_seen_outline(monkeypatch):
    """A cable lying along the back and leaving over the east end hides the end's cap: shared
    out by nearness alone the floor either side of the cable takes part of it and the end is
    flattened (measured: 0.27 px west of the whole body's centroid); the hidden pixels inside
    the ellipse fitted to the seen outline give it back (0.05 px), and nothing of the cable
    beyond the end is added (the centroid is not pulled east)."""
    heights, body = body_heights()
    whole = pixel_centroid(body)
    cable = _cable_along_the_back_leaving_the_east_end(body)
    covered = hide(heights, cable)
    length = body_length(body.view(np.uint8))
    found = locate(covered, cable, length)
    assert distance(found, whole) < 0.12
    assert found[0] < whole[0] + 0.12
    _without_the_outline(monkeypatch)
    assert distance(locate(covered, cable, length), whole) > 0.2


def test_an_end_whose_cap_a_cable_hides_is_given_back_up_to_the_animal_length(monkeypatch):
    """A 20 px cable leaving over the head of a body whose head is narrower than its rump (a
    mouse's, 62 px long) hides the head's whole front half: the seen outline closes short of
    it, and its ellipse gives little back (measured: 3.5 px west of the whole body's
    centroid). Lengthened to 0.9 times the animal's measured length towards the hidden end, it
    gives the head back to there (1.9 px), and nothing of the cable past the body's end."""
    from depthextractors.extraction import body_outline

    heights = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.ellipse(heights, (80, 60), (26, 13), 0, 0, 360, 30, thickness=cv2.FILLED)
    cv2.ellipse(heights, (104, 60), (12, 8), 0, 0, 360, 24, thickness=cv2.FILLED)
    body = heights > 0
    whole = pixel_centroid(body)
    length = body_length(body.view(np.uint8))
    cable = np.zeros_like(body)
    cable[50:70, 100:] = True
    covered = hide(heights, cable)
    found = locate(covered, cable, length)
    assert distance(found, whole) < 2.2
    assert found[0] < whole[0]
    monkeypatch.setattr(body_outline, "OUTLINE_LENGTH_SHARE", 0.0)
    assert distance(locate(covered, cable, length), whole) > 3.0


def test_an_end_standing_far_above_the_back_is_not_lengthened():
    """A rearing front projects shorter than the animal is long: where the body's pixels in
    the hidden end's quarter of the seen outline's ellipse stand, at their median, over 1.6
    times the measured back height, the ellipse is not lengthened. The body of the test above
    with its front at 60 mm: over a 30 mm back nothing past the seen ellipse is given; over a
    60 mm back (or with no back height known) the end comes back as for a body lying flat."""
    from depthextractors.extraction.body_outline import within_seen_outline

    heights = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.ellipse(heights, (80, 60), (26, 13), 0, 0, 360, 30, thickness=cv2.FILLED)
    cv2.ellipse(heights, (104, 60), (12, 8), 0, 0, 360, 24, thickness=cv2.FILLED)
    front = heights[:, 85:]
    front[front > 0] = 60
    whole = heights > 0
    length = body_length(whole.view(np.uint8))
    cable = np.zeros_like(whole)
    cable[50:70, 100:] = True
    body = (whole & ~cable).view(np.uint8)

    def hidden(y0, y1, x0, x1):
        return cable[y0:y1, x0:x1].view(np.uint8)

    def read(y0, y1, x0, x1):
        return heights[y0:y1, x0:x1]

    def given(back_height):
        grown = within_seen_outline(body, 0, 0, hidden, None, length, read, back_height)[0]
        return int(cv2.countNonZero(grown)) - int(cv2.countNonZero(body))

    standing, lying, unknown = given(30.0), given(60.0), given(None)
    assert lying == unknown
    assert lying > standing + 40


def test_an_outline_longer_than_the_animal_adds_nothing(monkeypatch):
    """The ellipse is not the body's outline where it would be longer than 1.25 times the
    animal's measured length: nothing is added then."""
    heights, body = body_heights()
    cable = _cable_along_the_back_leaving_the_east_end(body)
    covered = hide(heights, cable)
    short = 0.5 * body_length(body.view(np.uint8))
    found = locate(covered, cable, short)
    assert distance(found, locate(covered, cable)) > 0.1
    _without_the_outline(monkeypatch)
    assert found == pytest.approx(locate(covered, cable, short), abs=1e-9)


@pytest.mark.parametrize(
    "region",
    [
        np.s_[20:48, 70:100],  # a hand over the north flank's edge
        np.s_[:, :85],  # the whole west half: too little of the outline is seen
    ],
)
def test_the_outline_adds_nothing_outside_the_body_or_from_too_little_of_it(monkeypatch, region):
    """Hidden pixels beside the body lie outside the ellipse of its seen outline, and where
    they cover half the outline no ellipse is fitted: the outline adds nothing to what
    nearness gives."""
    heights, body = body_heights()
    hidden = np.zeros_like(body)
    hidden[region] = True
    covered = hide(heights, hidden)
    found = locate(covered, hidden)
    _without_the_outline(monkeypatch)
    assert found == pytest.approx(locate(covered, hidden), abs=1e-9)
