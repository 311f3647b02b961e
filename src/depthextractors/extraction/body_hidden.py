"""What the depth hides of the body: :func:`with_hidden`, a step of
:class:`~depthextractors.extraction.body_centroid.BodyCentroid`.

Where the depth is invalid or taller than ``max_height`` (an invalid patch, an experimenter's
hand, a cable over the animal) the heights are 0, as on the floor
(:meth:`~depthextractors.extraction.heights.ArenaHeights.hidden` says which pixels), and the
body centroid loses what lies under them, or, where a cable above ``max_height`` lies across
the animal, the part beyond it: the tracker follows one side. Those pixels are given back
by nearness, and where they cover the body's end, by the body's outline where it is seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np

from .body_cables import body_length, taller_parts
from .body_occluders import no_longer_than_the_animal
from .body_outline import within_seen_outline
from .box_windows import (
    SQUARE,
    at_least,
    box_window,
    grown_box,
    labels_under,
    opened_by_disc,
)

__all__ = [
    "JOIN_LENGTH_SHARE",
    "JOIN_ROUNDS",
    "JOIN_WIDTH_SHARE",
    "hidden_with",
    "none_hidden_where_unknown",
    "read_once",
    "with_hidden",
]

#: A part of the heights at the threshold that hidden pixels cut off from the body joins it when
#: its deepest pixel lies at least this share of the body's half-width from its outline (a
#: body's other half; a cable's visible stretch is narrower).
JOIN_WIDTH_SHARE = 0.5
#: ... and when the body with it is no longer than this many times the animal's measured length
#: (a cable lying across the animal cuts it in two; a bundle going on beyond one hidden where it
#: leaves the head is as wide as a small body's half, and lengthens the body past the animal).
#: On untethered drawn sessions the body is at most 1.10-1.18 times the measured length in
#: 99.9% of frames (by kind of animal, mouse to rat; 1.33 at most).
JOIN_LENGTH_SHARE = 1.25
#: Rounds of joining: a part joined brings the hidden regions beside it next to the body (a
#: cable and a hand, or a cable crossing twice, cut the animal in more than two parts).
JOIN_ROUNDS = 3
#: The four neighbours of a pixel (and itself), for the hidden pixels' test.
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def with_hidden(
    body: np.ndarray,
    origin: tuple[int, int],
    half_width: float,
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    heights: Callable[[int, int, int, int], np.ndarray],
    threshold: int,
    box_shape: tuple[int, int],
    cables: np.ndarray | None = None,
    animal_length: float | None = None,
    hand_radius: float | None = None,
    back_height: float | None = None,
) -> tuple[np.ndarray, int, int]:
    """``body`` with what the hidden pixels cut off from it and the hidden pixels that belong
    to it, and its origin in the ROI box.

    A hidden pixel (see :meth:`~.body_centroid.BodyCentroid.locate`'s ``hidden``) is body when it
    lies nearer the body than any pixel that is neither body nor hidden, and no farther from the
    body than ``half_width``: a hidden region is shared out between the body and what surrounds it
    by nearness, so a patch inside the body fills it, one across its edge fills it up to the edge's
    course, and a hand or cable beside the animal adds nothing past what a half-width of body could
    be. The pixels examined are those within ``half_width`` (and a pixel) of the body's bounding
    box. Before that, a part of the animal that hidden pixels cut off from the body (a cable above
    ``max_height`` lying across it) joins it (:func:`_joined_across_hidden`, up to
    :data:`JOIN_ROUNDS` times: each part joined can bring another next to the body), and so do
    the flanks either side of a hidden strip along it (:func:`_flanks_beside_hidden`); neither
    is added where it would make the body longer than :data:`JOIN_LENGTH_SHARE` times the
    animal's length (a bundle's low stretch beyond where it rises above ``max_height``).
    Last, where hidden pixels cover the body's end (a cable lying along the back and leaving
    over the head or rump), nearness flattens it, as the floor either side of the cable is as
    near: the hidden pixels inside the ellipse fitted to the body's seen outline are body too,
    the ellipse lengthened towards a hidden end to 0.9 times ``animal_length`` where it is
    shorter and the body beside that end does not stand over 1.6 times ``back_height``
    (:func:`~.body_outline.within_seen_outline`). Of the pixels given, none lies farther
    along the body's axis than ``animal_length`` from the far end of the body as it was
    seen, where the body became longer than the animal
    (:func:`~.body_occluders.no_longer_than_the_animal`: a hand over one end).

    Parameters
    ----------
    body : numpy.ndarray
        uint8 (0/1) body pixels, whose top-left pixel is ``origin`` ``(x0, y0)`` in the box.
    half_width : float
        The body's deepest distance to its outline, px.
    hidden, heights, box_shape
        As :meth:`~.body_centroid.BodyCentroid.locate`'s.
    threshold : int
        Whole millimetres from which a height counts as above ``min_height``.
    cables : numpy.ndarray, optional
        uint8 (0/1) over the same pixels as ``body``: a cable taken out of it. The cable hides
        what lies under it, body where it crosses the animal and floor where it leaves it, so
        its pixels are shared out by nearness like hidden ones. They are never joined as a
        part of the animal, and nor is a part beside them that is mostly taller than the body
        (the cable's stretch beyond them, :func:`~.body_cables.taller_parts`).
    animal_length : float, optional
        The animal's measured length, px (:attr:`AnimalSize.length_px
        <depthextractors.extraction.animal_size.AnimalSize>`); without it, the body's length
        bounds nothing.
    hand_radius : float, optional
        The radius of a disc a hand holds, px (:data:`~.body_occluders.HAND_MIN_RADIUS_MM` at
        the floor's pixel size): only hidden regions that wide are a hand past the body's
        end; without it, none is.
    back_height : float, optional
        The animal's measured back height, mm (:attr:`AnimalSize.height_mm
        <depthextractors.extraction.animal_size.AnimalSize>`); without it, a hidden end is
        lengthened whatever the body beside it stands.

    Returns
    -------
    (numpy.ndarray, int, int)
        ``(body, x0, y0)``: ``body`` and ``origin`` themselves when nothing is added, else a
        new uint8 (0/1) array and its origin (a larger window where parts are joined or hidden
        pixels shared out by nearness).
    """
    x0, y0 = origin
    seen = (body, x0, y0)
    hidden_or_cable = hidden if cables is None else hidden_with(hidden, cables, x0, y0)
    body, x0, y0 = _joined_and_shared(
        body, x0, y0, half_width, hidden, hidden_or_cable, heights, threshold, box_shape,
        cables, animal_length,
    )  # fmt: skip
    longest = None if not animal_length else JOIN_LENGTH_SHARE * animal_length
    body, x0, y0 = within_seen_outline(
        body, x0, y0, hidden_or_cable, longest, animal_length, heights, back_height
    )
    if hand_radius is None or not animal_length:
        return body, x0, y0
    return no_longer_than_the_animal(
        seen, (body, x0, y0), hidden_or_cable, half_width, hand_radius, animal_length
    )


def _joined_and_shared(
    body: np.ndarray,
    x0: int,
    y0: int,
    half_width: float,
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    hidden_or_cable: Callable[[int, int, int, int], np.ndarray | None],
    heights: Callable[[int, int, int, int], np.ndarray],
    threshold: int,
    box_shape: tuple[int, int],
    cables: np.ndarray | None,
    animal_length: float | None,
) -> tuple[np.ndarray, int, int]:
    """:func:`with_hidden`'s first two steps: the parts cut off joined and the hidden pixels
    shared out by nearness (``hidden_or_cable``: ``hidden`` with ``cables`` in it)."""
    cables_at = None if cables is None else (cables, x0, y0)
    seen = _hidden_round(body, x0, y0, half_width, hidden_or_cable, box_shape)
    if seen is None:
        return body, x0, y0

    def around_body(body: np.ndarray, x0: int, y0: int) -> _AroundHidden | None:
        return _around_hidden(body, x0, y0, hidden, heights, threshold, box_shape, cables_at)

    grown = _with_cut_off_parts(body, x0, y0, half_width, animal_length, around_body)
    if grown is not None:
        body, x0, y0 = grown
        seen = _hidden_round(body, x0, y0, half_width, hidden_or_cable, box_shape)
        if seen is None:
            return body, x0, y0
    (gx0, gy0), grown, unseen_or_body, deep = seen
    from_body = cv2.distanceTransform(
        cv2.threshold(grown, 0, 1, cv2.THRESH_BINARY_INV)[1], cv2.DIST_L2, 5
    )
    from_seen = cv2.distanceTransform(unseen_or_body, cv2.DIST_L2, 5)
    nearer = cv2.compare(from_body, from_seen, cv2.CMP_LT)
    within = cv2.compare(from_body, half_width, cv2.CMP_LE)
    added = cv2.bitwise_and(cv2.bitwise_and(deep, nearer), within)
    if cv2.countNonZero(added) == 0:
        return body, x0, y0
    return cv2.bitwise_or(grown, added), gx0, gy0


def _with_cut_off_parts(
    body: np.ndarray,
    x0: int,
    y0: int,
    half_width: float,
    animal_length: float | None,
    around_body: Callable[[np.ndarray, int, int], _AroundHidden | None],
) -> tuple[np.ndarray, int, int] | None:
    """``(body, x0, y0)`` with the parts hidden pixels cut off from it joined (up to
    :data:`JOIN_ROUNDS` times) and the flanks beside a hidden strip along it, over a larger
    window whose top-left pixel is ``(x0, y0)``; ``None`` when nothing is added.
    ``around_body(body, x0, y0)`` is :func:`_around_hidden` of a body."""
    around, grown = around_body(body, x0, y0), None
    for _ in range(JOIN_ROUNDS):
        part = None if around is None else _joined_across_hidden(around, half_width, animal_length)
        if part is None:
            break
        grown = part, around.x0, around.y0
        around = around_body(*grown)
    flanks = None if around is None else _flanks_beside_hidden(around, half_width)
    if flanks is None or _longer(flanks, animal_length):
        return grown
    return flanks, around.x0, around.y0


def _hidden_round(
    body: np.ndarray,
    x0: int,
    y0: int,
    half_width: float,
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    box_shape: tuple[int, int],
) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray] | None:
    """The pixels within ``half_width`` and a pixel of ``body``'s bounding box: ``((x0, y0),
    body, body or hidden, hidden pixels none of whose four neighbours is seen)`` over them
    (uint8), or ``None`` when no hidden pixel there lacks a seen neighbour.

    A hidden pixel with a seen pixel (neither body nor hidden) among its four neighbours is
    1 px from it, no farther than from the body: only those with none can be body (most
    frames, with a few scattered invalid pixels, have none).
    """
    window = _round_body(body, x0, y0, math.ceil(half_width) + 1, hidden, box_shape)
    if window is None:
        return None
    gx0, gy0, grown, mask = window
    # Pixels seen to be something else (the floor, another object) are 0 in this image.
    unseen_or_body = cv2.bitwise_or(grown, mask)
    deep = cv2.subtract(cv2.erode(unseen_or_body, _CROSS), grown)
    if cv2.countNonZero(deep) == 0:
        return None
    return (gx0, gy0), grown, unseen_or_body, deep


class _AroundHidden(NamedTuple):
    """The pixels within the body's length of its bounding box (uint8 images over them, whose
    top-left pixel is ``(x0, y0)`` in the ROI box)."""

    x0: int
    y0: int
    body: np.ndarray
    #: The body grown by a pixel (its eight neighbours).
    near_body: np.ndarray
    #: The hidden regions (8-connected) that touch the body.
    hidden: np.ndarray
    #: The heights at the threshold and above that are neither body nor hidden ...
    above: np.ndarray
    #: The heights over these pixels, mm.
    heights: np.ndarray
    #: ... their 8-connected parts (labels 1 to ``count - 1``; 0 elsewhere) ...
    parts: np.ndarray
    count: int
    #: ... and which of them touch a hidden region that touches the body.
    touching: np.ndarray
    #: A cable taken out of the body (``with_hidden``'s ``cables``), or ``None``.
    cables: np.ndarray | None


def _around_hidden(
    body: np.ndarray,
    x0: int,
    y0: int,
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    heights: Callable[[int, int, int, int], np.ndarray],
    threshold: int,
    box_shape: tuple[int, int],
    cables: tuple[np.ndarray, int, int] | None = None,
) -> _AroundHidden | None:
    """What lies round the hidden regions that touch ``body`` (whose top-left pixel is
    ``(x0, y0)`` in the box), or ``None`` when no part of the heights at ``threshold`` touches
    such a region. ``cables``: ``(pixels, x0, y0)``, uint8 (0/1), a cable taken out of the
    body, whose top-left pixel is ``(x0, y0)``; none of its pixels is among the parts."""
    _, _, cols, rows = cv2.boundingRect(body)
    window = _round_body(body, x0, y0, max(cols, rows), hidden, box_shape)
    if window is None:
        return None
    gx0, gy0, grown, mask = window
    near_body = cv2.dilate(grown, SQUARE)
    # Wu's SAUF, as filters.label_regions explains (this runs on the worker threads).
    count, regions = cv2.connectedComponentsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_SAUF)
    on_body = labels_under(regions, count, cv2.bitwise_and(near_body, mask))
    if not on_body.any():
        return None
    hidden_on_body = on_body[regions].view(np.uint8)
    beside = cv2.dilate(hidden_on_body, SQUARE)
    window_heights = heights(gy0, gy0 + grown.shape[0], gx0, gx0 + grown.shape[1])
    above = at_least(window_heights, threshold)
    above[cv2.bitwise_or(grown, mask) > 0] = 0
    cable = None
    if cables is not None:
        gx1, gy1 = gx0 + grown.shape[1], gy0 + grown.shape[0]
        cable = box_window(cables[0], cables[1], cables[2], gx0, gy0, gx1, gy1)
        above[cable > 0] = 0
    count, parts = cv2.connectedComponentsWithAlgorithm(above, 8, cv2.CV_32S, cv2.CCL_SAUF)
    touching = labels_under(parts, count, cv2.bitwise_and(beside, above))
    if cable is not None and touching.any():
        # The cable's stretch beyond the pixels taken out rises to its anchor.
        near_cable = labels_under(parts, count, cv2.dilate(cable, SQUARE))
        touching &= ~(near_cable & taller_parts(parts, count, window_heights, grown))
    if not touching.any():
        return None
    return _AroundHidden(
        gx0, gy0, grown, near_body, hidden_on_body, above, window_heights, parts, count,
        touching, cable,
    )  # fmt: skip


def _joined_across_hidden(
    around: _AroundHidden, half_width: float, animal_length: float | None = None
) -> np.ndarray | None:
    """The body joined with the parts of the animal that hidden pixels cut off from it (over
    ``around``'s pixels), or ``None`` when there are none.

    A cable or hand above ``max_height`` lying across the animal hides a strip of it, and
    the tracker follows one side. Each part of ``around.above`` that touches a hidden region
    touching the body, is as wide as a body (its deepest pixel at least
    :data:`JOIN_WIDTH_SHARE` times ``half_width`` from its outline; a cable's visible stretch
    or a speck of noise is narrower) and is not mostly taller than it
    (:func:`~.body_cables.taller_parts`: a bundle's stretch rising to its anchor, which the
    tail filter cut from the body where it leaves it, can be as wide), is joined; nothing is
    when the body with them would be longer than :data:`JOIN_LENGTH_SHARE` times
    ``animal_length`` (px, when given).
    """
    # The parts as wide as a body hold a pixel that deep inside them.
    depth = cv2.distanceTransform(around.above, cv2.DIST_L2, 5)
    deep = cv2.compare(depth, JOIN_WIDTH_SHARE * half_width, cv2.CMP_GE)
    joined = labels_under(around.parts, around.count, deep) & around.touching
    if joined.any():
        joined &= ~taller_parts(around.parts, around.count, around.heights, around.body)
    if not joined.any():
        return None
    body = cv2.bitwise_or(around.body, joined[around.parts].view(np.uint8))
    return None if _longer(body, animal_length) else body


def _longer(body: np.ndarray, animal_length: float | None) -> bool:
    """Whether ``body`` is longer than :data:`JOIN_LENGTH_SHARE` times ``animal_length`` (px;
    never when that is not known)."""
    return bool(animal_length) and body_length(body) > JOIN_LENGTH_SHARE * animal_length


def _flanks_beside_hidden(around: _AroundHidden, half_width: float) -> np.ndarray | None:
    """The body with its flanks beside a hidden strip along it (over ``around``'s pixels), or
    ``None`` when there are none.

    A cable above ``max_height`` lying along the animal's back hides a strip down its middle;
    the body either side of it is two slivers, narrower than the tail filter's disc, which
    removes them, and narrower than a body, so that :func:`_joined_across_hidden` leaves them
    out. The parts of ``around.above`` that touch both the body and a hidden region touching
    it are flanks where, with the body and those hidden regions, they are as wide as a body:
    where the opening of that union by a disc of radius :data:`JOIN_WIDTH_SHARE` times
    ``half_width`` keeps them, joined to the body. A tail, or a cable beside the body, is as
    narrow in the union as without it.
    """
    near = cv2.bitwise_and(around.near_body, around.above)
    flank = labels_under(around.parts, around.count, near) & around.touching
    if not flank.any():
        return None
    candidates = flank[around.parts].view(np.uint8)
    union = cv2.bitwise_or(cv2.bitwise_or(around.body, candidates), around.hidden)
    if around.cables is not None:
        # A cable taken out where it crosses the body hides body too.
        cv2.bitwise_or(union, around.cables, dst=union)
    # The window is the body's length round it; the rest is examined over the union's
    # bounding box (and a pixel of background round it), a ninth of that or less.
    x, y, cols, rows = cv2.boundingRect(union)
    x0, y0 = max(x - 1, 0), max(y - 1, 0)
    x1, y1 = min(x + cols + 1, union.shape[1]), min(y + rows + 1, union.shape[0])
    union, body = union[y0:y1, x0:x1], around.body[y0:y1, x0:x1]
    radius = max(1.0, JOIN_WIDTH_SHARE * half_width)
    opened = opened_by_disc(union, cv2.distanceTransform(union, cv2.DIST_L2, 5), radius)
    count, kept = cv2.connectedComponentsWithAlgorithm(opened, 8, cv2.CV_32S, cv2.CCL_SAUF)
    with_body = labels_under(kept, count, cv2.bitwise_and(opened, body))
    flanks = cv2.bitwise_and(with_body[kept].view(np.uint8), candidates[y0:y1, x0:x1])
    if cv2.countNonZero(flanks) == 0:
        return None
    grown = around.body.copy()
    grown[y0:y1, x0:x1] |= flanks
    return grown


def hidden_with(
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    pixels: np.ndarray,
    x0: int,
    y0: int,
) -> Callable[[int, int, int, int], np.ndarray | None]:
    """``hidden`` with ``pixels`` (uint8 0/1, whose top-left pixel is ``(x0, y0)`` in the box:
    a cable taken out of the body, a hand over it) hidden too."""

    def hidden_or_pixels(wy0: int, wy1: int, wx0: int, wx1: int) -> np.ndarray | None:
        mask = hidden(wy0, wy1, wx0, wx1)
        if mask is None:
            return None
        return cv2.bitwise_or(mask, box_window(pixels, x0, y0, wx0, wy0, wx1, wy1))

    return hidden_or_pixels


def _round_body(
    body: np.ndarray,
    x0: int,
    y0: int,
    margin: int,
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    box_shape: tuple[int, int],
) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """The pixels within ``margin`` of ``body``'s bounding box (within the ROI box): ``(x0,
    y0, body, hidden)`` over them, or ``None`` when which are hidden is not known there."""
    bx, by, cols, rows = cv2.boundingRect(body)
    box = (x0 + bx, y0 + by, x0 + bx + cols, y0 + by + rows)
    gx0, gy0, gx1, gy1 = grown_box(box, margin, box_shape)
    mask = hidden(gy0, gy1, gx0, gx1)
    if mask is None:
        return None
    return gx0, gy0, box_window(body, x0, y0, gx0, gy0, gx1, gy1), mask


def read_once(
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    body: np.ndarray,
    x0: int,
    y0: int,
    half_width: float,
    box_shape: tuple[int, int],
) -> tuple[np.ndarray | None, Callable[[int, int, int, int], np.ndarray | None]]:
    """The hidden pixels over ``body``'s window (whose top-left pixel is ``(x0, y0)``), and
    ``hidden`` cut from the same read for windows within it.

    It is read once over the window and the pixels within ``half_width`` (the body's deepest
    distance to its outline) and a pixel of its bounding box, where
    :func:`with_hidden` first looks (the body then is no larger).
    """
    rows, cols = body.shape
    bx, by, bw, bh = cv2.boundingRect(body)
    margin = math.ceil(half_width) + 1
    gx0, gy0, gx1, gy1 = grown_box(
        (x0 + bx, y0 + by, x0 + bx + bw, y0 + by + bh), margin, box_shape
    )
    rx0, ry0 = min(gx0, x0), min(gy0, y0)
    rx1, ry1 = max(gx1, x0 + cols), max(gy1, y0 + rows)
    read = hidden(ry0, ry1, rx0, rx1)
    if read is None:
        return None, hidden

    def within(wy0: int, wy1: int, wx0: int, wx1: int) -> np.ndarray | None:
        if rx0 <= wx0 and ry0 <= wy0 and wx1 <= rx1 and wy1 <= ry1:
            return read[wy0 - ry0 : wy1 - ry0, wx0 - rx0 : wx1 - rx0]
        return hidden(wy0, wy1, wx0, wx1)

    return read[y0 - ry0 : y0 - ry0 + rows, x0 - rx0 : x0 - rx0 + cols], within


def none_hidden_where_unknown(
    hidden: Callable[[int, int, int, int], np.ndarray | None] | None,
) -> Callable[[int, int, int, int], np.ndarray]:
    """``hidden`` (as :meth:`BodyCentroid.locate` takes it, or ``None``) answering "no pixel
    hidden" (zeros) where it answers ``None`` (not known)."""

    def known(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        mask = None if hidden is None else hidden(y0, y1, x0, x1)
        return np.zeros((y1 - y0, x1 - x0), np.uint8) if mask is None else mask

    return known
