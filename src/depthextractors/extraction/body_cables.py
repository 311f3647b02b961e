"""Thick cables taken out of the body: :func:`without_cables`, a step of
:class:`~depthextractors.extraction.body_centroid.BodyCentroid`, and :func:`taller_parts`, which
keeps :func:`~depthextractors.extraction.body_hidden.with_hidden` from joining a cable's
stretch beyond what was taken out or hidden.

A cable as wide as the tail filter's disc or wider (a bundle, about half a mouse's width)
survives the tail and cable filters, and the tracker's contour holds it. Its stretch beyond the
body is narrow and rises to its anchor, where it passes ``max_height`` and is hidden; the
body's own narrow parts (snout, flanks, tail base) slope down to the floor.

A slack cable can also lie at the height of the body beside it (hanging from the back over the
rump or a flank) and go on beyond what the tail filter left of it, as low or rising towards its
anchor: its stub holds no taller pixel, and :func:`without_low_stubs` takes it out by where it
lies instead.
"""

from __future__ import annotations

import cv2
import numpy as np

from .box_windows import SQUARE, cable_ridges, labels_under, of_labels
from .tracking import ellipse_axes

__all__ = [
    "BACK_MEDIAN_SHARE",
    "BODY_END_REACH_SHARE",
    "CABLE_HEIGHT_SHARE",
    "CABLE_HIDDEN_AREA",
    "CABLE_MIN_TALL_PIXELS",
    "CABLE_TALL_SHARE",
    "CABLE_WIDTH_SHARE",
    "STUB_HEIGHT_SHARES",
    "STUB_LENGTH_SHARE",
    "STUB_WIDTH_SHARE",
    "back_height",
    "body_length",
    "taller_parts",
    "without_cables",
    "without_low_stubs",
]

#: A cable is narrower than an opening by a disc of this share of the body's widest keeps (the
#: widest: twice its deepest pixel's distance to the outline). A thick bundle is about half a
#: mouse's width; the snout, the flanks and the tail's base are narrow too, but low.
CABLE_WIDTH_SHARE = 0.7
#: ... and, where it reaches farther from the body's wide part than that disc's radius, taller
#: than this share of the wide part's back height (:func:`back_height`): a cable leaves the
#: animal above its back and rises to its anchor, while the body's narrow parts slope to the
#: floor, and a piece of a rat's back that a cable lying on it cuts off from the rest is no
#: taller than the back.
CABLE_HEIGHT_SHARE = 1.15
#: The back's height that :data:`CABLE_HEIGHT_SHARE` and :data:`STUB_HEIGHT_SHARES` multiply
#: leaves out the pixels more than this many times the body's median height
#: (:func:`back_height`): a bundle lying along the back stands over it by its own thickness and
#: can cover more than a twentieth of the body.
BACK_MEDIAN_SHARE = 1.4
#: ... in at least this many pixels (one may be noise) ...
CABLE_MIN_TALL_PIXELS = 2
#: ... and in at least this share of its pixels out there: a cable lying along a rat's long,
#: narrow head is tall out there too, but the head round it is not.
CABLE_TALL_SHARE = 0.5
#: A body's ends reach out of its wide part by at most this share of the animal's measured
#: length (0.26 in the median frame of untethered drawn sessions, 0.40 in 99 frames of 100); a
#: slack bundle can lie at the body's height for most of the animal's length before it rises.
#: A narrow part with at least :data:`CABLE_MIN_TALL_PIXELS` tall pixels farther out than that
#: is a cable whatever their share, and a far cable whose tall pixel nearest the wide part lies
#: that far is cut whole (nearer, the narrow part before it can be a head).
BODY_END_REACH_SHARE = 0.5
#: A narrow part is also a cable's stub when that many of its pixels beside a hidden region
#: (a cable above ``max_height``) are that tall, and the region holds at least this many times
#: the disc's radius in pixels, within the pixels examined (scattered invalid pixels at a
#: body's edge are fewer; a cable's hidden stretch is about as wide as the disc).
CABLE_HIDDEN_AREA = 1.0
#: A trimmed part left out beside the body goes on as a cable lying at the body's height when
#: it is at least this share of the body's widest as wide (its deepest pixel at least this
#: share of the body's deepest from its outline: a bundle is about a third of a mouse's
#: width, a tail's base a sixth) ...
STUB_WIDTH_SHARE = 0.35
#: ... and its mean height lies between these shares of the body's back height: a tail lies
#: lower, and a slack bundle lying beside the body at its height often rises on beyond it
#: towards its anchor (only its first pixels beyond the body are examined). A part rising more
#: steeply than twice the back was, on the calibration sessions, most often a taut cable
#: leaving the head, the narrow part beside it the head (bounding the share at 1.15, the
#: cable's, left most slack bundles' stubs in; without a bound, rats' heads were cut).
STUB_HEIGHT_SHARES = (0.6, 2.0)
#: The narrow parts of the body beside such a part (what an opening by the disc of
#: :data:`CABLE_WIDTH_SHARE` removes) are its stub, unless the body without them would be
#: shorter than this share of the animal's measured length (:attr:`AnimalSize.length_px
#: <depthextractors.extraction.animal_size.AnimalSize>`): then the narrow part is the
#: animal's head, with a cable leaving it at its height.
STUB_LENGTH_SHARE = 0.95


