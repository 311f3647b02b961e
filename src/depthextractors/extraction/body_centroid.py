"""The body centroid and axis (``body_centroid_x_px`` / ``body_centroid_y_px``, ``body_angle``):
:class:`BodyCentroid`.

moseq2-extract's centroid (``centroid_x_px`` / ``centroid_y_px``, kept with that meaning) is the
centroid of the contour polygon of what the tail filter leaves above ``min_height``. Three
things move it off the body's centre, each measured against the generator's ground truth
(``benchmarks/bench_accuracy.py``):

- heights are whole millimetres rounded down, so "above 10 mm" keeps only pixels 11 mm and
  higher: the body's edge is trimmed where it slopes to the floor;
- the tail filter (a morphological opening) trims the snout tip and the flanks as well as the
  tail, more at the narrow head than at the wide rump, which pulls the centroid back along the
  body;
- the polygon runs through the boundary pixels' centres, half a pixel inside the body.

The body centroid undoes the first two, avoids the third, and leaves out thick cables and tail
bases:

1. the tracked object at the threshold that means "above ``min_height``" for heights rounded
   down (``height >= ceil(min_height)``): the connected parts of the tracker's filtered input
   that hold the tracked object;
2. what the tail filter took back: every 8-connected part of the median-filtered heights
   above that threshold that the object lacks is added when it touches the object and none of
   its pixels lies farther from the object than the tail filter's radius (plus one pixel).
   The tail and cables reach farther and stay out; the snout tip and flank pixels come back.
   Where the snout is narrower than the filter's disc for longer than that (coarse pixels, a
   rat's long head), its tip reaches farther: a part reaching no farther than
   :data:`~.body_trimmed.SNOUT_REACH` times the reach comes back too when it is as wide as
   :data:`~.body_trimmed.SNOUT_WIDTH_SHARE` of the disc where it leaves the object, no taller
   than the object's back and pointing along its axis (tails and cables are narrower, cables
   taller, and they leave the body sideways too) (:class:`~.body_trimmed.TrimmedParts`). With
   the tether filter on, a head it took for a tether (narrower than its disc, reaching out of
   the body's ellipse: a rat's tapering head at fine pixels) comes back the same way when it
   reaches no farther than the disc is wide and is half its radius wide where it leaves the
   object. A cable rising from the head joins the head's tip to its own stretch in one
   trimmed part that reaches far and stands tall: where a part left out rises above the
   body's 95th-percentile height from pixels touching it, its pixels no taller than the
   body's median height come back when they pass the snout's tests (within reach too), the
   cable's pixels counted into the width of a head's; the cable and tail steps below keep them, and
   the cable's pixels are shared out as a cable's taken out
   (:attr:`~.body_trimmed.PutBack.beside_cable`). The pixels examined hold the reach round
   all of the object, which can be larger than the tracker's mask (``EMTracker``'s leaves
   out what its model finds unlikely), and a snout's (or a head's) reach where a trimmed part
   may be one (the body is looked for again over them);
3. thick cables taken out: a cable as wide as the tail filter's disc or wider (a bundle, about
   half a mouse's width) survives the tail and cable filters and pulls the centroid out along
   it. A narrow part of the result (what an opening by a disc of 0.7 times the body's widest
   removes) that reaches out of the body's wide part farther than the disc's radius, and is
   mostly taller out there than 1.15 times the wide part's back height (the 95th percentile of
   its heights off a cable's ridge and up to 1.4 times their median: a bundle lying along the
   back is no part of it, :func:`~.body_cables.back_height`), is a cable leaving the animal
   above its back: the snout, flanks and tail base are narrow too, but low. It is taken out
   from its tall pixel nearest the wide part outwards (a head a rising bundle leaves from its
   tip stays), and whole where that pixel lies farther out of the wide part than half the
   animal's measured length, as no body's end reaches (a slack bundle lying at the body's
   height before it rises; two tall pixels that far out make a narrow part a cable whatever
   their share, :data:`~.body_cables.BODY_END_REACH_SHARE`). A shorter stretch of cable, from
   the body to where it rises above ``max_height`` (hidden) or narrows to what the tail filter
   trimmed, is a stub: its pixels that tall beside those are taken out
   (:func:`~.body_cables.without_cables`). A slack bundle can lie as high as the body beside it
   (hanging from the back over the rump or a flank) and go on beyond what the tail filter
   trimmed: the narrow parts beside such a trimmed part, as wide as a third of the body and as
   high as it, are its stub, unless the body without them would be shorter than the animal the
   arena step measured (then the cable leaves the head)
   (:func:`~.body_cables.without_low_stubs`);
4. a thick tail base taken out: the tail filter's disc is a fixed number of pixels, and the
   base of a tail wider than it (a mouse seen at under about 0.6 mm a pixel) survives it and
   pulls the centroid back by pixels. When a disc of :data:`TAIL_WIDTH_SHARE` times the
   body's widest is larger than the tail filter's, what an opening by that disc removes and
   reaches farther than :data:`TAIL_REACH` times its radius from the opened body is left out
   (:func:`_without_tail`). The head and the snout are wider or shorter and stay. The tail
   is told by the body's shape before the cables are taken out: what a cable covers is body
   underneath;
5. hidden pixels given to the body: where the depth is invalid or taller than ``max_height`` (an
   invalid patch, a hand or a cable over the animal) the heights are 0, as on the floor, and the
   body loses what lies under them, or the part of it beyond them when they cross it (the tracker
   follows one side). A part at the threshold as wide as a body that such pixels cut off from it
   joins it unless it is mostly taller than the body (a bundle's stretch rising to its anchor),
   and so do the flanks either side of a hidden strip along it (a cable lying along the back);
   neither is added where the body would then be longer than 1.25 times the animal's measured
   length (a bundle's low stretch beyond where it rises above ``max_height``); then each hidden
   pixel that lies nearer the body than any pixel seen to be something else, and within the
   body's deepest distance to its outline, is taken to be body
   (:func:`~.body_hidden.with_hidden`); a cable taken out hides what lies under it too, body
   where it crosses the animal, and its pixels are shared out the same way (its stretch beyond
   them is not joined). Where they cover the body's end (a cable leaving over the head or
   rump: the floor either side of it is as near as the body), the hidden pixels inside the
   ellipse fitted to the body's seen outline are body too, and where that ellipse closes short
   of 0.9 times the animal's measured length (the cable hides the end's whole cap), inside it
   lengthened to that towards the hidden end, unless the body beside that end stands more
   than 1.6 times the measured back height (a rearing front projects shorter). The
   extraction passes where the depth is hidden, from the raw depth round the animal;
6. the mean of the pixel centres of the result (the filled pixel set, not a polygon), and the
   orientation of its second moments (``-0.5 * arctan2(2 mu11, mu20 - mu02)``, as the
   tracker's angle, but of the body's pixels rather than the trimmed contour's): the body axis
   (``body_angle``, turned to the extraction's heading).

Nothing else uses them: crops, angles and moseq2-extract's scalars keep their meaning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import cv2
import numpy as np

from .body_cables import without_cables, without_low_stubs
from .body_hidden import hidden_with, none_hidden_where_unknown, read_once, with_hidden
from .body_occluders import HAND_MIN_RADIUS_MM, occluders
from .body_trimmed import PutBack, TrimmedParts
from .box_windows import (
    at_least,
    box_window,
    grown_box,
    labels_under,
    opened_by_disc,
)
from .filters import FrameFilters, largest_region
from .tracking import TrackedObject

__all__ = ["BodyCentroid"]

#: A tail is narrower than an opening by a disc of this share of the body's widest keeps (a
#: tail's base is 0.15-0.2 of the body's width, a mouse's or rat's head about half of it) ...
TAIL_WIDTH_SHARE = 0.3
#: ... and reaches farther from what the opening keeps than this many of the disc's radii
#: (where a snout tapers to a point, what the disc cannot reach stays within them).
TAIL_REACH = 2.0
#: The object is flooded again over the window grown to hold its reach round it at most this
#: many times (each flood can reach the grown window's edge in turn, along a cable lying at the
#: body's height); past them, the window is grown once more round what was flooded.
FLOOD_ROUNDS = 3


class _Trimmed(NamedTuple):
    """The tracked object with what the tail filter trimmed put back (``BodyCentroid``'s
    first step), over a window of the ROI box whose top-left pixel is ``(x0, y0)``."""

    x0: int
    y0: int
    #: uint8 (0/1) body pixels.
    body: np.ndarray
    #: The heights after the filters before the tail filter, mm.
    smoothed: np.ndarray
    #: What the put-back found: whether it is complete, the parts left out, whether one
    #: rises, and a snout's tip beside a cable rising from the head with that cable.
    found: PutBack


class BodyCentroid:
    """Locates the centre of the animal's body pixels in one frame.

    Parameters
    ----------
    filters : FrameFilters
        The extraction's spatial filters: the cable filter and the median are applied to the
        raw heights (what the tail filter saw), and the tail filter's size sets how far from
        the object a trimmed part may reach and still be put back.
    min_height : float
        The tracker's ``min_height``, mm.
    animal_length : float, optional
        The animal's measured length, px (:attr:`AnimalSize.length_px
        <depthextractors.extraction.animal_size.AnimalSize>`): a cable's stub lying at the
        body's height is taken out only where the body stays about that long
        (:func:`~.body_cables.without_low_stubs`), and what the hidden pixels cut off joins
        the body only where it stays no longer than 1.25 times that
        (:func:`~.body_hidden.with_hidden`). Without it, neither is checked.
    mm_per_px : float, optional
        The pixel size at the floor, mm (:attr:`AnimalSize.mm_per_px
        <depthextractors.extraction.animal_size.AnimalSize>`): a part standing over the animal
        or a hidden region is a hand only where it holds a disc
        :data:`~.body_occluders.HAND_MIN_RADIUS_MM` in radius. Without it (or without
        ``animal_length``), nothing is taken for a hand.
    back_height : float, optional
        The animal's measured back height, mm (:attr:`AnimalSize.height_mm
        <depthextractors.extraction.animal_size.AnimalSize>`): an end a cable hides is given
        back to the animal's length only where the body beside it stands no taller than
        :data:`~.body_outline.OUTLINE_REAR_SHARE` times it (a rearing front projects shorter
        than the animal is long). Without it, that is not checked.

    Attributes
    ----------
    threshold : int
        Whole millimetres from which a rounded-down height counts as above ``min_height``.
    """

    def __init__(
        self,
        filters: FrameFilters,
        min_height: float,
        animal_length: float | None = None,
        mm_per_px: float | None = None,
        back_height: float | None = None,
    ) -> None:
        self.threshold = max(1, math.ceil(float(min_height)))
        self.animal_length = None if animal_length is None else float(animal_length)
        self.back_height = None if back_height is None else float(back_height)
        known = mm_per_px is not None and mm_per_px > 0 and self.animal_length is not None
        self._hand_radius = HAND_MIN_RADIUS_MM / float(mm_per_px) if known else None
        self._trimmed = TrimmedParts(filters)
        self._before_tail = replace(filters, tail_iterations=0, tether_size=0, temporal_size=0)
        self._kernels = self._before_tail.kernels()
        self._border = self._before_tail.reach()

    @property
    def reach(self) -> int:
        """Pixels from the object within which trimmed parts are put back (0: no tail
        filter)."""
        return self._trimmed.reach

    @property
    def margin(self) -> int:
        """Pixels round the tracked object's bounding box that are examined: the reach and
        two pixels (a snout's or a head's reach and two where a trimmed part may be one)."""
        return self._trimmed.margin

    def __repr__(self) -> str:
        return f"BodyCentroid(threshold={self.threshold} mm, reach={self.reach} px)"

    def locate(
        self,
        found: TrackedObject,
        heights: Callable[[int, int, int, int], np.ndarray],
        box_shape: tuple[int, int],
        smoothed: tuple[np.ndarray, int, int] | None = None,
        hidden: Callable[[int, int, int, int], np.ndarray | None] | None = None,
    ) -> tuple[float, float, float]:
        """The body centroid and axis of a tracked object.

        Parameters
        ----------
        found : TrackedObject
            The tracked object, in ROI-box coordinates, with the filtered image it was found
            in (``image``, ``image_origin``).
        heights : callable
            ``heights(y0, y1, x0, x1)``: the frame's heights (mm, before any filter) in rows
            ``y0:y1`` and columns ``x0:x1`` of the ROI box.
        box_shape : (int, int)
            ``(rows, cols)`` of the ROI box.
        smoothed : (numpy.ndarray, int, int), optional
            ``(image, x0, y0)``: the heights after the filters before the tail filter (the
            cable filter and the median) over the region of the box whose top-left pixel is
            ``(x0, y0)``, as filtering the whole box gives them, and 0 past the region (the
            spatial filter's intermediate image, :meth:`FrameFilters.spatial_steps
            <depthextractors.extraction.filters.FrameFilters.spatial_steps>`, round all the
            box's non-zero heights). By default they are filtered again from ``heights``.
        hidden : callable, optional
            ``hidden(y0, y1, x0, x1)``: uint8 (0/1), 1 where the frame's depth hides what lies
            below it in those rows and columns of the ROI box (:meth:`ArenaHeights.hidden
            <depthextractors.extraction.heights.ArenaHeights.hidden>`), or ``None`` when that
            is not known there. By default no pixel is hidden.

        Returns
        -------
        (float, float, float)
            ``(x, y, axis)``: the centroid in ROI-box pixels, pixel centres at whole numbers
            (as ``centroid_x_px``), and the body's axis, radians in ``[-pi/2, pi/2]`` (y up;
            the axis only, not which end is the head); NaN when the object has no pixel at
            the threshold.

        Notes
        -----
        Only the pixels within ``margin`` of the tracked object's bounding box are examined;
        where a trimmed part may be the snout's tip (or a head the tether filter took), the body
        is looked for again over those within its reach (and two pixels). About 200 microseconds
        of CPU a frame for a Kinect v2 mouse on the 2-core development machine (2026-12-06, a
        timer round it on ``benchmarks/bench_extract.py``'s session), 20-60 of them to look at
        the hidden pixels round it, about 25 to look for the snout's tip and about 25 for a
        cable's stub (on a slower day for the machine: 311-350 against 268-352 without the
        stub), about 19 for a stub lying as high as the body (the tail left out is looked at in
        nearly every frame); most steps are one OpenCV call, as the numpy equivalents (boolean
        indexing, gathers by label) cost several times more on such small images.
        """
        trimmed = self._trimmed_back(found, heights, box_shape, smoothed, self.margin)
        if trimmed is None:
            return math.nan, math.nan, math.nan
        if not trimmed.found.complete:
            # A trimmed part may be the snout's tip; how far it reaches is told over a window
            # holding a snout's reach, which most frames do not need (it costs about 40 us).
            trimmed = self._trimmed_back(
                found, heights, box_shape, smoothed, self._trimmed.tip_margin
            )
        x0, y0, body, smoothed, (_, left_out, rises, beside_cable, cable) = trimmed
        inside = cv2.distanceTransform(body, cv2.DIST_L2, 5)
        half_width = cv2.minMaxLoc(inside)[1]
        standing = None
        if self._hand_radius is not None:
            standing = occluders(smoothed, body, half_width, self._hand_radius)
        if standing is not None:
            # A hand over a rat, within its height range: hidden depth, as over a mouse,
            # where it stands above max_height and the flood does not reach it.
            body = largest_region(cv2.subtract(body, standing))
            if body is None:
                return math.nan, math.nan, math.nan
            hidden = hidden_with(none_hidden_where_unknown(hidden), standing, x0, y0)
            inside = cv2.distanceTransform(body, cv2.DIST_L2, 5)
            half_width = cv2.minMaxLoc(inside)[1]
        hidden_window = None
        if hidden is not None:
            hidden_window, hidden = read_once(hidden, body, x0, y0, half_width, box_shape)
        rising = left_out if rises else None
        without, cables = without_cables(
            body, smoothed, inside, hidden_window, rising, self.animal_length, beside_cable
        )
        stubless = without_low_stubs(body, smoothed, inside, left_out, self.animal_length)
        if self._trimmed.tail_radius is not None:
            # The tail is told by the body's shape, of which what a cable covers is part: a
            # cable lying along a rat's head leaves two slivers of it, as narrow as a tail.
            body = _without_tail(body, inside, self._trimmed.tail_radius, beside_cable)
        if stubless is not None:
            # Seen, not hidden: a low stub's pixels are not given back below.
            without = stubless if cables is None else cv2.bitwise_and(without, stubless)
        if cables is not None or stubless is not None:
            body = cv2.bitwise_and(body, without)
            half_width = cv2.minMaxLoc(cv2.distanceTransform(without, cv2.DIST_L2, 5))[1]
        if cable is not None:
            # The cable rising from the head beside the snout's tip hides the head under it.
            cables = cable if cables is None else cv2.bitwise_or(cables, cable)
        if cables is not None:
            # What a cable taken out covered is shared out by nearness (its tall pixels over
            # the back go with it) even where the frame's hidden pixels are not known.
            hidden = none_hidden_where_unknown(hidden)
        if hidden is not None:
            body, x0, y0 = with_hidden(
                body,
                (x0, y0),
                half_width,
                hidden,
                heights,
                self.threshold,
                box_shape,
                cables,
                self.animal_length,
                self._hand_radius,
                self.back_height,
            )
        # The body holds at least the seed pixel its flood started from.
        moments = cv2.moments(body, binaryImage=True)
        axis = -0.5 * math.atan2(2.0 * moments["mu11"], moments["mu20"] - moments["mu02"])
        return moments["m10"] / moments["m00"] + x0, moments["m01"] / moments["m00"] + y0, axis

    def _trimmed_back(
        self,
        found: TrackedObject,
        heights: Callable[[int, int, int, int], np.ndarray],
        box_shape: tuple[int, int],
        smoothed: tuple[np.ndarray, int, int] | None,
        margin: int,
    ) -> _Trimmed | None:
        """The object with what the tail filter trimmed put back, over the pixels within
        ``margin`` of the tracked object's bounding box and holding ``margin - 1`` round the
        object, or ``None`` when the object has no pixel at the threshold."""
        mx, my = found.mask_origin
        mh, mw = found.mask.shape
        x0, y0, x1, y1 = grown_box((mx, my, mx + mw, my + mh), margin, box_shape)
        body = self._object(found, x0, y0, x1, y1)
        if body is None:
            return None
        if self.reach:
            x0, y0, x1, y1, body = self._flooded_holding_the_reach(
                found, body, (x0, y0, x1, y1), box_shape, margin - 1
            )
        if smoothed is None:
            window = self._smoothed(heights, box_shape, x0, y0, x1, y1)
        else:
            window = box_window(*smoothed, x0, y0, x1, y1)
        if not self.reach:
            return _Trimmed(x0, y0, body, window, PutBack(True, None, False))
        found_back = self._trimmed.put_back(
            body, at_least(window, self.threshold), window, margin >= self._trimmed.tip_margin
        )
        return _Trimmed(x0, y0, body, window, found_back)

    def _object(
        self, found: TrackedObject, x0: int, y0: int, x1: int, y1: int
    ) -> np.ndarray | None:
        """uint8 (0/1) over rows ``y0:y1``, columns ``x0:x1``: the part of the filtered input
        at the threshold that holds the tracked object (flooded from the object's top-left
        boundary pixel, which lies on its outer contour)."""
        # The region usually reaches past the tracker's input (a few pixels round the animal's
        # heights), which is 0 there.
        above = at_least(
            box_window(found.image, *found.image_origin, x0, y0, x1, y1), self.threshold
        )
        first = int(found.mask.argmax())
        mx, my = found.mask_origin
        seed = (mx - x0 + first % found.mask.shape[1], my - y0 + first // found.mask.shape[1])
        if not above[seed[1], seed[0]]:
            return None
        filled = np.zeros((y1 - y0 + 2, x1 - x0 + 2), dtype=np.uint8)
        cv2.floodFill(above, filled, seed, 0, 0, 0, 8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
        return filled[1:-1, 1:-1]

    def _smoothed(
        self,
        heights: Callable[[int, int, int, int], np.ndarray],
        box_shape: tuple[int, int],
        x0: int,
        y0: int,
        x1: int,
        y1: int,
    ) -> np.ndarray:
        """The heights over the same pixels after the filters before the tail filter (the
        cable filter and the median), mm."""
        # The median (and cable filter) read this far past the pixels; as filtering the
        # whole box, the border is the box's own.
        rx0, ry0, rx1, ry1 = grown_box((x0, y0, x1, y1), self._border, box_shape)
        smoothed = self._before_tail.apply_spatial(heights(ry0, ry1, rx0, rx1), self._kernels)
        return smoothed[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]

    def _flooded_holding_the_reach(
        self,
        found: TrackedObject,
        body: np.ndarray,
        window: tuple[int, int, int, int],
        box_shape: tuple[int, int],
        hold: int,
    ) -> tuple[int, int, int, int, np.ndarray]:
        """The window ``(x0, y0, x1, y1)`` grown to hold ``hold`` pixels (the reach and a
        pixel, or a snout's) round all of the object, and the object flooded over it.

        The pixels examined are those round the tracker's mask, but the object flooded from
        it can be larger: ``EMTracker``'s mask leaves out what its model finds unlikely, such
        as a cable's base. Trimmed parts are judged by how far they reach from the body, and
        cables by how far they reach from its wide part; one cut short by the window's edge
        would look short enough to put back, or to be body (a slack bundle lying at the
        body's height, which ``MomentsTracker``'s mask holds and ``EMTracker``'s does not),
        so the object is flooded again over the grown window, up to :data:`FLOOD_ROUNDS`
        times.
        """
        for _ in range(FLOOD_ROUNDS):
            grown = self._holding_the_reach(body, window, box_shape, hold)
            if grown == window:
                return (*window, body)
            window = grown
            # The same seed pixel: never None.
            body = self._object(found, *window)
        grown = self._holding_the_reach(body, window, box_shape, hold)
        return (*grown, box_window(body, *window[:2], *grown))

    @staticmethod
    def _holding_the_reach(
        body: np.ndarray,
        window: tuple[int, int, int, int],
        box_shape: tuple[int, int],
        hold: int,
    ) -> tuple[int, int, int, int]:
        """The window ``(x0, y0, x1, y1)`` of ``body``, grown where needed to hold ``hold``
        pixels round all of it (within the box)."""
        x0, y0, x1, y1 = window
        bx, by, bw, bh = cv2.boundingRect(body)
        needed = grown_box((x0 + bx, y0 + by, x0 + bx + bw, y0 + by + bh), hold, box_shape)
        return (
            min(x0, needed[0]),
            min(y0, needed[1]),
            max(x1, needed[2]),
            max(y1, needed[3]),
        )


def _without_tail(
    body: np.ndarray, inside: np.ndarray, tail_radius: int, keep: np.ndarray | None = None
) -> np.ndarray:
    """uint8 (0/1): ``body`` without a tail base wider than the tail filter's disc.

    The body is opened by a disc of :data:`TAIL_WIDTH_SHARE` times its widest (twice its
    deepest pixel's distance to the outline); each 8-connected part the opening removes that
    has a pixel farther than :data:`TAIL_REACH` times the disc's radius from what it keeps is
    a tail. Nothing changes where that disc is no larger than the tail filter's (radius
    ``tail_radius``), which has removed everything narrower already: a mouse at 1.5 mm a pixel
    is 19 px wide, a disc of 0.3 times that smaller than the 9x9 tail filter's.

    Parameters
    ----------
    body : numpy.ndarray
        uint8 (0/1) body pixels.
    inside : numpy.ndarray
        float32 distances of ``body``'s pixels to its outline (``cv2.distanceTransform(body,
        cv2.DIST_L2, 5)``), px.
    tail_radius : int
        The tail filter's radius, px.
    keep : numpy.ndarray, optional
        uint8 (0/1) pixels that stay whatever their shape (a snout's tip beside a cable that
        hides the rest of the head, which leaves the tip as narrow as a tail).

    Returns
    -------
    numpy.ndarray
        ``body`` itself when it has no such part, else a new uint8 (0/1) array.
    """
    radius = TAIL_WIDTH_SHARE * cv2.minMaxLoc(inside)[1]
    if radius <= tail_radius:
        return body
    kept = opened_by_disc(body, inside, radius) > 0
    removed = (body > 0) & ~kept
    if not removed.any():
        return body
    from_kept = cv2.distanceTransform((~kept).view(np.uint8), cv2.DIST_L2, 5)
    far = removed & (from_kept > TAIL_REACH * radius)
    if not far.any():
        return body
    # Wu's SAUF, as filters.label_regions explains (it runs on the worker threads).
    count, labels = cv2.connectedComponentsWithAlgorithm(
        removed.view(np.uint8), 8, cv2.CV_32S, cv2.CCL_SAUF
    )
    tails = labels_under(labels, count, far)[labels]
    if keep is not None:
        tails &= keep == 0
    without = body.copy()
    without[tails] = 0
    return without
