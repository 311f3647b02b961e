"""What stands over the animal within the height range: :func:`occluders`.

A hand reaching in over the animal hides the body below it. Over a mouse it stands above
``max_height`` and the frame's depth says so (it is hidden, :meth:`ArenaHeights.hidden
<depthextractors.extraction.heights.ArenaHeights.hidden>`); over a rat, whose ``max_height``
is set for rearing, it lies within the height range and joins the object as if it were body.
It is told from a rearing body by the step at its edge: a body rises from its back to its
raised head and shoulders without a break, a hand hovers far above what it covers. The body
centroid then takes such a part as hidden depth, as it takes the hand above a mouse.
"""

from __future__ import annotations

import cv2
import numpy as np

from .body_cables import back_height

__all__ = [
    "HAND_MIN_RADIUS_MM",
    "OCCLUDER_HEIGHT_SHARE",
    "OCCLUDER_STEP_SHARE",
    "OCCLUDER_WIDTH_SHARE",
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


def occluders(
    smoothed: np.ndarray, body: np.ndarray, half_width: float, hand_radius: float
) -> np.ndarray | None:
    """The parts of ``body`` that stand over the animal rather than being it, or ``None``.

    A part is 8-connected pixels of ``body`` taller than :data:`OCCLUDER_HEIGHT_SHARE` times
    the back (:func:`~.body_cables.back_height`), at least :data:`OCCLUDER_WIDTH_SHARE` of
    ``half_width`` and ``hand_radius`` deep (distance to their outline), whose edge stands
    more than
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
    tallest = cv2.minMaxLoc(smoothed, body)[1]
    values = smoothed[body > 0]
    if values.size == 0:
        return None
    # Most frames end here: nothing is twice as tall as the body's median, and the back is
    # at least as tall as that.
    if tallest <= OCCLUDER_HEIGHT_SHARE * float(
        np.partition(values, values.size // 2)[values.size // 2]
    ):
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
        if inside[part].max() < max(OCCLUDER_WIDTH_SHARE * half_width, hand_radius):
            continue
        below = smoothed[around == label]
        if below.size == 0:
            continue
        step = float(np.median(smoothed[part & (edge > 0)])) - float(np.median(below))
        if step > OCCLUDER_STEP_SHARE * back:
            found[part] = 1
    return found if found.any() else None