def without_cables(
    body: np.ndarray,
    smoothed: np.ndarray,
    inside: np.ndarray,
    hidden: np.ndarray | None = None,
    rising: np.ndarray | None = None,
    animal_length: float | None = None,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``body`` without the narrow, tall parts that leave it (a thick cable or bundle, which the
    tail and cable filters keep), and the pixels taken out.

    The wide part is ``body`` opened by a disc of :data:`CABLE_WIDTH_SHARE` times the body's
    widest; an 8-connected part of the rest is a cable when, of its pixels farther from the wide
    part than the disc's radius, at least :data:`CABLE_MIN_TALL_PIXELS` and
    :data:`CABLE_TALL_SHARE` of them are taller than :data:`CABLE_HEIGHT_SHARE` times the wide
    part's back height (:func:`back_height`), or at least :data:`CABLE_MIN_TALL_PIXELS` farther
    from it than a body's end reaches (:data:`BODY_END_REACH_SHARE` times
    ``animal_length``); it is taken out from its pixel that tall nearest
    the wide part outwards (its pixels at least as far from the wide part), with what it then
    holds apart from the wide part: the narrow part of the body it leaves stays (a head a cable
    leaves from its tip, rising), unless that pixel lies farther from the wide part than a
    body's end reaches (a slack bundle lying low before it rises; then the whole part goes). A
    part is a cable's stub when at least
    :data:`CABLE_MIN_TALL_PIXELS` of its pixels that are that tall lie beside what carries a
    cable on outwards: a hidden region of at least :data:`CABLE_HIDDEN_AREA` times the disc's
    radius in pixels (the cable rising above ``max_height``) or the parts the tail filter
    trimmed that were left out, when one rises above the body's tallest pixel (the cable's
    stretch narrower than its disc). A stub can be shorter than the disc's radius; only its tall
    pixels are taken out, as it can hold body beside the cable (a cable along a rat's narrow
    head). The tall pixels a cable's own rise from over the body go with it: they hide the body
    under them, which :func:`~.body_hidden.with_hidden` gives back where it is nearer the body.

    Parameters
    ----------
    body : numpy.ndarray
        uint8 (0/1) body pixels.
    smoothed : numpy.ndarray
        Heights over the same pixels (mm), after the filters before the tail filter.
    inside : numpy.ndarray
        float32 distances of ``body``'s pixels to its outline (``cv2.distanceTransform(body,
        cv2.DIST_L2, 5)``), px.
    hidden : numpy.ndarray, optional
        uint8 (0/1) over the same pixels: where the depth hides what lies below it (invalid,
        or taller than ``max_height``).
    rising : numpy.ndarray, optional
        uint8 (0/1) over the same pixels: the trimmed parts touching the body that were left
        out, when one of them rises above the body's tallest pixel.
    animal_length : float, optional
        The animal's measured length, px (:attr:`AnimalSize.length_px
        <depthextractors.extraction.animal_size.AnimalSize>`); without it, no part is told by
        how far it reaches, and every far cable is cut from its first tall pixel.
    keep : numpy.ndarray, optional
        uint8 (0/1) over the same pixels: body that a far cable's cut leaves, as it leaves the
        wide part (a snout's tip beside a cable rising from the head,
        :attr:`~.body_trimmed.PutBack.beside_cable`, which lies as far out as the cable).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray or None)
        ``(body, None)`` when it has no such part, else a new uint8 (0/1) body and the uint8
        (0/1) pixels taken out.
    """
    # The opening as box_windows.opened_by_disc makes it, written out: the distances from the
    # wide part tell below how far each narrow part reaches out of it.
    radius = CABLE_WIDTH_SHARE * cv2.minMaxLoc(inside)[1]
    if radius < 1.5:
        return body, None
    outside_core = cv2.threshold(inside, radius, 1, cv2.THRESH_BINARY_INV)[1].astype(np.uint8)
    # The ends of a body flatter than a mouse's are narrow too, but the opening shaves them by
    # a pixel or two; a cable reaches out of the body by more than the radius. Most frames
    # have no such part, which the city-block distance (never shorter) shows at a third of
    # the cost.
    reach = cv2.minMaxLoc(cv2.distanceTransform(outside_core, cv2.DIST_L1, 3), body)[1]
    beside_outward = _beside_outward(body, radius, hidden, rising)
    if reach <= 2 * radius and beside_outward is None:
        return body, None
    from_core = cv2.distanceTransform(outside_core, cv2.DIST_L2, 5)
    pixels = body > 0
    far = pixels & (from_core > 2.0 * radius)
    if not far.any() and beside_outward is None:
        return body, None
    wide = pixels & (from_core <= radius)
    count, labels = cv2.connectedComponents((pixels & ~wide).view(np.uint8), connectivity=8)
    taller = smoothed > CABLE_HEIGHT_SHARE * back_height(smoothed, wide)
    far_cables = _far_cables(labels, count, far, taller)
    end_reach = None if not animal_length else BODY_END_REACH_SHARE * animal_length
    if end_reach is not None:
        far_cables |= _past_a_body_end(labels, count, far & taller, from_core, end_reach)
    cables = far_cables.copy()
    if beside_outward is not None:
        stubs = np.bincount(labels[beside_outward & taller], minlength=count)
        cables |= stubs >= CABLE_MIN_TALL_PIXELS
        cables[0] = False
    if not cables.any():
        return body, None
    kept = body.copy()
    kept[_rising(cables[labels] & taller, taller & pixels)] = 0
    if far_cables.any():
        # A far cable runs outwards from its tall pixel nearest the wide part: the narrow
        # part nearer than that is body (a head the cable leaves from its tip), unless it
        # reaches farther than a body's end does.
        in_far = far_cables[labels]
        first_tall = _first_tall(labels, count, in_far & taller, from_core)
        if end_reach is not None:
            first_tall[first_tall > end_reach] = 0.0
        cut = in_far & (from_core >= first_tall[labels])
        body_part = wide
        if keep is not None:
            cut &= keep == 0
            body_part = wide | (keep > 0)
        kept[cut] = 0
        # A cable can hold narrow parts of the body beyond it apart from the wide part: only
        # what stays joined to the wide part (or is kept) is body.
        count, labels = cv2.connectedComponents(kept, connectivity=8)
        kept = labels_under(labels, count, body_part)[labels].astype(np.uint8)
    return kept, cv2.subtract(body, kept)


def _far_cables(labels: np.ndarray, count: int, far: np.ndarray, taller: np.ndarray) -> np.ndarray:
    """bool, one per label of the narrow parts ``labels``: which are mostly taller than the
    level (``taller``) where they reach far out of the wide part (``far``)."""
    tall = np.bincount(labels[far & taller], minlength=count)
    out_there = np.bincount(labels[far], minlength=count)
    cables = (tall >= CABLE_MIN_TALL_PIXELS) & (tall >= CABLE_TALL_SHARE * out_there)
    cables[0] = False
    return cables


def _past_a_body_end(
    labels: np.ndarray, count: int, tall_far: np.ndarray, from_core: np.ndarray, end_reach: float
) -> np.ndarray:
    """bool, one per label of the narrow parts ``labels``: which hold at least
    :data:`CABLE_MIN_TALL_PIXELS` pixels of ``tall_far`` farther from the wide part
    (``from_core``, px) than ``end_reach``: tall where no body's end reaches. A rat's front
    half, narrower than the opening's disc, is one narrow part that reaches that far with its
    low snout, and a bundle lying along the back gives it tall pixels only near the rump."""
    tall = np.bincount(labels[tall_far & (from_core > end_reach)], minlength=count)
    cables = tall >= CABLE_MIN_TALL_PIXELS
    cables[0] = False
    return cables


def _first_tall(
    labels: np.ndarray, count: int, tall: np.ndarray, from_core: np.ndarray
) -> np.ndarray:
    """float32, one per label below ``count``: the least distance from the wide part
    (``from_core``, px) of the label's pixels in ``tall``; infinite where it has none."""
    nearest = np.full(count, np.inf, dtype=np.float32)
    np.minimum.at(nearest, labels[tall], from_core[tall])
    return nearest


def _rising(seeds: np.ndarray, tall: np.ndarray) -> np.ndarray:
    """bool: the 8-connected parts of ``tall`` that hold a pixel of ``seeds``: a cable's tall
    pixels from where it leaves the body back to where it rose from the back."""
    count, parts = cv2.connectedComponents(tall.view(np.uint8), connectivity=8)
    return labels_under(parts, count, seeds)[parts]


def _beside_outward(
    body: np.ndarray, radius: float, hidden: np.ndarray | None, rising: np.ndarray | None
) -> np.ndarray | None:
    """bool: the pixels of ``body`` beside (8-connected) what may carry a cable on outwards: a
    hidden region of at least :data:`CABLE_HIDDEN_AREA` times ``radius`` pixels (scattered
    invalid pixels at the body's edge are fewer), or the trimmed parts left out when one of
    them rises above the body's tallest pixel (``rising``; a tail lies lower); ``None`` when
    there are none."""
    outward = rising
    smallest = CABLE_HIDDEN_AREA * radius
    if hidden is not None and cv2.countNonZero(hidden) >= smallest:
        _, regions, stats, _ = cv2.connectedComponentsWithStats(hidden, connectivity=8)
        large = stats[:, cv2.CC_STAT_AREA] >= smallest
        large[0] = False
        if large.any():
            regions = of_labels(regions, large)
            outward = regions if outward is None else cv2.bitwise_or(outward, regions)
    if outward is None:
        return None
    beside = cv2.bitwise_and(cv2.dilate(outward, SQUARE), body)
    if cv2.countNonZero(beside) == 0:
        return None
    return beside > 0


def taller_parts(
    parts: np.ndarray, count: int, heights: np.ndarray, body: np.ndarray
) -> np.ndarray:
    """bool, one per label of ``parts`` (below ``count``): which parts have at least
    :data:`CABLE_TALL_SHARE` of their pixels taller than :data:`CABLE_HEIGHT_SHARE` times the
    back height of ``body`` (:func:`back_height` of ``heights``, mm, over the same pixels): a
    cable's stretch rising to its anchor. A part of the animal beyond a cable or hand that
    crosses it is no taller than the body."""
    level = CABLE_HEIGHT_SHARE * back_height(heights, body)
    taller = np.bincount(parts[heights > level], minlength=count)
    sizes = np.bincount(parts.ravel(), minlength=count)
    return taller >= CABLE_TALL_SHARE * sizes


def without_low_stubs(
    body: np.ndarray,
    smoothed: np.ndarray,
    inside: np.ndarray,
    left_out: np.ndarray | None,
    animal_length: float | None,
) -> np.ndarray | None:
    """``body`` without the stub of a cable that lies beside it at its height and goes on
    beyond it, or ``None`` when it has none.

    A part the tail filter trimmed that touches the body and was left out (``left_out``) goes
    on as such a cable when it is at least :data:`STUB_WIDTH_SHARE` of the body's widest as
    wide and its mean height is within :data:`STUB_HEIGHT_SHARES` of the body's
    back height (a tail is narrower and lower; the thin cables the tail filter
    takes out are narrower; a cable rising more steeply is most often one leaving the head).
    The narrow parts of the body (what an opening by a disc of
    :data:`CABLE_WIDTH_SHARE` times its widest removes) with at least
    :data:`CABLE_MIN_TALL_PIXELS` pixels beside it are the cable's stub (cutting only what lies
    beyond 1.5 of the disc's radii out of the wide part gained half as much on drawn
    sessions); what stays joined to the wide part is the body, unless it is shorter than
    :data:`STUB_LENGTH_SHARE` of the animal's length (the cable leaves the head, which is
    body). Without the animal's length nothing is taken out.

    Parameters
    ----------
    body, smoothed, inside
        As :func:`without_cables`'.
    left_out : numpy.ndarray or None
        uint8 (0/1) over the same pixels: the trimmed parts touching the body that were not
        put back.
    animal_length : float or None
        The animal's measured length, px (four standard deviations along its axis).

    Returns
    -------
    numpy.ndarray or None
        A new uint8 (0/1) body, or ``None`` when nothing is taken out.
    """
    if left_out is None or not animal_length:
        return None
    deepest = cv2.minMaxLoc(inside)[1]
    radius = CABLE_WIDTH_SHARE * deepest
    if radius < 1.5:
        return None
    going_on = _going_on(left_out, smoothed, STUB_WIDTH_SHARE * deepest, body)
    if going_on is None:
        return None
    beside = cv2.bitwise_and(cv2.dilate(going_on, SQUARE), body) > 0
    outside_core = cv2.threshold(inside, radius, 1, cv2.THRESH_BINARY_INV)[1].astype(np.uint8)
    from_core = cv2.distanceTransform(outside_core, cv2.DIST_L2, 5)
    pixels = body > 0
    wide = pixels & (from_core <= radius)
    count, labels = cv2.connectedComponents((pixels & ~wide).view(np.uint8), connectivity=8)
    stubs = np.bincount(labels[beside & ~wide], minlength=count) >= CABLE_MIN_TALL_PIXELS
    stubs[0] = False
    cut = stubs[labels]
    if not cut.any():
        return None
    kept = body.copy()
    kept[cut] = 0
    count, labels = cv2.connectedComponents(kept, connectivity=8)
    kept = labels_under(labels, count, wide)[labels].astype(np.uint8)
    if body_length(kept) < STUB_LENGTH_SHARE * animal_length:
        return None
    return kept


def _going_on(
    left_out: np.ndarray, smoothed: np.ndarray, least_depth: float, body: np.ndarray
) -> np.ndarray | None:
    """uint8 (0/1): the parts of ``left_out`` at least ``least_depth`` deep (from their own
    outline) whose mean height is within :data:`STUB_HEIGHT_SHARES` of ``body``'s
    back height; ``None`` when there are none."""
    depth = cv2.distanceTransform(left_out, cv2.DIST_L2, 3)
    # Most frames' only such part is a tail, too narrow: one test over the image.
    if cv2.minMaxLoc(depth)[1] < least_depth:
        return None
    count, parts = cv2.connectedComponents(left_out, connectivity=8)
    deep = labels_under(parts, count, depth >= least_depth)
    if not deep.any():
        return None
    sizes = np.maximum(np.bincount(parts.ravel(), minlength=count), 1)
    mean_height = np.bincount(parts.ravel(), smoothed.ravel(), minlength=count) / sizes
    back = back_height(smoothed, body)
    low, high = (share * back for share in STUB_HEIGHT_SHARES)
    going_on = deep & (mean_height >= low) & (mean_height <= high)
    going_on[0] = False
    return of_labels(parts, going_on) if going_on.any() else None


def back_height(heights: np.ndarray, body: np.ndarray) -> float:
    """How tall the back is, without a cable lying over it: the 95th percentile
    (:func:`~.box_windows.high_level`) of ``heights`` (mm) over ``body``'s non-zero pixels, of
    those off a cable's ridge (:func:`~.box_windows.cable_ridges`) and no taller than
    :data:`BACK_MEDIAN_SHARE` times their median.

    The tallest twentieth of a body is its back's ridge, unless a bundle lies along the back:
    then it is the bundle, and a cable leaving the body at that height passes for no taller
    than the back. A body's own 95th percentile is 1.26 times its median in the median frame
    of untethered drawn sessions (1.16-1.38 in nine frames of ten); a bundle over half the
    body is its median too, and only the ridge it makes tells it."""
    # One sort gives both: the pixels up to the level are its first ones. (numpy.median and
    # a second selection cost several times as much on a body's pixels.)
    # A ridge's pixels are taller than the body's median: never all of them.
    values = np.sort(heights[(body > 0) & ~cable_ridges(heights, body)], axis=None)
    size = values.size
    level = BACK_MEDIAN_SHARE * (float(values[(size - 1) // 2]) + float(values[size // 2])) / 2
    # Hidden pixels given back to the body have no height: where they are most of it, its
    # median says nothing of the back.
    count = int(np.searchsorted(values, level, side="right")) if level > 0 else size
    return float(values[int(0.95 * (count - 1))])


def body_length(body: np.ndarray) -> float:
    """The long axis of ``body``'s pixels (four standard deviations along it, as the tracker's
    :func:`~.tracking.ellipse_axes`, :attr:`AnimalSize.length_px
    <depthextractors.extraction.animal_size.AnimalSize>` and the ``body_length_px`` scalar
    measure a body), px; 0 for no pixels."""
    moments = cv2.moments(body, binaryImage=True)
    return ellipse_axes(moments)[0] if moments["m00"] else 0.0
