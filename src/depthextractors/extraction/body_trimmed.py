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

A cable rising from the head joins the snout's tip to its own stretch: one trimmed part that
reaches far and stands tall. Where a part left out rises above the object's 95th-percentile
height from pixels touching the object (the cable leaves over the head, not beyond a low
stretch of its own), its pixels no taller than the object's median height are judged again as
parts of their own, each by the snout's tests (within reach too: a slack cable's low stretch
lies as near), the cable's pixels counted into the width of those reaching beyond a snout's
reach (the cable hides part of the head; counted for all, they let a flank's sliver beside a
cable from the back pass for a snout). What passes is put back and kept by the cable steps
that follow (:attr:`PutBack.beside_cable`), and the cable's pixels are shared out between body
and floor as those of a cable taken out are (:attr:`PutBack.cable`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from .box_windows import SQUARE, high_level, of_labels
from .filters import FrameFilters

__all__ = [
    "HEAD_WIDTH_SHARE",
    "SNOUT_AXIS_ANGLE",
    "SNOUT_REACH",
    "SNOUT_WIDTH_SHARE",
    "PutBack",
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


class PutBack(NamedTuple):
    """What :meth:`TrimmedParts.put_back` found, over the pixels it was given."""

    #: False, and nothing was put back, when a part may be the snout's tip and the pixels
    #: given were too few to tell (``tips_judged`` false).
    complete: bool
    #: uint8 (0/1): the trimmed parts touching the body that were left out (a tail, a cable
    #: going on), or ``None``.
    left_out: np.ndarray | None
    #: Whether a trimmed pixel left out rises above the body's tallest (a cable's stretch; a
    #: tail lies lower).
    rises: bool
    #: uint8 (0/1): the snout's tip put back from beside a cable rising from the head, which
    #: the cable steps keep (they would take it for the cable's or a tail's), or ``None``.
    beside_cable: np.ndarray | None = None
    #: uint8 (0/1): that cable's pixels, which hide the head under them, or ``None``.
    cable: np.ndarray | None = None


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
    ) -> PutBack:
        """Add to ``body`` (in place) the trimmed parts that touch it and stay within reach,
        those that are the snout's tip (:meth:`snout_tips`), and a snout's tip beside a cable
        rising from the head (the module's notes).

        Parameters
        ----------
        body : numpy.ndarray
            uint8 (0/1) body pixels; what is put back is added to it.
        candidates : numpy.ndarray
            uint8 (0/1): the heights at the threshold over the same pixels.
        smoothed : numpy.ndarray
            The heights after the filters before the tail filter over the same pixels, mm.
        tips_judged : bool, default True
            False where the pixels do not hold :attr:`tip_margin` round the body: then
            nothing is added, and the result is not complete, when a part may be the snout's
            tip (how far it reaches is told only over such pixels).

        Returns
        -------
        PutBack
        """
        trimmed = cv2.subtract(candidates, body)
        count, labels = cv2.connectedComponents(trimmed, connectivity=8, ltype=cv2.CV_16U)
        if count < 2:
            return PutBack(True, None, False)
        # Each trimmed pixel's distance to the body (OpenCV's 3x3 chamfer approximation),
        # rounded to whole pixels and sorted into touching (0-1), within reach, within a
        # snout's reach, within a head's and beyond.
        outside = cv2.threshold(body, 0, 1, cv2.THRESH_BINARY_INV)[1]
        distance = cv2.convertScaleAbs(cv2.distanceTransform(outside, cv2.DIST_L2, 3))
        kind = cv2.LUT(distance, self._distance_kinds).astype(np.uint16)
        back, left, maybe_tips = self._verdict(body, labels, count, trimmed, kind, smoothed)
        if maybe_tips and not tips_judged:
            return PutBack(False, None, False)
        beside = cable = None
        any_left = bool(left.any())
        if any_left:
            tallest = cv2.minMaxLoc(smoothed, trimmed)[1]
            found = self._beside_cable(body, labels, left, trimmed, kind, smoothed, tallest)
            if found is not None:
                beside, cable, reaching = found
                if reaching and not tips_judged:
                    return PutBack(False, None, False)
        cv2.bitwise_or(body, of_labels(labels, back), dst=body)
        if beside is not None:
            cv2.bitwise_or(body, beside, dst=body)
        if not any_left:
            return PutBack(True, None, False)
        left_out = of_labels(labels, left)
        if beside is not None:
            left_out = cv2.subtract(left_out, beside)
        # What is put back is body now: a trimmed pixel taller than all of it was left out.
        rises = tallest > cv2.minMaxLoc(smoothed, body)[1]
        return PutBack(True, left_out, rises, beside, cable)

    def _verdict(
        self,
        body: np.ndarray,
        labels: np.ndarray,
        count: int,
        parts: np.ndarray,
        kind: np.ndarray,
        smoothed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """``(back, left, maybe_tips)`` for the trimmed parts ``labels`` (``count`` labels
        over the uint8 pixels ``parts``): bool by label, the parts that touch ``body`` and
        are body (within reach, or a snout's tip) and those that touch it and are not, and
        whether a snout's tip is among them. ``kind``:
        each pixel's distance to the body sorted into touching, within reach, a snout's
        reach, a head's and beyond (uint16)."""
        # One histogram of five bins per part.
        histogram = cv2.calcHist([labels, kind], [0, 1], parts, [count, 5], [0, count, 0, 5])
        reached = histogram > 0
        touching = reached[:, 0]
        touching[0] = False
        beyond_reach = reached[:, 2] | reached[:, 3]
        within = ~reached[:, 4]
        back = touching & ~beyond_reach & within
        tips = touching & beyond_reach & within
        maybe_tips = False
        if tips.any():
            snout = self.snout_tips(body, labels, tips, smoothed, reached[:, 3])
            maybe_tips = bool(snout.any())
            back |= snout
        return back, touching & ~back, maybe_tips

    def _beside_cable(
        self,
        body: np.ndarray,
        labels: np.ndarray,
        left: np.ndarray,
        trimmed: np.ndarray,
        kind: np.ndarray,
        smoothed: np.ndarray,
        tallest: float,
    ) -> tuple[np.ndarray, np.ndarray, bool] | None:
        """A snout's tip among the trimmed parts ``left`` (bool by label) that were left
        out, beside a cable rising from the head (the module's notes): ``(tip, cable,
        reaching)``, uint8 (0/1) pixels of the tip and of the cable's parts it was told from,
        and whether the tip reaches beyond the reach (a window holding less than
        :attr:`tip_margin` round the body cannot tell how far); ``None`` where there is
        none. ``tallest``: the tallest trimmed pixel, mm."""
        # Most frames' parts left out are a tail, lower than the back: the tallest of them is
        # no taller than the body's 95th percentile when that many of the body's pixels are
        # as tall (high_level's rank), which counting tells at a fraction of the sort's cost.
        pixels = cv2.countNonZero(body)
        as_tall = cv2.mean(cv2.compare(smoothed, tallest, cv2.CMP_GE), body)[0] / 255.0
        if round(as_tall * pixels) >= pixels - int(0.95 * (pixels - 1)):
            return None
        level = high_level(smoothed, body)
        tall = cv2.bitwise_and(trimmed, cv2.compare(smoothed, level, cv2.CMP_GT))
        # The cable rises from the body itself (over the head), not beyond a low stretch of
        # its own.
        rising_there = (tall > 0) & (kind == 0)
        rising = left & (np.bincount(labels[rising_there], minlength=left.size) > 0)
        if not rising.any():
            return None
        # A snout is lower than most of the back; a slack cable beside it can lie as high.
        median = float(np.median(smoothed[body > 0]))
        rising_parts = of_labels(labels, rising)
        low = cv2.bitwise_and(rising_parts, cv2.compare(smoothed, median, cv2.CMP_LE))
        count, parts = cv2.connectedComponents(low, connectivity=8, ltype=cv2.CV_16U)
        if count < 2:
            return None
        histogram = cv2.calcHist([parts, kind], [0, 1], low, [count, 5], [0, count, 0, 5])
        reached = histogram > 0
        # Each must pass the snout's tests, within reach too: a slack cable's low stretch
        # beside its rise lies as near.
        tips = reached[:, 0] & ~reached[:, 4]
        tips[0] = False
        if not tips.any():
            return None
        # The cable's pixels hide part of a head's width (of a part reaching beyond a
        # snout's reach; nearer, a flank's sliver beside the cable would pass for a snout).
        cable = cv2.subtract(rising_parts, low)
        heads = reached[:, 3]
        snout = np.zeros_like(tips)
        if (tips & ~heads).any():
            snout |= self.snout_tips(body, parts, tips & ~heads, smoothed, heads)
        if (tips & heads).any():
            snout |= self.snout_tips(body, parts, tips & heads, smoothed, heads, cable)
        if not snout.any():
            return None
        reaching = bool((snout & (reached[:, 2] | reached[:, 3])).any())
        return of_labels(parts, snout), cable, reaching

    def snout_tips(
        self,
        body: np.ndarray,
        labels: np.ndarray,
        tips: np.ndarray,
        smoothed: np.ndarray,
        heads: np.ndarray | None = None,
        hiding: np.ndarray | None = None,
    ) -> np.ndarray:
        """Which of the trimmed parts ``tips`` (by label; each touching ``body`` and reaching
        beyond the reach but within :data:`SNOUT_REACH` times it, or a head's reach) are a
        snout's tip: at least :data:`SNOUT_WIDTH_SHARE` of the tail filter's disc wide (the
        deepest of their pixels within the body and them together lies that share of the
        disc's radius from the outline), nowhere taller than the body's 95th-percentile
        height, and pointing along the body's long axis (within :data:`SNOUT_AXIS_ANGLE` of
        it, from its pixels touching the body to its centroid). ``heads`` (bool by label):
        the parts reaching beyond a snout's reach, which must be :data:`HEAD_WIDTH_SHARE` of
        the tether filter's disc wide instead. ``hiding``: uint8 (0/1) pixels counted as the
        parts' own in the width test (a cable lying over them)."""
        pixels = of_labels(labels, tips)
        whole = cv2.bitwise_or(body, pixels)
        if hiding is not None:
            whole = cv2.bitwise_or(whole, hiding)
        width = cv2.distanceTransform(whole, cv2.DIST_L2, 5)
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
