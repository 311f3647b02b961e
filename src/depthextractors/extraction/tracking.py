"""Find the animal in a filtered height image: :class:`MomentsTracker`.

The tracker keeps the pixels of the filtered height image **above** ``min_height`` (moseq2's
``frames > min_height``), takes the largest object (the outer contour of largest area, as
moseq2-extract 1.4.0 does whatever its ``use_cc``) and describes it as moseq2-extract's
``get_frame_features`` / ``im_moment_features`` do, by the moments of its contour polygon
(through the centres of the boundary pixels):

- centroid: the polygon's centroid, sub-pixel, ``(x, y)`` = (column, row);
- orientation: ``-0.5 * arctan2(2 mu11, mu20 - mu02)``, radians in ``[-pi/2, pi/2]``,
  counter-clockwise from +x with **y pointing up** (the image's rows point down, hence the sign);
  the body axis is known modulo pi — which end is the nose is the flip corrector's job;
- axis lengths: ``2 sqrt(2) sqrt((mu20 + mu02 ± sqrt(4 mu11² + (mu20 - mu02)²)) / m00)``, i.e.
  four standard deviations along each principal axis (the full length of the equivalent
  ellipse), ``length`` the larger and ``width`` the smaller.

The polygon runs through the centres of the boundary pixels, so it is half a pixel smaller all
round than the object: its lengths are about 4% short of the body's. The moments of the
object's filled pixel set, the image moments proper, are kept beside them (``body_length``,
``body_width``), with the object's pixel count and mean height (``area``, ``height_mean``),
and become the ``body_*`` scalars.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import cv2
import numpy as np

from .strategy import Strategy

__all__ = ["MomentsTracker", "SequentialTracker", "TrackedObject", "Tracker"]


@dataclass
class TrackedObject:
    """The animal found in one frame.

    Attributes
    ----------
    x, y : float
        Centroid in the coordinates of the image given to the tracker, pixels (x = column).
    orientation : float
        Body-axis angle, radians, y up, in ``[-pi/2, pi/2]``.
    length, width : float
        Major and minor axis lengths of the contour polygon's moments, pixels (moseq2's).
    area : float
        Pixels of the object with a height up to ``max_height``.
    height_mean : float
        Mean height of those pixels, millimetres.
    mask : numpy.ndarray
        uint8 (0/1) mask of the object inside its bounding box.
    mask_origin : (int, int)
        ``(x, y)`` of the mask's top-left pixel in the image.
    log_likelihood : numpy.ndarray or None
        float32 per-pixel log-likelihood under a tracking model (:class:`EMTracker`), ``None``
        for trackers without one.
    log_likelihood_origin : (int, int)
        ``(x, y)`` of its top-left pixel in the image.
    mean_log_likelihood : float
        Mean log-likelihood over the object's pixels (NaN without a model).
    body_length, body_width : float
        Major and minor axis lengths of the filled pixel set's moments, pixels (NaN when the
        tracker gives none).
    body_x, body_y : float
        The body centroid (:class:`~depthextractors.extraction.body_centroid.BodyCentroid`),
        ROI-box pixels, set by the session (NaN until then).
    body_axis : float
        The body's axis from the same pixels, radians in ``[-pi/2, pi/2]`` (y up), set by the
        session (NaN until then).
    image : numpy.ndarray or None
        The filtered heights the tracker was given, set by the session (moseq2-extract's
        area and mean height are those of the cropped filtered frame).
    image_origin : (int, int)
        ``(x, y)`` of ``image``'s top-left pixel in the ROI box, set by the session.
    """

    x: float
    y: float
    orientation: float
    length: float
    width: float
    area: float
    height_mean: float
    mask: np.ndarray
    mask_origin: tuple[int, int]
    log_likelihood: np.ndarray | None = None
    log_likelihood_origin: tuple[int, int] = (0, 0)
    mean_log_likelihood: float = float("nan")
    body_length: float = float("nan")
    body_width: float = float("nan")
    body_x: float = float("nan")
    body_y: float = float("nan")
    body_axis: float = float("nan")
    image: np.ndarray | None = None
    image_origin: tuple[int, int] = (0, 0)


class Tracker(Strategy, ABC):
    """Finds the animal in one filtered height image: the tracker contract.

    A tracker's constructor takes ``min_height`` and ``max_height`` (millimetres above the
    floor) and stores them under those names: the session zeroes heights outside that range
    before filtering. A new tracker implements one method, :meth:`find`.

    The session calls :meth:`track` for every frame, on several threads and in any order (a
    stateless tracker must not keep anything from frame to frame; see
    :class:`SequentialTracker` for one that does), with the filtered heights of a box around
    the frame's non-zero pixels. Everything else has a default that does nothing.
    """

    #: Whether frames must be tracked in order, one at a time (:class:`SequentialTracker`).
    sequential: ClassVar[bool] = False
    min_height: float
    max_height: float

    @abstractmethod
    def find(self, image: np.ndarray) -> TrackedObject | None:
        """Find the animal in one filtered height image.

        Parameters
        ----------
        image : numpy.ndarray
            ``(rows, cols)`` heights above the floor, millimetres (uint8, or uint16 with
            ``frame_dtype='uint16'``), 0 outside ``[min_height, max_height]``.

        Returns
        -------
        TrackedObject or None
            In ``image``'s pixel coordinates (x = column); ``None`` when there is no animal.
        """

    def track(
        self, image: np.ndarray, origin: tuple[int, int] = (0, 0), raw: np.ndarray | None = None
    ) -> TrackedObject | None:
        """Find the animal in a sub-image whose top-left pixel is ``origin`` in the ROI box.

        Parameters
        ----------
        image : numpy.ndarray
            ``(rows, cols)`` filtered heights, millimetres.
        origin : (int, int), default (0, 0)
            ``(x, y)`` of ``image``'s top-left pixel in the ROI box.
        raw : numpy.ndarray, optional
            The same pixels before filtering (unused by stateless trackers).

        Returns
        -------
        TrackedObject or None
            In ROI-box coordinates.
        """
        found = self.find(image)
        if found is None or origin == (0, 0):
            return found
        x0, y0 = origin
        return replace(
            found,
            x=found.x + x0,
            y=found.y + y0,
            mask_origin=(found.mask_origin[0] + x0, found.mask_origin[1] + y0),
            log_likelihood_origin=(
                found.log_likelihood_origin[0] + x0,
                found.log_likelihood_origin[1] + y0,
            ),
        )

    @property
    def log_likelihood_clip(self) -> float | None:
        """Masks are float32 log-likelihoods clipped below at this value; None: bool masks."""
        return None

    def reset(self) -> None:
        """Forget everything before a new run (stateless trackers have nothing to forget)."""

    def smoothing_weights(self, objects: list[TrackedObject | None]) -> np.ndarray | None:
        """Per-frame weights for smoothing centroid and angle by the tracker's model.

        Parameters
        ----------
        objects : list of TrackedObject or None
            The frames of one chunk, with their context.

        Returns
        -------
        numpy.ndarray or None
            ``(n,)`` weights in [0, 1] (1: trust the frame), or ``None`` for no smoothing
            (the default).
        """
        return None


class SequentialTracker(Tracker):
    """A tracker with a state carried from frame to frame (and across chunks).

    The session tracks the frames in order on one thread: :meth:`initialize` with the first
    frames of the session, then :meth:`track` for each frame. Between chunks it saves
    :attr:`state` after the frame before the next chunk's first tracked frame and restores it
    there, so the results do not depend on the chunk size.
    """

    sequential: ClassVar[bool] = True

    @property
    @abstractmethod
    def state(self) -> Any:
        """The tracker's state after the last frame tracked (None before the first)."""

    @state.setter
    @abstractmethod
    def state(self, value: Any) -> None: ...

    def initialize(self, images: np.ndarray) -> None:
        """Prepare from the first filtered frames of the session (nothing by default).

        Parameters
        ----------
        images : numpy.ndarray
            ``(frames, rows, cols)`` filtered heights of the ROI box, millimetres.
        """

    @abstractmethod
    def track(
        self, image: np.ndarray, origin: tuple[int, int] = (0, 0), raw: np.ndarray | None = None
    ) -> TrackedObject | None:
        """Update the state with one frame and find the animal in it (ROI-box coordinates).

        The arguments are :meth:`Tracker.track`'s; ``raw`` is always given.
        """

    def find(self, image: np.ndarray) -> TrackedObject | None:
        """:meth:`track` of an image at the ROI box's origin."""
        return self.track(image)


