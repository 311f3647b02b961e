"""What the filters trimmed off the tracked object that is body again: :class:`TrimmedParts`
(the body centroid's second step, :class:`~depthextractors.extraction.body_centroid.BodyCentroid`).

The tail filter (a morphological opening) trims the snout's tip and the flanks as well as the
tail. Every 8-connected part of the heights at the threshold that the object lacks comes back
when it touches the object and none of its pixels lies farther from it than the filter's
radius and a pixel (the reach); the tail and cables reach farther and stay out. Where the
snout is narrower than the filter's disc for longer than that (coarse pixels, a rat's long
head), its tip reaches farther: a part reaching no farther than :data:`SNOUT_REACH` times the
reach comes back too when it is as wide as :data:`SNOUT_WIDTH_SHARE` of the disc where it
leaves the object, no taller than the object's back and pointing along its axis (tails and
cables are narrower, cables taller, and they leave the body sideways too).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .box_windows import SQUARE, high_level, of_labels
from .filters import FrameFilters

__all__ = [
    "HEAD_WIDTH_SHARE",
    "SNOUT_AXIS_ANGLE",
    "SNOUT_REACH",
    "SNOUT_WIDTH_SHARE",
    "TrimmedParts",
]

#: A part the tail filter trimmed that reaches farther from the object than the filter's radius
#: (and a pixel) is still the snout's tip when it reaches no farther than this many times that
#: reach (the tip of a snout narrower than the filter's disc, seen at coarse pixels or on a
#: rat's long head) ...
SNOUT_REACH = 2.0
#: ... is at least this share of the filter's disc wide where it leaves the object (it was cut
#: off where the snout became narrower than the disc; a tail or a cable is narrower), and is
#: nowhere taller than the object's 95th-percentile height (a snout slopes down from the back;
#: a cable's stub rises to its anchor).
SNOUT_WIDTH_SHARE = 0.75
#: ... and points along the object's long axis: the direction from where it leaves the object
#: (its pixels touching it) to its centroid is within this angle of the axis, degrees (a cable
#: or a limb leaves the body sideways, at its end too).
SNOUT_AXIS_ANGLE = 30.0
#: With the tether filter on (``tether_filter_size``, which ``animal: auto`` sets for a tethered
#: animal), a part it removed can be a head narrower than its disc that reached out of the
#: body's ellipse (a rat's tapering head at fine pixels): a part reaching farther than a
#: snout's reach, but no farther than the disc's diameter, is a head when it passes the
#: snout's tests and is at least this share of the disc's radius wide where it leaves the
#: object (a head is about half as wide as the body, the disc three quarters of it; a tail's
#: base is at most a fifth of it, a bundle's stretch rises above the back).
HEAD_WIDTH_SHARE = 0.5


class TrimmedParts:
    """Puts back what the tail filter trimmed off a tracked object where it is body.

    Parameters
    ----------
    filters : FrameFilters
        The extraction's spatial filters: the tail filter's size sets how far from the
        object a trimmed part may reach and still be put back (nothing is without it), the
        tether filter's how far a head it removed may reach (:data:`HEAD_WIDTH_SHARE`).

    Attributes
    ----------
    reach : int
        Pixels from the object within which trimmed parts are put back (0: no tail filter).
    tail_radius : int or None
        The tail filter's radius, px (``None``: no tail filter).
    margin : int
        Pixels round the object that must be seen to judge its parts: the reach and two
        pixels (what lies just past the reach is far).
    tip_margin : int
        The same where a part may be the snout's tip (or a head the tether filter removed):
        its reach and two pixels.
    """

    def __init__(self, filters: FrameFilters) -> None:
        on = filters.tail_iterations > 0
        self.reach = max(filters.tail_size) // 2 + 1 if on else 0
        self.tail_radius = max(filters.tail_size) // 2 if on else None
        self._snout_reach = math.floor(SNOUT_REACH * self.reach)
        self._head_reach = self._snout_reach
        self._head_width = math.inf
        if self.reach and filters.tether_size > 0:
            self._head_reach = max(self._snout_reach, int(filters.tether_size))
            self._head_width = HEAD_WIDTH_SHARE * filters.tether_size / 2
        self.margin = self.reach + 2
        self.tip_margin = self._head_reach + 2
        # Whole-pixel distances to the body: 0 touching it, 1 within reach, 2 within a snout's
        # reach, 3 within a head's (none without the tether filter), 4 beyond.
        self._distance_kinds = np.full(256, 4, dtype=np.uint8)
        self._distance_kinds[: self._head_reach + 1] = 3
        self._distance_kinds[: self._snout_reach + 1] = 2
        self._distance_kinds[: self.reach + 1] = 1
        self._distance_kinds[:2] = 0

    def __repr__(self) -> str:
        return (
            f"TrimmedParts(reach={self.reach} px, snout reach={self._snout_reach} px, "
            f"head reach={self._head_reach} px)"
        )

    def put_back(
        self,
        body: np.ndarray,
        candidates: np.ndarray,
        smoothed: np.ndarray,
        tips_judged: bool = True,
    ) -> tuple[bool, np.ndarray | None, bool]:
        """Add to ``body`` (in place) the trimmed parts that touch it and stay within reach,
        and those that are the snout's tip (:meth:`snout_tips`): ``(complete, left_out,
        rises)``.
        ``complete`` is false, and nothing is added, when ``tips_judged`` is false and a part
        may be the snout's tip (how far it reaches is told only over pixels holding
        :attr:`tip_margin` round the body). ``left_out``: uint8 (0/1), the parts touching the
        body that were left out (a tail, a cable going on), or ``None``; ``rises``: whether a
        trimmed pixel left out rises above the body's tallest (a cable's stretch; a tail lies
        lower)."""
        trimmed = cv2.subtract(candidates, body)
        count, labels = cv2.connectedComponents(trimmed, connectivity=8, ltype=cv2.CV_16U)
        if count < 2:
            return True, None, False
        # Each trimmed part's distances to the body (OpenCV's 3x3 chamfer approximation),
        # rounded to whole pixels and sorted into touching (0-1), within reach, within a
        # snout's reach, within a head's and beyond: one histogram of five bins per part.
        outside = cv2.threshold(body, 0, 1, cv2.THRESH_BINARY_INV)[1]
        distance = cv2.convertScaleAbs(cv2.distanceTransform(outside, cv2.DIST_L2, 3))
        kind = cv2.LUT(distance, self._distance_kinds).astype(np.uint16)
        histogram = cv2.calcHist([labels, kind], [0, 1], trimmed, [count, 5], [0, count, 0, 5])
        reached = histogram > 0
        touching = reached[:, 0]
        beyond_reach = reached[:, 2] | reached[:, 3]
        within = ~reached[:, 4]
        back = touching & ~beyond_reach & within
        tips = touching & beyond_reach & within
        tips[0] = False
        if tips.any():
            snout = self.snout_tips(body, labels, tips, smoothed, reached[:, 3])
            if not tips_judged and snout.any():
                return False, None, False
            back |= snout
        back[0] = False
        cv2.bitwise_or(body, of_labels(labels, back), dst=body)
        left = touching & ~back
        if not left.any():
            return True, None, False
        # What is put back is body now: a trimmed pixel taller than all of it was left out.
        rises = cv2.minMaxLoc(smoothed, trimmed)[1] > cv2.minMaxLoc(smoothed, body)[1]
        return True, of_labels(labels, left), rises

    def snout_tips(
        self,
        body: np.ndarray,
        labels: np.ndarray,
        tips: np.ndarray,
        smoothed: np.ndarray,
        heads: np.ndarray | None = None,
    ) -> np.ndarray:
        """Which of the trimmed parts ``tips`` (by label; each touching ``body`` and reaching
        beyond the reach but within :data:`SNOUT_REACH` times it, or a head's reach) are a
        snout's tip: at least :data:`SNOUT_WIDTH_SHARE` of the tail filter's disc wide (the
        deepest of their pixels within the body and them together lies that share of the
        disc's radius from the outline), nowhere taller than the body's 95th-percentile
        height, and pointing along the body's long axis (within :data:`SNOUT_AXIS_ANGLE` of
        it, from its pixels touching the body to its centroid). ``heads`` (bool by label):
        the parts reaching beyond a snout's reach, which must be :data:`HEAD_WIDTH_SHARE` of
        the tether filter's disc wide instead."""
        pixels = of_labels(labels, tips)
        width = cv2.distanceTransform(cv2.bitwise_or(body, pixels), cv2.DIST_L2, 5)
        # Most frames' candidates are a tail, narrow everywhere: one test over the image.
        deep = cv2.compare(width, SNOUT_WIDTH_SHARE * self.tail_radius, cv2.CMP_GE)
        if cv2.countNonZero(cv2.bitwise_and(deep, pixels)) == 0:
            return np.zeros_like(tips)
        rows, cols = np.nonzero(pixels)
        owner = labels[rows, cols]
        widest = np.zeros(tips.size, dtype=np.float32)
        np.maximum.at(widest, owner, width[rows, cols])
        needed = SNOUT_WIDTH_SHARE * self.tail_radius
        if heads is not None and heads.any():
            needed = np.where(heads, max(self._head_width, needed), needed)
        snout = tips & (widest >= needed)
        if not snout.any():
            return snout
        tallest = np.zeros(tips.size, dtype=np.float32)
        np.maximum.at(tallest, owner, smoothed[rows, cols])
        snout &= tallest <= high_level(smoothed, body)
        if not snout.any():
            return snout
        moments = cv2.moments(body, binaryImage=True)
        axis = 0.5 * math.atan2(2.0 * moments["mu11"], moments["mu20"] - moments["mu02"])
        dx, dy = _mean_position(owner, cols, rows, tips.size)
        touching = cv2.dilate(body, SQUARE)[rows, cols] > 0
        start_x, start_y = _mean_position(
            owner[touching], cols[touching], rows[touching], tips.size
        )
        dx, dy = dx - start_x, dy - start_y
        along = np.abs(dx * math.cos(axis) + dy * math.sin(axis))
        return snout & (along >= math.cos(math.radians(SNOUT_AXIS_ANGLE)) * np.hypot(dx, dy))


def _mean_position(
    owner: np.ndarray, cols: np.ndarray, rows: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the mean column and row of the pixels of each label below ``count`` (0
    where a label has none)."""
    pixels = np.maximum(np.bincount(owner, minlength=count), 1)
    x = np.bincount(owner, cols, minlength=count) / pixels
    return x, np.bincount(owner, rows, minlength=count) / pixels
