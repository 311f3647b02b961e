"""Arena (ROI) strategies: where the floor of the arena is, its plane and its depth.

:class:`PlaneROI` follows moseq2-extract's ``get_roi``: fit a plane to the background by RANSAC
within a depth range, keep the pixels near that plane, rank their connected regions by area,
extent and distance from the image centre, and grow the chosen one by dilation and hole
filling. Unlike moseq2-extract it is seeded (the same background always gives the same ROI),
vectorised, and finds the depth range by itself when none is given. :class:`ManualROI` takes a
mask drawn by the user.

Plane convention: ``(a, b, c, d)`` with ``a*x + b*y + c*depth + d = 0``, x = column and
y = row in pixels, depth in millimetres; ``(a, b, c)`` is a unit vector with ``c < 0``, so
``depth = -(a*x + b*y + d) / c``.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..cameras import CameraModel
from .arena import ArenaROI, ROIStrategy, given_true_depth
from .arena_checks import (
    arena_problems,
    retry_at_other_floors,
    retry_with_gradient_filter,
    sloped_wall_note,
    warn_if_implausible,
)
from .arena_image_ops import fill_holes
from .filters import label_regions
from .floor import (
    AUTO_RANGE_HALF_WIDTH,
    FloorCandidates,
    camera_invalid_depths,
    check_background,
    check_floor_depth,
    describe_depths,
    estimate_floor_depth,
    fit_plane,
    median_floor_depth,
    other_floor_depths,
    plane_depth,
    rank_regions,
    ransac_plane,
    sloped_wall_pixels,
    suggest_range,
)

__all__ = [
    "CAMERA_ROI_WEIGHTS",
    "PlaneROI",
    "estimate_floor_depth",
    "fit_plane",
    "plane_depth",
]

logger = logging.getLogger(__name__)

#: moseq2-extract's ``bg_roi_weights`` per camera family (area, extent, distance from centre).
CAMERA_ROI_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "kinect": (1.0, 0.1, 1.0),
    "azure": (10.0, 0.1, 1.0),
    "realsense": (10.0, 0.1, 1.0),
}

# Fewer points than this in the depth range cannot define a floor.
_MIN_FLOOR_POINTS = 100
# moseq2-extract accepts a RANSAC plane only if more than this fraction of the points agree.
_MIN_INLIER_FRACTION = 0.1


def _pair(value: tuple[int, int], name: str) -> tuple[int, int]:
    try:
        first, second = (int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a pair of integers (width, height), got {value!r}"
        ) from None
    if first < 0 or second < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return first, second


class PlaneROI(ROIStrategy):
    """Arena floor by RANSAC plane fitting and region ranking (moseq2-extract's ``get_roi``).

    Parameters map one to one onto moseq2-extract's options, with the same defaults:

    Parameters
    ----------
    depth_range : (float, float), optional
        ``bg_roi_depth_range``: only background pixels strictly between these depths (mm) are
        candidates for the floor. ``None`` (default) finds it: the depth of the dominant flat
        surface near the image centre (:func:`estimate_floor_depth`) +/- 50 mm.
    weights : (float, float, float), optional
        ``bg_roi_weights``: weights of the (area, extent, distance from centre) ranks. ``None``
        takes moseq2-extract's value for the camera family: Kinect ``(1, 0.1, 1)``, Azure and
        RealSense ``(10, 0.1, 1)`` (Kinect's for an unknown camera, as moseq2-extract).
    dilate : (int, int), default (10, 10)
        ``bg_roi_dilate``: size (width, height) in pixels of the structuring element that grows
        the chosen region.
    dilate_iterations : int, default 1
        ``dilate_iterations`` (0 for no dilation; moseq2-extract 1.4.0's default is 1).
    erode : (int, int), default (1, 1)
        ``bg_roi_erode``: size (width, height) of the structuring element that shrinks it.
    erode_iterations : int, default 0
        ``erode_iterations`` (0 for no erosion).
    shape : {"ellipse", "rect"}, default "ellipse"
        ``bg_roi_shape``: shape of both structuring elements.
    index : int, default 0
        ``bg_roi_index``: which region to take, 0 for the best ranked.
    fill_holes : bool, default True
        ``bg_roi_fill_holes``: fill holes in the region (after dilation and erosion).
    gradient_filter : bool, default False
        ``bg_roi_gradient_filter``: leave out pixels where the background's Sobel derivative
        along x or y reaches ``gradient_threshold`` (walls and edges).
    gradient_threshold : float, default 3000
        ``bg_roi_gradient_threshold``, in the units of OpenCV's Sobel derivative of mm.
    gradient_kernel : int, default 7
        ``bg_roi_gradient_kernel``: Sobel aperture (1, 3, 5 or 7).
    noise_tolerance : float, default 30
        ``noise_tolerance``: pixels within this many mm of the floor plane (along the depth
        axis) belong to the floor.
    seed : int, default 0
        Seed of the RANSAC random generator; the same background and parameters always give
        the same ROI.
    true_depth : float, optional
        ``detected_true_depth``: the floor depth to use, mm, instead of the median background
        inside the ROI (``None``, the default, measures it).
    iterations : int, default 1000
        Candidate planes tried by RANSAC (moseq2's ``iters``).
    sample_points : int, default 8000
        Points the candidate planes are scored on (a random subsample when there are more).
    min_region_fraction : float, default 0.002
        Floor regions smaller than this fraction of the image (0.2%: 434 px on a Kinect v2)
        are not ranked. moseq2-extract ranks every region, so a speck of a few pixels near
        the image centre can win the distance rank and beat the arena floor (it does on the
        real ``odorbox`` and ``chamber`` backgrounds with the gradient filter); 0 restores
        moseq2-extract's behaviour. If no region is large enough the largest is kept.
    exclude_sloped_walls : bool, default True
        Leave sloped walls (ramps) out of the floor: above the floor's own noise, a pixel of
        the ``noise_tolerance`` band is floor only if the floor directly below it is flat
        floor, as it is for the face of a vertical wall (:func:`~depthextractors.extraction.
        floor.sloped_wall_pixels`). Vertical-walled arenas come out as moseq2-extract finds
        them; on a ramp, moseq2-extract's band climbs 30 mm. False: moseq2-extract's band.
    retry_implausible : bool, default True
        When the arena found without the gradient filter is implausible (touches the frame
        border, covers most of the frame, or lies off centre: :func:`~depthextractors.
        extraction.arena_checks.arena_problems`), find it again with ``gradient_filter=True``
        and take that one if it is plausible, with an
        :class:`~depthextractors.extraction.arena_checks.ArenaWarning`; when both are
        implausible and the depth range was found automatically, look at the background's next
        flat depths (:func:`~depthextractors.extraction.floor.other_floor_depths`, up to
        three: a raised arena inside a room floor) and take the first plausible arena. False:
        keep the first answer (still warned about).

    Notes
    -----
    The steps, as in moseq2-extract:

    1. (optional) gradient filter; 2. RANSAC plane through the valid background pixels in the
       depth range; 3. candidate floor = pixels in the depth range within ``noise_tolerance``
       of the plane (sloped walls left out: ``exclude_sloped_walls``); 4. its 8-connected
       regions are ranked by area (largest first), extent (area over bounding-box area,
       largest first) and largest distance of a pixel from the image centre (smallest first);
       the region with the smallest weighted mean rank comes first (ties keep label order);
       5. region ``index`` is dilated, eroded and hole-filled; 6. an implausible arena is
       looked for again with the gradient filter, then at the next flat depths
       (``retry_implausible``), and warned about.

    Automatic depth range: the floor is the highest peak of a histogram of valid background
    depths in which each pixel votes with a Gaussian weight of its distance from the image
    centre (see :func:`estimate_floor_depth`): a flat floor puts many pixels at one depth,
    walls and slopes spread out, and the camera points at the arena. The range is that depth
    +/- 50 mm, the width moseq2-extract's own automatic range uses. A floor whose depth
    varies by more than that across the arena (tilted by more than about 6 degrees on a
    Kinect v2 at 680 mm) is clipped at the range's ends: give ``depth_range`` for such rigs.

    With the defaults, the ROI matches moseq2-extract's reference masks of its own real test
    arenas (Kinect v2; IoU >= 0.95; the documentation's arena section gives each): the
    ``cross``, whose arms end in ramps, needs ``exclude_sloped_walls``; the ``chamber``, a
    box standing on a room floor of the same depth, needs the retry with the gradient filter.

    Differences: regions under ``min_region_fraction`` of the image are not ranked; the
    RANSAC is seeded and keeps the plane with most inliers instead of moseq2's
    order-dependent update rule, and is refined by least squares on the floor's own points
    (:func:`~depthextractors.extraction.floor.refine_plane`); residuals are measured along the
    depth axis; invalid pixels (0) never count as floor and are left out of the true depth;
    sloped walls and implausible arenas as above.
    """

    def __init__(
        self,
        depth_range: tuple[float, float] | None = None,
        weights: tuple[float, float, float] | None = None,
        dilate: tuple[int, int] = (10, 10),
        dilate_iterations: int = 1,
        erode: tuple[int, int] = (1, 1),
        erode_iterations: int = 0,
        shape: str = "ellipse",
        index: int = 0,
        fill_holes: bool = True,
        gradient_filter: bool = False,
        gradient_threshold: float = 3000,
        gradient_kernel: int = 7,
        noise_tolerance: float = 30,
        seed: int = 0,
        true_depth: float | None = None,
        *,
        iterations: int = 1000,
        sample_points: int = 8000,
        min_region_fraction: float = 0.002,
        exclude_sloped_walls: bool = True,
        retry_implausible: bool = True,
    ) -> None:
        if depth_range is not None:
            low, high = (float(v) for v in depth_range)
            if not (np.isfinite(low) and np.isfinite(high)) or low >= high or low < 0:
                raise ValueError(
                    f"depth_range must be (min_mm, max_mm) with 0 <= min < max, got {depth_range}"
                )
            depth_range = (low, high)
        if weights is not None:
            weights = tuple(float(v) for v in weights)
            if len(weights) != 3:
                raise ValueError(f"weights must be (area, extent, distance), got {weights}")
        if shape.lower() in ("ellipse", "e"):
            shape = "ellipse"
        elif shape.lower() in ("rect", "rectangle", "r"):
            shape = "rect"
        else:
            raise ValueError(f"shape must be 'ellipse' or 'rect', got {shape!r}")
        if gradient_kernel not in (1, 3, 5, 7):
            raise ValueError(f"gradient_kernel must be 1, 3, 5 or 7, got {gradient_kernel}")
        if noise_tolerance <= 0:
            raise ValueError(f"noise_tolerance must be positive (mm), got {noise_tolerance}")
        if index < 0:
            raise ValueError(f"index must be 0 or more, got {index}")
        if dilate_iterations < 0 or erode_iterations < 0 or iterations < 1 or sample_points < 3:
            raise ValueError(
                "dilate_iterations and erode_iterations must be >= 0, iterations >= 1 and "
                "sample_points >= 3"
            )
        self.depth_range = depth_range
        self.weights = weights
        self.dilate = _pair(dilate, "dilate")
        self.dilate_iterations = int(dilate_iterations)
        self.erode = _pair(erode, "erode")
        self.erode_iterations = int(erode_iterations)
        self.shape = shape
        self.index = int(index)
        self.fill_holes = bool(fill_holes)
        self.gradient_filter = bool(gradient_filter)
        self.gradient_threshold = float(gradient_threshold)
        self.gradient_kernel = int(gradient_kernel)
        self.noise_tolerance = float(noise_tolerance)
        self.seed = int(seed)
        self.true_depth = given_true_depth(true_depth)
        self.iterations = int(iterations)
        self.sample_points = int(sample_points)
        if not 0.0 <= min_region_fraction < 1.0:
            raise ValueError(f"min_region_fraction must be in [0, 1), got {min_region_fraction}")
        self.min_region_fraction = float(min_region_fraction)
        self.exclude_sloped_walls = bool(exclude_sloped_walls)
        self.retry_implausible = bool(retry_implausible)

    # ---------------------------------------------------------------- pieces
    def resolve_weights(self, camera: CameraModel | None) -> tuple[float, float, float]:
        """The ranking weights used for ``camera`` (explicit weights win).

        Parameters
        ----------
        camera : CameraModel or None
            The recording's camera; its ``family`` picks moseq2-extract's weights. ``None`` or
            an unknown family gets Kinect's ``(1, 0.1, 1)`` (logged).

        Returns
        -------
        tuple of float
            ``(area, extent, distance)`` rank weights.
        """
        if self.weights is not None:
            return self.weights
        family = camera.family if camera is not None else "unknown"
        if family not in CAMERA_ROI_WEIGHTS:
            logger.info("camera family %r unknown: using Kinect ROI weights (1, 0.1, 1)", family)
        return CAMERA_ROI_WEIGHTS.get(family, CAMERA_ROI_WEIGHTS["kinect"])

    def resolve_depth_range(
        self, background: np.ndarray, camera: CameraModel | None = None
    ) -> tuple[float, float]:
        """The depth range used on ``background`` (mm): the given one, or one found.

        Parameters
        ----------
        background : numpy.ndarray, shape (rows, cols)
            Background depth in mm (0 or NaN = invalid); only read when ``depth_range`` is
            ``None``.
        camera : CameraModel, optional
            The recording's camera: a floor is looked for only among the depths it can
            measure (:attr:`~depthextractors.cameras.CameraModel.visible_range_mm`).

        Returns
        -------
        tuple of float
            ``(low, high)`` in mm; a found range is the floor depth +/- 50 mm.

        Raises
        ------
        ValueError
            If the range must be found and ``background`` is not 2-D or has no valid pixel.
        TypeError
            If the range must be found and ``background`` is not real-valued.
        """
        if self.depth_range is not None:
            return self.depth_range
        image = self._visible(check_background(background, camera_invalid_depths(camera)), camera)
        floor = estimate_floor_depth(image)
        found = (floor - AUTO_RANGE_HALF_WIDTH, floor + AUTO_RANGE_HALF_WIDTH)
        logger.info("arena floor found at about %.0f mm; depth range %.0f-%.0f mm", floor, *found)
        return found

    @staticmethod
    def _visible(image: np.ndarray, camera: CameraModel | None) -> np.ndarray:
        """``image`` with depths the camera cannot measure set to 0 (invalid)."""
        if camera is None:
            return image
        # Readings beyond what the camera measures (tens of metres in an outdoor RealSense
        # scene) are noise, never the floor.
        low, high = camera.visible_range_mm
        visible = np.where((image >= low) & (image <= high), image, 0.0)
        if not visible.any():
            check_floor_depth(estimate_floor_depth(image), camera, image)
        return visible

    def _structuring_element(self, size: tuple[int, int]) -> np.ndarray:
        kind = cv2.MORPH_ELLIPSE if self.shape == "ellipse" else cv2.MORPH_RECT
        return cv2.getStructuringElement(kind, size)

    def gradient_mask(self, background: np.ndarray) -> np.ndarray:
        """Pixels whose Sobel derivatives along x and y both stay below the threshold.

        Parameters
        ----------
        background : numpy.ndarray, shape (rows, cols)
            Background depth in mm.

        Returns
        -------
        numpy.ndarray, shape (rows, cols), bool
            True where ``|d/dx|`` and ``|d/dy|`` (Sobel of aperture ``gradient_kernel``) are
            both under ``gradient_threshold``.
        """
        image = np.asarray(background, dtype=np.float32)
        grad_x = np.abs(cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=self.gradient_kernel))
        grad_y = np.abs(cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=self.gradient_kernel))
        return (grad_x < self.gradient_threshold) & (grad_y < self.gradient_threshold)

    def candidate_regions(
        self,
        background: np.ndarray,
        camera: CameraModel | None = None,
        gradient_filter: bool | None = None,
        depth_range: tuple[float, float] | None = None,
    ) -> FloorCandidates:
        """Fit the floor plane and rank the connected regions of the floor candidates.

        Parameters
        ----------
        background : numpy.ndarray, shape (rows, cols)
            Background depth in mm (0 or NaN = invalid).
        camera : CameraModel, optional
            Chooses the ranking weights when ``weights`` is None (see :meth:`resolve_weights`)
            and gives the principal point for ``exclude_sloped_walls``.
        gradient_filter : bool, optional
            Use the gradient filter or not (``None``: as configured).
        depth_range : (float, float), optional
            Depth range in mm (``None``: :meth:`resolve_depth_range`).

        Returns
        -------
        FloorCandidates
            Region labels, their rank order, the plane, the depth range, the floor's noise and
            the pixels left out as sloped wall.

        Raises
        ------
        ValueError
            If the background is not 2-D, too few pixels lie in the depth range, no plane
            fits enough of them within ``noise_tolerance``, or no pixel is near the plane.
        TypeError
            If the background is not real-valued.
        """
        image = check_background(background, camera_invalid_depths(camera))
        low, high = depth_range if depth_range else self.resolve_depth_range(image, camera)
        usable = (image > low) & (image < high)
        use_gradient = self.gradient_filter if gradient_filter is None else gradient_filter
        if use_gradient:
            usable = usable & self.gradient_mask(image)
        count = int(np.count_nonzero(usable))
        if count < _MIN_FLOOR_POINTS:
            filtered = " and pass the gradient filter" if use_gradient else ""
            raise ValueError(
                f"no arena floor between {low:.0f} and {high:.0f} mm: only {count} background "
                f"pixels lie in that depth range{filtered} "
                f"(at least {_MIN_FLOOR_POINTS} needed); {describe_depths(image)}; "
                f"{suggest_range(image)}"
            )
        yy, xx = np.nonzero(usable)
        depths = image[yy, xx]
        rng = np.random.default_rng(self.seed)
        plane, fraction, noise = ransac_plane(
            xx.astype(np.float64), yy.astype(np.float64), depths,
            self.noise_tolerance, self.iterations, self.sample_points, rng,
        )  # fmt: skip
        if fraction <= _MIN_INLIER_FRACTION:
            raise ValueError(
                f"no flat arena floor between {low:.0f} and {high:.0f} mm: the best plane "
                f"fits only {fraction:.0%} of the {count} pixels in that range within "
                f"{self.noise_tolerance:g} mm; {describe_depths(image)}; {suggest_range(image)}"
            )
        distance = np.abs(image - plane_depth(plane, image.shape))
        floor = usable & (distance < self.noise_tolerance)
        sloped = self._sloped_walls(image, plane, floor, noise, camera)
        floor &= ~sloped
        count, labels, stats = label_regions(floor)
        if count < 2:
            raise ValueError(
                f"no pixel lies within {self.noise_tolerance:g} mm of the floor plane between "
                f"{low:.0f} and {high:.0f} mm; {describe_depths(image)}"
            )
        order = rank_regions(
            labels, stats, self.resolve_weights(camera), self.min_region_fraction
        )
        return FloorCandidates(labels, order, plane, (low, high), noise, sloped)

    def _sloped_walls(
        self,
        image: np.ndarray,
        plane: np.ndarray,
        band: np.ndarray,
        noise: float,
        camera: CameraModel | None,
    ) -> np.ndarray:
        """The band's sloped-wall pixels (none when ``exclude_sloped_walls`` is off)."""
        if not self.exclude_sloped_walls:
            return np.zeros(image.shape, dtype=bool)
        rows, cols = image.shape
        centre = camera.principal_point if camera is not None else (cols // 2, rows // 2)
        return sloped_wall_pixels(image, plane, band, noise, centre)

    def shape_region(self, region: np.ndarray) -> np.ndarray:
        """Dilate, erode and fill holes in a region mask, as configured.

        Parameters
        ----------
        region : numpy.ndarray, shape (rows, cols)
            Boolean (or 0/1) mask of the chosen region.

        Returns
        -------
        numpy.ndarray, shape (rows, cols), bool
            The shaped mask (may be empty after erosion).
        """
        mask = region.astype(np.uint8)
        if self.dilate_iterations > 0 and min(self.dilate) > 0:
            mask = cv2.dilate(
                mask, self._structuring_element(self.dilate), iterations=self.dilate_iterations
            )
        if self.erode_iterations > 0 and min(self.erode) > 0:
            mask = cv2.erode(
                mask, self._structuring_element(self.erode), iterations=self.erode_iterations
            )
        out = mask.astype(bool)
        if self.fill_holes:
            out = fill_holes(out)
        return out

    # ---------------------------------------------------------------- the strategy
    def find(self, background: np.ndarray, camera: CameraModel | None = None) -> ArenaROI:
        """Find the arena in a background image (:meth:`ROIStrategy.find`).

        The camera's family chooses the ranking weights when ``weights`` is None. An arena
        that looks implausible is looked for again with the gradient filter
        (``retry_implausible``); one still implausible is returned with an
        :class:`~depthextractors.extraction.arena_checks.ArenaWarning` naming its problems
        (also in :attr:`ArenaROI.problems`).

        Raises
        ------
        ValueError
            If no floor lies in the depth range (the message gives the depths found and a
            range to try), if ``index`` is past the last region, if the ROI is empty after
            erosion, or if the floor found lies outside the depths the camera can measure.
        """
        image = check_background(background, camera_invalid_depths(camera))
        arena = self._find_once(image, camera, self.gradient_filter)
        if arena.problems and self.retry_implausible and not self.gradient_filter:
            arena = retry_with_gradient_filter(arena, lambda: self._find_once(image, camera, True))
        if arena.problems and self.retry_implausible and self.depth_range is None:
            floor = sum(arena.depth_range) / 2.0
            depths = other_floor_depths(self._visible(image, camera), floor)
            arena = retry_at_other_floors(arena, depths, lambda d: self._find_at(image, camera, d))
        warn_if_implausible(arena)
        return arena

    def _find_at(self, image: np.ndarray, camera: CameraModel | None, depth: float) -> ArenaROI:
        """The arena in the automatic range around ``depth``: as configured, else with the
        gradient filter when that is plausible."""
        depth_range = (depth - AUTO_RANGE_HALF_WIDTH, depth + AUTO_RANGE_HALF_WIDTH)
        arena = self._find_once(image, camera, self.gradient_filter, depth_range)
        if arena.problems and not self.gradient_filter:
            filtered = self._find_once(image, camera, True, depth_range)
            arena = arena if filtered.problems else filtered
        return arena

    def _find_once(
        self,
        image: np.ndarray,
        camera: CameraModel | None,
        gradient_filter: bool,
        depth_range: tuple[float, float] | None = None,
    ) -> ArenaROI:
        """The arena with or without the gradient filter, its notes and problems."""
        found = self.candidate_regions(image, camera, gradient_filter, depth_range)
        labels, order, depth_range = found.labels, found.order, found.depth_range
        if self.index >= order.size:
            raise ValueError(
                f"index={self.index} asks for region {self.index + 1} but only {order.size} "
                f"floor region(s) were found between {depth_range[0]:.0f} and "
                f"{depth_range[1]:.0f} mm"
            )
        region = labels == order[self.index]
        mask = self.shape_region(region)
        if not mask.any():
            raise ValueError(
                f"the arena ROI is empty after erosion with {self.erode} x "
                f"{self.erode_iterations}; use a smaller erode or fewer erode_iterations"
            )
        if self.true_depth is None:
            true_depth = median_floor_depth(image, mask)
            check_floor_depth(true_depth, camera, image)
        else:
            true_depth = self.true_depth
        return ArenaROI(
            mask=mask,
            true_depth=true_depth,
            plane=found.plane,
            depth_range=depth_range,
            weights=self.resolve_weights(camera),
            notes=sloped_wall_note(region, found.sloped, mask),
            problems=arena_problems(mask),
        )
