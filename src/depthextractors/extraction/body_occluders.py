"""A hand over the animal: what stands over it within the height range (:func:`occluders`),
and how far the body goes on under a hand (:func:`no_longer_than_the_animal`).

A hand reaching in over the animal hides the body below it. Over a mouse it stands above
``max_height`` and the frame's depth says so (it is hidden, :meth:`ArenaHeights.hidden
<depthextractors.extraction.heights.ArenaHeights.hidden>`); over a rat, whose ``max_height``
is set for rearing, it lies within the height range and joins the object as if it were body.
It is told from a rearing body by the step at its edge: a body rises from its back to its
raised head and shoulders without a break, a hand hovers far above what it covers. The body
centroid then takes such a part as hidden depth, as it takes the hand above a mouse. A hand
is told from a cable by its width (:func:`hand_depth`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from .body_cables import back_height, body_length
from .box_windows import box_window, opened_by_disc

__all__ = [
    "HAND_MIN_RADIUS_MM",
    "OCCLUDER_HEIGHT_SHARE",
    "OCCLUDER_STEP_SHARE",
    "OCCLUDER_WIDTH_SHARE",
    "hand_depth",
    "no_longer_than_the_animal",
    "occluders",
]

#: A part standing over the animal is at least this many times as tall as its back.
OCCLUDER_HEIGHT_SHARE = 2.0
#: ... and stands this many times the back's height above the body round it: the median of its
#: edge's heights against the median of the body's pixels just outside it.
OCCLUDER_STEP_SHARE = 1.0
#: ... and is as wide as a hand, not a bundle: it holds a disc of this share of the body's
#: half-width in radius (drawn sessions: a hand over a rat 0.6-0.9; bundles lying over a
#: mouse's back, 2-3 times as tall as it, 0.34-0.39) ...
OCCLUDER_WIDTH_SHARE = 0.5
#: ... and of this radius, mm: a palm is 50 mm or more across; the thickest tether bundles
#: about 15 (over a juvenile mouse they are as wide as half its body).
HAND_MIN_RADIUS_MM = 12.0
_SQUARE = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))


def hand_depth(half_width: float, hand_radius: float) -> float:
    """How deep (distance to its outline, px) a part or a hidden region must be to be a hand:
    :data:`OCCLUDER_WIDTH_SHARE` of the body's ``half_width`` (px) and ``hand_radius``
    (:data:`HAND_MIN_RADIUS_MM` in pixels at the floor)."""
    return max(OCCLUDER_WIDTH_SHARE * half_width, hand_radius)


def occluders(
    smoothed: np.ndarray, body: np.ndarray, half_width: float, hand_radius: float
) -> np.ndarray | None:
    """The parts of ``body`` that stand over the animal rather than being it, or ``None``.

    A part is 8-connected pixels of ``body`` taller than :data:`OCCLUDER_HEIGHT_SHARE` times
    the back (:func:`~.body_cables.back_height`), as deep as a hand (:func:`hand_depth`),
    whose edge stands more than
    :data:`OCCLUDER_STEP_SHARE` times the back above the body pixels touching it (medians of
    each).

    Parameters
    ----------
    smoothed : numpy.ndarray
        Heights over ``body``'s window, mm.
    body : numpy.ndarray
        uint8 (0/1) body pixels.
    half_width : float
        The body's deepest distance to its outline, px.
    hand_radius : float
        :data:`HAND_MIN_RADIUS_MM` in pixels at the floor.

    Returns
    -------
    numpy.ndarray or None
        uint8 (0/1) over the window, or ``None`` where no part stands over the animal.
    """
    pixels = cv2.countNonZero(body)
    if pixels == 0:
        return None
    tallest = cv2.minMaxLoc(smoothed, body)[1]
    # Most frames end here: nothing is twice as tall as the body's median (its upper middle
    # value, pixels // 2 from the lowest), and the back is at least as tall as that. The
    # median reaches the whole millimetres from ceil(tallest / 2) when no more than
    # pixels // 2 heights lie below them: counted, not sorted.
    lowest_half = math.ceil(tallest / OCCLUDER_HEIGHT_SHARE)
    below = cv2.bitwise_and(cv2.compare(smoothed, lowest_half, cv2.CMP_LT), body)
    if cv2.countNonZero(below) <= pixels // 2:
        return None
    back = back_height(smoothed, body)
    if back <= 0 or tallest <= OCCLUDER_HEIGHT_SHARE * back:
        return None
    tall = cv2.bitwise_and(
        cv2.compare(smoothed, OCCLUDER_HEIGHT_SHARE * back, cv2.CMP_GT), body * 255
    )
    count, labels = cv2.connectedComponents(tall, connectivity=8)
    inside = cv2.distanceTransform(tall, cv2.DIST_L2, 5)
    edge = cv2.subtract(tall, cv2.erode(tall, _SQUARE))
    # The body pixels touching each part, labelled by the part (the larger label where two
    # parts touch the same pixel).
    around = cv2.dilate(labels.astype(np.uint16), _SQUARE)
    around[(tall > 0) | (body == 0)] = 0
    found = np.zeros(body.shape, dtype=np.uint8)
    for label in range(1, count):
        part = labels == label
        if inside[part].max() < hand_depth(half_width, hand_radius):
            continue
        below = smoothed[around == label]
        if below.size == 0:
            continue
        step = float(np.median(smoothed[part & (edge > 0)])) - float(np.median(below))
        if step > OCCLUDER_STEP_SHARE * back:
            found[part] = 1
    return found if found.any() else None


def no_longer_than_the_animal(
    seen: tuple[np.ndarray, int, int],
    given_to: tuple[np.ndarray, int, int],
    hidden: Callable[[int, int, int, int], np.ndarray | None],
    half_width: float,
    hand_radius: float,
    animal_length: float,
) -> tuple[np.ndarray, int, int]:
    """``given_to`` (``(body, x0, y0)``: the body with the hidden pixels given to it) without
    those of hidden regions as deep as a hand (:func:`hand_depth`) farther along its axis than
    ``animal_length`` (px) from the far end of what was seen of it (``seen``, ``(body, x0,
    y0)`` before).

    Nearness gives a body whose end a hand hides up to half its width past that end, longer
    than the animal (drawn sessions: the centroid 2-4 px towards the hand). Under a cable
    nothing goes (a stretched animal stays longer than its median length), nor anything
    within the seen body's extent along the axis, nor anything where the body is no longer
    than the animal. ``hidden(y0, y1, x0, x1)``: the hidden pixels, uint8 (0/1), or ``None``
    where not known (nothing goes).
    """
    seen_body, sx0, sy0 = seen
    body, x0, y0 = given_to
    if body is seen_body:
        return given_to
    rows, cols = body.shape
    before = box_window(seen_body, sx0, sy0, x0, y0, x0 + cols, y0 + rows)
    given = cv2.subtract(body, before)
    if cv2.countNonZero(given) == 0 or body_length(body) <= animal_length:
        return given_to
    covered = hidden(y0, y0 + rows, x0, x0 + cols)
    if covered is None:
        return given_to
    deep = cv2.distanceTransform(covered, cv2.DIST_L2, 5)
    given = cv2.bitwise_and(
        given, opened_by_disc(covered, deep, hand_depth(half_width, hand_radius))
    )
    if cv2.countNonZero(given) == 0:
        return given_to
    moments = cv2.moments(body, binaryImage=True)
    angle = 0.5 * math.atan2(2.0 * moments["mu11"], moments["mu20"] - moments["mu02"])
    ux, uy = math.cos(angle), math.sin(angle)
    rows_seen, cols_seen = np.nonzero(before)
    along_seen = cols_seen * ux + rows_seen * uy
    low, high = float(along_seen.min()), float(along_seen.max())
    rows_given, cols_given = np.nonzero(given)
    along = cols_given * ux + rows_given * uy
    # The body goes on under the hidden pixels on the side most given pixels reach past.
    if np.count_nonzero(along > high) >= np.count_nonzero(along < low):
        beyond = along > max(high, low + animal_length)
    else:
        beyond = along < min(low, high - animal_length)
    if not beyond.any():
        return given_to
    trimmed = body.copy()
    trimmed[rows_given[beyond], cols_given[beyond]] = 0
    return trimmed, x0, y0
