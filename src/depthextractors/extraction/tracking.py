"""Find the animal in a filtered height image: :class:`MomentsTracker`.

The tracker thresholds the filtered height image at ``min_height``, keeps the largest object
(the largest outer contour, or with ``use_cc`` the largest 4-connected component), and describes
it by its image moments — moseq2-extract's ``get_frame_features`` / ``im_moment_features``:

- centroid: first moments over the object's pixels, sub-pixel, ``(x, y)`` = (column, row);
- orientation: ``-0.5 * arctan2(2 mu11, mu20 - mu02)``, radians in ``[-pi/2, pi/2]``,
  counter-clockwise from +x with **y pointing up** (the image's rows point down, hence the sign);
  the body axis is known modulo pi — which end is the nose is the flip corrector's job;
- axis lengths: ``2 sqrt(2) sqrt((mu20 + mu02 ± sqrt(4 mu11² + (mu20 - mu02)²)) / m00)``, i.e.
  four standard deviations along each principal axis (the full length of the equivalent
  ellipse), ``length`` the larger and ``width`` the smaller;
- area and mean height over the object's pixels whose height lies in
  ``[min_height, max_height]``.

moseq2-extract took the moments of the contour polygon (through the centres of the boundary
pixels, which shrinks the object by half a pixel all round); the moments here are those of the
object's filled pixel set, the image moments proper. A pixel belongs to the animal when its
height (background minus depth, truncated to whole millimetres as moseq2-extract's 8-bit frames
are) is at least ``min_height``, the same rule the height threshold applies before filtering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["MomentsTracker", "TrackedObject"]


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
        Major and minor moment axis lengths, pixels.
    area : float
        Pixels of the object with a height in ``[min_height, max_height]``.
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


class MomentsTracker:
    """Largest object above ``min_height``, described by its image moments.

    Parameters
    ----------
    min_height : float, default 10
        Smallest height above the floor that counts as the animal, millimetres
        (moseq2-extract's ``min_height``).
    max_height : float, default 100
        Largest height above the floor that counts as the animal, millimetres; taller pixels are
        zeroed before filtering (``max_height``).
    use_cc : bool, default False
        Keep the largest 4-connected component instead of the largest outer contour
        (``use_cc``). Both give the same object unless objects touch diagonally.

    Notes
    -----
    Stateless: frames can be tracked in any order and from several threads at once.
    """

    def __init__(self, min_height: float = 10, max_height: float = 100, use_cc: bool = False):
        min_height = float(min_height)
        max_height = float(max_height)
        if not 0 <= min_height < max_height:
            raise ValueError(
                f"min_height must be >= 0 and below max_height; got min_height={min_height} mm, "
                f"max_height={max_height} mm"
            )
        self.min_height = min_height
        self.max_height = max_height
        self.use_cc = bool(use_cc)
        # Integer heights h satisfy h >= min_height exactly when h >= ceil(min_height).
        self._low = math.ceil(min_height)
        self._high = math.floor(max_height)

    def __repr__(self) -> str:
        return (
            f"MomentsTracker(min_height={self.min_height:g}, max_height={self.max_height:g}, "
            f"use_cc={self.use_cc})"
        )

    def parameters(self) -> dict[str, object]:
        """Settings under moseq2-extract's parameter names."""
        return {
            "min_height": self.min_height,
            "max_height": self.max_height,
            "use_cc": self.use_cc,
            "use_tracking_model": False,
        }

    def track(self, filtered: np.ndarray) -> TrackedObject | None:
        """Find the animal in one filtered height image.

        Parameters
        ----------
        filtered : numpy.ndarray
            ``(rows, cols)`` uint8 heights above the floor, millimetres.

        Returns
        -------
        TrackedObject or None
            ``None`` when nothing reaches ``min_height``.
        """
        if filtered.dtype == np.uint8:
            _, binary = cv2.threshold(filtered, self._low - 1, 1, cv2.THRESH_BINARY)
        else:
            binary = (filtered >= self._low).astype(np.uint8)
        return self.describe(binary, filtered)

    def describe(self, binary: np.ndarray, filtered: np.ndarray) -> TrackedObject | None:
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
        """
        if self.use_cc:
            count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
            if count <= 1:
                return None
            best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            x0, y0, w, h = (int(v) for v in stats[best, :4])
            mask = (labels[y0 : y0 + h, x0 : x0 + w] == best).astype(np.uint8)
        else:
            contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            if not contours:
                return None
            # A single pixel's contour has zero area; prefer more pixels on ties.
            best_contour = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
            x0, y0, w, h = cv2.boundingRect(best_contour)
            mask = np.zeros((h, w), dtype=np.uint8)
            cv2.drawContours(mask, [best_contour], -1, 1, thickness=cv2.FILLED, offset=(-x0, -y0))
            # Filling the outer contour also fills holes; the object is its pixels above threshold.
            mask &= binary[y0 : y0 + h, x0 : x0 + w]
        moments = cv2.moments(mask, binaryImage=True)
        m00 = moments["m00"]
        if m00 <= 0:
            return None
        mu20, mu02, mu11 = moments["mu20"], moments["mu02"], moments["mu11"]
        common = math.sqrt(4.0 * mu11 * mu11 + (mu20 - mu02) ** 2)
        length = 2.0 * math.sqrt(2.0) * math.sqrt(max(mu20 + mu02 + common, 0.0) / m00)
        width = 2.0 * math.sqrt(2.0) * math.sqrt(max(mu20 + mu02 - common, 0.0) / m00)
        orientation = -0.5 * math.atan2(2.0 * mu11, mu20 - mu02)
        heights = filtered[y0 : y0 + h, x0 : x0 + w]
        body = (mask > 0) & (heights <= self._high)
        area = int(np.count_nonzero(body))
        height_mean = float(heights[body].mean()) if area else float("nan")
        return TrackedObject(
            x=moments["m10"] / m00 + x0,
            y=moments["m01"] / m00 + y0,
            orientation=orientation,
            length=length,
            width=width,
            area=float(area),
            height_mean=height_mean,
            mask=mask,
            mask_origin=(x0, y0),
        )