class MomentsTracker(Tracker):
    """Largest object above ``min_height``, described by its image moments.

    Parameters
    ----------
    min_height : float, default 10
        The animal is what lies above this height, millimetres (moseq2-extract's
        ``min_height``; strictly above, as moseq2-extract).
    max_height : float, default 120
        Largest height above the floor that counts as the animal, millimetres; taller pixels are
        zeroed before filtering (``max_height``).
    Notes
    -----
    Stateless: frames can be tracked in any order and from several threads at once.

    moseq2-extract's ``use_cc`` key has no argument here: without its EM tracker, moseq2-extract
    1.4.0 takes the largest connected component of all pixels above -30 mm, the whole frame,
    so the animal is always its largest contour (as here). :class:`EMTracker` has ``use_cc``.
    """

    def __init__(self, min_height: float = 10, max_height: float = 120):
        min_height = float(min_height)
        max_height = float(max_height)
        if not 0 <= min_height < max_height:
            raise ValueError(
                f"min_height must be >= 0 and below max_height; got min_height={min_height} mm, "
                f"max_height={max_height} mm"
            )
        self.min_height = min_height
        self.max_height = max_height
        # Integer heights h satisfy h > min_height exactly when h >= floor(min_height) + 1.
        self._low = math.floor(min_height) + 1
        self._high = math.floor(max_height)

    def find(self, filtered: np.ndarray) -> TrackedObject | None:
        """Find the animal in one filtered height image.

        Parameters
        ----------
        filtered : numpy.ndarray
            ``(rows, cols)`` uint8 heights above the floor, millimetres.

        Returns
        -------
        TrackedObject or None
            ``None`` when nothing lies above ``min_height``.
        """
        if filtered.dtype == np.uint8:
            _, binary = cv2.threshold(filtered, self._low - 1, 1, cv2.THRESH_BINARY)
        else:
            binary = (filtered >= self._low).astype(np.uint8)
        return self.measure(binary, filtered)

    def measure(self, binary: np.ndarray, filtered: np.ndarray) -> TrackedObject | None:
        """The largest object of a binary image, described by its moments.

        Parameters
        ----------
        binary : numpy.ndarray
            ``(rows, cols)`` uint8, 1 where a pixel may belong to the animal.
        filtered : numpy.ndarray
            The height image (millimetres), for the area and mean height.

        Returns
        -------
        TrackedObject or None
            ``None`` also when the object's polygon has no area (a line of pixels), as
            moseq2-extract finds no features there.
        """
        found = self._largest_object(binary)
        if found is None:
            return None
        contour, mask, (x0, y0) = found
        polygon = cv2.moments(contour)
        if polygon["m00"] <= 0:
            return None
        length, width, orientation = ellipse_axes(polygon)
        body_length, body_width, _ = ellipse_axes(cv2.moments(mask, binaryImage=True))
        h, w = mask.shape
        area, height_sum = self._body_area_and_sum(mask, filtered[y0 : y0 + h, x0 : x0 + w])
        return TrackedObject(
            x=polygon["m10"] / polygon["m00"],
            y=polygon["m01"] / polygon["m00"],
            orientation=orientation,
            length=length,
            width=width,
            area=float(area),
            height_mean=height_sum / area if area else float("nan"),
            mask=mask,
            mask_origin=(x0, y0),
            body_length=body_length,
            body_width=body_width,
        )

    def _body_area_and_sum(self, mask: np.ndarray, heights: np.ndarray) -> tuple[int, float]:
        """Pixels of ``mask`` (uint8 0/1) no taller than ``max_height``, and their heights'
        sum (exact: whole millimetres)."""
        if heights.dtype == np.uint8:
            # OpenCV's calls on the small box round one animal cost a fraction of numpy's
            # boolean indexing.
            body = cv2.threshold(heights, self._high, 1, cv2.THRESH_BINARY_INV)[1]
            cv2.bitwise_and(body, mask, dst=body)
            kept = cv2.multiply(heights, body)
            return cv2.countNonZero(body), cv2.sumElems(kept)[0]
        body = (mask > 0) & (heights <= self._high)
        return int(np.count_nonzero(body)), float(heights[body].sum(dtype=np.float64))

    def _largest_object(
        self, binary: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
        """The largest object's outer contour (image coordinates), its filled pixel mask
        (bounding box) and the box's top-left pixel; None when there is none."""
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return None
        contour = _largest_contour(contours)
        x0, y0, w, h = cv2.boundingRect(contour)
        mask = np.zeros((h, w), dtype=np.uint8)
        cv2.drawContours(mask, [contour], -1, 1, thickness=cv2.FILLED, offset=(-x0, -y0))
        # Filling the outer contour also fills holes; the object is its pixels above threshold.
        mask &= binary[y0 : y0 + h, x0 : x0 + w]
        return contour, mask, (x0, y0)


def largest_component(binary: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a uint8 binary image (1 inside), same shape."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    if count <= 2:  # background and at most one object: nothing to choose
        return binary
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == best).view(np.uint8)


def _largest_contour(contours) -> np.ndarray:
    """The contour of largest area (a single pixel's has none: more points win ties)."""
    return max(contours, key=lambda c: (cv2.contourArea(c), len(c)))


def ellipse_axes(moments: dict) -> tuple[float, float, float]:
    """``(length, width, orientation)`` of the ellipse with these second moments."""
    m00, mu20, mu02, mu11 = moments["m00"], moments["mu20"], moments["mu02"], moments["mu11"]
    common = math.sqrt(4.0 * mu11 * mu11 + (mu20 - mu02) ** 2)
    length = 2.0 * math.sqrt(2.0) * math.sqrt(max(mu20 + mu02 + common, 0.0) / m00)
    width = 2.0 * math.sqrt(2.0) * math.sqrt(max(mu20 + mu02 - common, 0.0) / m00)
    return length, width, -0.5 * math.atan2(2.0 * mu11, mu20 - mu02)
