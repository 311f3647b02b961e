"""The body's end under hidden pixels, from its seen outline: :func:`within_seen_outline`,
the last step of :func:`~depthextractors.extraction.body_hidden.with_hidden`.

Sharing hidden pixels out by nearness flattens the body where they cover its end (a cable
leaving over the head or rump): the floor seen either side of the cable is as near as the
body. A mouse or rat seen from above is close to an ellipse (moseq2's own ellipse scalars take
it so), and the outline where it is seen says where it runs under them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from .box_windows import SQUARE, labels_under, of_labels

__all__ = [
    "OUTLINE_AREA_SHARE",
    "OUTLINE_END_SHARE",
    "OUTLINE_INSET",
    "OUTLINE_LENGTH_SHARE",
    "OUTLINE_MIN_HIDDEN",
    "OUTLINE_MIN_POINTS",
    "OUTLINE_REAR_SHARE",
    "OUTLINE_SEEN_SHARE",
    "within_seen_outline",
]

#: Where hidden pixels cover the body's end, an ellipse fitted to its seen outline says where
#: the outline runs under them when the seen part (boundary pixels with no hidden neighbour) is
#: at least this share of the boundary ...
OUTLINE_SEEN_SHARE = 0.6
#: ... and at least this many pixels (an ellipse needs five; a few pixels say nothing of one).
OUTLINE_MIN_POINTS = 20
#: Fewer boundary pixels than this next to hidden ones are specks (a flying pixel, a single
#: invalid one), which hide no end of the body: nearness has given back what lies under them.
OUTLINE_MIN_HIDDEN = 3
#: An ellipse larger than this many times the body's area is not its outline (the body lies
#: inside its own outline; a stub or a flank kept pulls a fit outwards).
OUTLINE_AREA_SHARE = 1.5
#: Hidden pixels cover an end where those touching the body lie, on average, this share of
#: the ellipse's length from its centre along its axis (a cable across the middle, nearer).
OUTLINE_END_SHARE = 0.25
#: There, an ellipse shorter than this many times the animal's measured length is lengthened
#: to it: the body is that long in over 90% of the frames of untethered drawn sessions (0.88
#: times in 95%, 0.92 in 90%; 41 sessions, 4,764 frames): its end nearly always reaches there.
OUTLINE_LENGTH_SHARE = 0.9
#: ... unless the body's pixels in that end's quarter of the ellipse stand, at their median,
#: over this many times the animal's measured back height: a rearing front (projected shorter
#: than the animal is long; 2-4 times on a drawn rearing mouse whose bundle hides its front,
#: seed 3048, at most 1.5 times on the two sessions the lengthening helped most).
OUTLINE_REAR_SHARE = 1.6
#: The hidden pixels given to the body are those whose centres lie this far (px) inside the
#: ellipse through the centres of its boundary pixels: rather half a pixel too little body
#: than a rim of cable or floor.
OUTLINE_INSET = 0.5


def within_seen_outline(
    body: np.ndarray,
    x0: int,
    y0: int,
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    longest: float | None = None,
    animal_length: float | None = None,
    heights: Callable[[int, int, int, int], np.ndarray] | None = None,
    back_height: float | None = None,
) -> tuple[np.ndarray, int, int]:
    """``(body, x0, y0)`` with the hidden pixels next to it that lie inside the ellipse fitted
    to its seen outline.

    Sharing hidden pixels out by nearness flattens the body where they cover its end (a cable
    lying along the back and leaving over the head or rump): the floor seen either side of the
    cable is as near as the body. The outline where it is seen says where it runs under them:
    the boundary pixels of ``body`` none of whose eight neighbours is hidden are the seen
    outline and, where they are at least :data:`OUTLINE_SEEN_SHARE` of its boundary and at
    least :data:`OUTLINE_MIN_HIDDEN` boundary pixels are not, an ellipse is fitted to their
    centres (:func:`cv2.fitEllipseDirect`) (a mouse or rat seen from above is close to one, as
    moseq2's own ellipse scalars take it). The hidden pixels inside it (their centres
    :data:`OUTLINE_INSET` px inside the ellipse through the boundary pixels' centres) that
    join the body are body. Where they cover the whole cap of one end (a cable over the head
    or rump), the seen outline closes short of it: an ellipse shorter than
    :data:`OUTLINE_LENGTH_SHARE` times ``animal_length`` is lengthened to that towards the end
    they cover, and the hidden pixels inside either ellipse are body, unless the body's
    pixels in that end's quarter of the ellipse stand, at their median, over
    :data:`OUTLINE_REAR_SHARE` times ``back_height`` (mm, when given; ``heights(y0, y1, x0,
    x1)`` reads them): a rearing front projects shorter than the animal is long, and a cable
    lying on the body there hides no flat end. Nothing is added where
    the ellipse is not the body's: larger than :data:`OUTLINE_AREA_SHARE` times its area, or
    longer than ``longest`` (px, when given; :func:`~.body_hidden.with_hidden` gives 1.25
    times the animal's measured length), as a stub or a cable kept beside the body makes it.
    ``hidden(y0, y1, x0, x1)``: the hidden pixels (a cable taken out among them), uint8
    (0/1), or ``None`` where not known (nothing is added). ``animal_length``: the animal's
    measured length, px.
    """
    rows, cols = body.shape
    covered = hidden(y0, y0 + rows, x0, x0 + cols)
    if covered is None:
        return body, x0, y0
    covered = cv2.subtract(covered, body)
    next_to_covered = cv2.dilate(covered, SQUARE)
    if cv2.countNonZero(cv2.bitwise_and(next_to_covered, body)) == 0:
        return body, x0, y0
    contours, _ = cv2.findContours(body, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = np.concatenate(contours)[:, 0, :]
    seen = outline[next_to_covered[outline[:, 1], outline[:, 0]] == 0]
    if len(outline) - len(seen) < OUTLINE_MIN_HIDDEN:
        # Specks, or what is hidden lies inside the outline: nearness has shared it out.
        return body, x0, y0
    if len(seen) < max(OUTLINE_MIN_POINTS, OUTLINE_SEEN_SHARE * len(outline)):
        return body, x0, y0
    centre, axes, angle = cv2.fitEllipseDirect(seen.astype(np.float32))
    area = math.pi * axes[0] * axes[1] / 4.0
    body_area = cv2.countNonZero(body)
    if not (math.isfinite(area) and area <= OUTLINE_AREA_SHARE * body_area):
        return body, x0, y0
    if longest and max(axes) > longest:
        return body, x0, y0
    inside = np.zeros_like(body)
    cv2.ellipse(inside, _inset((centre, axes, angle)), 1, cv2.FILLED)
    lengthened = _lengthened_to_the_animal(
        (centre, axes, angle), body, covered, (x0, y0), animal_length, heights, back_height
    )
    if lengthened is not None:
        cv2.ellipse(inside, _inset(lengthened), 1, cv2.FILLED)
    added = cv2.bitwise_and(inside, covered)
    if cv2.countNonZero(added) == 0:
        return body, x0, y0
    # Wu's SAUF, as filters.label_regions explains (it runs on the worker threads).
    count, parts = cv2.connectedComponentsWithAlgorithm(
        cv2.bitwise_or(body, added), 8, cv2.CV_32S, cv2.CCL_SAUF
    )
    joined = of_labels(parts, labels_under(parts, count, body))
    if cv2.countNonZero(joined) == body_area:
        return body, x0, y0
    return joined, x0, y0


def _inset(ellipse: tuple) -> tuple:
    """``(centre, axes, angle)`` with both axes :data:`OUTLINE_INSET` px shorter at each end
    (at least 1 px)."""
    centre, axes, angle = ellipse
    inset = (max(axes[0] - 2 * OUTLINE_INSET, 1.0), max(axes[1] - 2 * OUTLINE_INSET, 1.0))
    return centre, inset, angle


def _lengthened_to_the_animal(
    ellipse: tuple,
    body: np.ndarray,
    covered: np.ndarray,
    origin: tuple[int, int],
    animal_length: float | None,
    heights: Callable[[int, int, int, int], np.ndarray] | None,
    back_height: float | None,
) -> tuple | None:
    """The ellipse of the body's seen outline (``(centre, axes, angle)``, as
    :func:`cv2.fitEllipseDirect` gives it) lengthened to :data:`OUTLINE_LENGTH_SHARE` times
    ``animal_length`` (px) towards the end the hidden pixels ``covered`` (uint8 0/1, none of
    them body) cover, its other end and width kept; ``None`` where it is that long already,
    the length is not known, the hidden pixels touching ``body`` do not lie at one end
    (:data:`OUTLINE_END_SHARE`), or the body stands at that end
    (:func:`_stands_at_the_end`). ``origin``: ``body``'s top-left pixel in the box."""
    if not animal_length:
        return None
    (cx, cy), axes, angle = ellipse
    length, width = max(axes), min(axes)
    wanted = OUTLINE_LENGTH_SHARE * animal_length
    if length >= wanted:
        return None
    # cv2's first axis runs at ``angle`` degrees (clockwise on the image, y down).
    theta = math.radians(angle if axes[0] >= axes[1] else angle + 90.0)
    ux, uy = math.cos(theta), math.sin(theta)
    m = cv2.moments(cv2.bitwise_and(covered, cv2.dilate(body, SQUARE)), binaryImage=True)
    along = (m["m10"] / m["m00"] - cx) * ux + (m["m01"] / m["m00"] - cy) * uy
    if abs(along) < OUTLINE_END_SHARE * length:
        return None
    side = math.copysign(1.0, along)
    ux, uy = side * ux, side * uy
    if _stands_at_the_end(body, origin, (cx, cy), (ux, uy), OUTLINE_END_SHARE * length,
                          heights, back_height):  # fmt: skip
        return None
    shift = 0.5 * (wanted - length)
    axes = (wanted, width) if axes[0] >= axes[1] else (width, wanted)
    return (cx + shift * ux, cy + shift * uy), axes, angle


def _stands_at_the_end(
    body: np.ndarray,
    origin: tuple[int, int],
    centre: tuple[float, float],
    towards: tuple[float, float],
    start: float,
    heights: Callable[[int, int, int, int], np.ndarray] | None,
    back_height: float | None,
) -> bool:
    """Whether ``body``'s pixels lying more than ``start`` px from ``centre`` along the unit
    vector ``towards`` (the seen ellipse's quarter at the hidden end) stand, at their median,
    over :data:`OUTLINE_REAR_SHARE` times ``back_height`` (mm); never when either is not known
    or no body pixel lies there. ``origin``: ``body``'s top-left pixel in the box."""
    if heights is None or not back_height:
        return False
    ys, xs = np.nonzero(body)
    at_the_end = (xs - centre[0]) * towards[0] + (ys - centre[1]) * towards[1] > start
    if not at_the_end.any():
        return False
    x0, y0 = origin
    window = heights(y0, y0 + body.shape[0], x0, x0 + body.shape[1])
    return float(np.median(window[ys[at_the_end], xs[at_the_end]])) > (
        OUTLINE_REAR_SHARE * back_height
    )
