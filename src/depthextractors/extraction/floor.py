"""The arena floor: plane fitting, the floor's depth, and ranking floor regions.

Plane convention: ``(a, b, c, d)`` with ``a*x + b*y + c*depth + d = 0``, x = column and
y = row in pixels, depth in millimetres; ``(a, b, c)`` is a unit vector with ``c < 0``, so
``depth = -(a*x + b*y + d) / c``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..cameras import ANY_CAMERA_DEPTH_RANGE_MM, INVALID_DEPTHS, CameraModel
from .arena_image_ops import bilinear_at, distance_to, gaussian_smooth

__all__ = [
    "AUTO_RANGE_HALF_WIDTH",
    "FloorCandidates",
    "camera_invalid_depths",
    "check_background",
    "check_floor_depth",
    "describe_depths",
    "estimate_floor_depth",
    "fit_plane",
    "median_floor_depth",
    "other_floor_depths",
    "plane_depth",
    "rank_regions",
    "ransac_plane",
    "refine_plane",
    "sloped_wall_pixels",
    "suggest_range",
]

#: Half-width (mm) of the automatic depth range around the floor depth (moseq2-extract's
#: automatic range is also +/- 50 mm).
AUTO_RANGE_HALF_WIDTH = 50.0
# Candidate planes scored per batch: bounds the residual matrix to a few megabytes.
_RANSAC_BATCH = 64
#: Depth resolution of every supported camera (integer millimetres): no floor is flatter.
DEPTH_RESOLUTION_MM = 1.0
#: Floor points lie within this many robust standard deviations of the floor plane.
FLOOR_NOISE_SIGMAS = 3.0
# Median absolute deviation to standard deviation, for normally distributed noise.
_MAD_TO_SIGMA = 1.4826
# Refinement rounds at most; the floor points usually stop changing after three or four.
_REFINE_ITERATIONS = 10
#: How far (px) from the flat floor the foot of a vertical wall may stand in a background: the
#: sensor's edge smoothing and the background's median blur spread a wall's foot over 2-3 px.
WALL_FOOT_SPREAD_PX = 3.0


class FloorCandidates(NamedTuple):
    """The floor candidates of a background (``PlaneROI.candidate_regions``).

    Attributes
    ----------
    labels : numpy.ndarray, shape (rows, cols), int32
        Region label of each pixel (0 = not floor).
    order : numpy.ndarray of int
        Labels from the best ranked region to the worst.
    plane : numpy.ndarray, shape (4,)
        The floor plane ``(a, b, c, d)``, as :func:`plane_depth` takes it.
    depth_range : (float, float)
        The depth range used, mm.
    noise : float
        The floor's noise about the plane (robust standard deviation), mm.
    sloped : numpy.ndarray, shape (rows, cols), bool
        Pixels within ``noise_tolerance`` of the plane left out as sloped wall (none when
        ``exclude_sloped_walls`` is off).
    """

    labels: np.ndarray
    order: np.ndarray
    plane: np.ndarray
    depth_range: tuple[float, float]
    noise: float
    sloped: np.ndarray


# --------------------------------------------------------------------------------------------
# Backgrounds and floor depths
# --------------------------------------------------------------------------------------------
def check_background(
    background: np.ndarray, invalid_depths: tuple[int, ...] = INVALID_DEPTHS
) -> np.ndarray:
    """``background`` as a float64 depth image, 0 where invalid; checked.

    NaN and the camera's codes for no measurement (``invalid_depths``, such as a saturated
    65535) mark missing data like 0 does.
    """
    image = np.asarray(background)
    if image.ndim != 2:
        raise ValueError(f"the background must be a (rows, cols) image, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise TypeError(f"the background must hold depths in mm, got dtype {image.dtype}")
    image = image.astype(np.float64)
    invalid = ~np.isfinite(image)
    for code in invalid_depths:
        if code != 0:
            invalid |= image == code
    return np.where(invalid, 0.0, image)


def camera_invalid_depths(camera: CameraModel | None) -> tuple[int, ...]:
    """The camera's codes for no measurement (:data:`~depthextractors.cameras.INVALID_DEPTHS`
    for no camera)."""
    return camera.invalid_depths if camera is not None else INVALID_DEPTHS


def median_floor_depth(background: np.ndarray, mask: np.ndarray) -> float:
    """The median valid background depth inside ``mask``, mm (moseq2's true depth)."""
    inside = background[mask & (background > 0)]
    if inside.size == 0:
        raise ValueError("the ROI holds no valid (non-zero) background pixel; no floor depth")
    return float(np.median(inside))


# --------------------------------------------------------------------------------------------
# Planes
# --------------------------------------------------------------------------------------------
def _plane_from_slopes(slope_x: float, slope_y: float, offset: float) -> np.ndarray:
    """Plane ``depth = slope_x*x + slope_y*y + offset`` in the unit-normal convention."""
    norm = np.sqrt(slope_x**2 + slope_y**2 + 1.0)
    return np.array([slope_x, slope_y, -1.0, offset], dtype=np.float64) / norm


def plane_depth(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Depth (mm) of a plane at every pixel of an image of ``shape`` ``(rows, cols)``.

    Parameters
    ----------
    plane : array_like, shape (4,)
        ``(a, b, c, d)`` with ``a*x + b*y + c*depth + d = 0``; ``c`` must not be 0.
    shape : tuple of int
        ``(rows, cols)``.

    Returns
    -------
    numpy.ndarray, shape (rows, cols), float64
    """
    a, b, c, d = (float(v) for v in np.asarray(plane, dtype=np.float64))
    if abs(c) < 1e-12:
        raise ValueError(f"the plane {plane} is parallel to the depth axis; it has no depth")
    rows, cols = shape
    x = np.arange(cols, dtype=np.float64)[None, :]
    y = np.arange(rows, dtype=np.float64)[:, None]
    return -(a * x + b * y + d) / c


def fit_plane(x: np.ndarray, y: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Least-squares plane ``depth = p*x + q*y + r`` through points, in the unit-normal form.

    Parameters
    ----------
    x, y : numpy.ndarray
        Pixel coordinates (column, row).
    depth : numpy.ndarray
        Depth of each point, millimetres.

    Returns
    -------
    numpy.ndarray, shape (4,)
        ``(a, b, c, d)``, unit normal, ``c < 0``.

    Raises
    ------
    ValueError
        If fewer than three points are given or they are collinear.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    z = np.asarray(depth, dtype=np.float64).ravel()
    if x.size < 3:
        raise ValueError(f"a plane needs at least 3 points, got {x.size}")
    # Centring the coordinates keeps the normal equations well conditioned. The sums are
    # numpy's own (pairwise) rather than a BLAS product, whose summation order depends on the
    # number of BLAS threads: the same points give the same plane to the last bit everywhere.
    cx, cy, cz = x.mean(), y.mean(), z.mean()
    dx, dy, dz = x - cx, y - cy, z - cz
    sxy = np.sum(dx * dy)
    gram = np.array([[np.sum(dx * dx), sxy], [sxy, np.sum(dy * dy)]])
    if np.linalg.cond(gram) > 1e12:
        raise ValueError("the points are collinear; they do not define a plane")
    slope_x, slope_y = np.linalg.solve(gram, np.array([np.sum(dx * dz), np.sum(dy * dz)]))
    return _plane_from_slopes(slope_x, slope_y, cz - slope_x * cx - slope_y * cy)


def ransac_plane(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    noise_tolerance: float,
    iterations: int,
    sample_points: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float, float]:
    """Seeded, vectorised RANSAC plane fit: the plane, its inlier fraction, the floor's noise.

    Candidate planes through random triples are scored together on a random subsample of the
    points: the plane with most points within ``noise_tolerance`` mm (along the depth axis)
    wins, ties going to the smaller mean truncated residual. The winner is refined by least
    squares on the floor's own points among all points (:func:`refine_plane`), which also
    measures the floor's noise (mm).
    """
    count = x.size
    if count > sample_points:
        pick = np.sort(rng.choice(count, size=sample_points, replace=False))
        xs, ys, zs = x[pick], y[pick], z[pick]
    else:
        xs, ys, zs = x, y, z
    triples = rng.integers(0, xs.size, size=(iterations, 3))
    p0 = np.stack([xs[triples[:, 0]], ys[triples[:, 0]], zs[triples[:, 0]]], axis=1)
    p1 = np.stack([xs[triples[:, 1]], ys[triples[:, 1]], zs[triples[:, 1]]], axis=1)
    p2 = np.stack([xs[triples[:, 2]], ys[triples[:, 2]], zs[triples[:, 2]]], axis=1)
    normal = np.cross(p1 - p0, p2 - p0)
    # A normal with no depth component means collinear points (or a vertical plane): no floor.
    usable = np.abs(normal[:, 2]) > 1e-9
    normal, p0 = normal[usable], p0[usable]
    if normal.shape[0] == 0:
        raise ValueError(
            "RANSAC found no usable plane: the points in the depth range are collinear"
        )
    slope_x = -normal[:, 0] / normal[:, 2]
    slope_y = -normal[:, 1] / normal[:, 2]
    offset = p0[:, 2] - slope_x * p0[:, 0] - slope_y * p0[:, 1]

    xs32, ys32, zs32 = (v.astype(np.float32) for v in (xs, ys, zs))
    tolerance = np.float32(noise_tolerance)
    inliers = np.empty(slope_x.size, dtype=np.int64)
    cost = np.empty(slope_x.size, dtype=np.float64)
    for start in range(0, slope_x.size, _RANSAC_BATCH):
        stop = start + _RANSAC_BATCH
        predicted = (
            slope_x[start:stop, None].astype(np.float32) * xs32
            + slope_y[start:stop, None].astype(np.float32) * ys32
            + offset[start:stop, None].astype(np.float32)
        )
        residual = np.abs(zs32 - predicted)
        inliers[start:stop] = np.count_nonzero(residual < tolerance, axis=1)
        cost[start:stop] = np.minimum(residual, tolerance).mean(axis=1, dtype=np.float64)
    best = np.lexsort((cost, -inliers))[0]
    fraction = inliers[best] / xs.size
    plane = _plane_from_slopes(slope_x[best], slope_y[best], offset[best])
    plane, noise = refine_plane(x, y, z, plane, noise_tolerance)
    return plane, float(fraction), noise


def refine_plane(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, plane: np.ndarray, noise_tolerance: float
) -> tuple[np.ndarray, float]:
    """Least-squares refinement of a floor plane on the floor's own points; the floor's noise.

    Parameters
    ----------
    x, y : numpy.ndarray
        Pixel coordinates (column, row) of the candidate points.
    z : numpy.ndarray
        Their depths, millimetres.
    plane : numpy.ndarray, shape (4,)
        The starting plane (RANSAC's), unit-normal form.
    noise_tolerance : float
        Points farther than this (mm, along the depth axis) are never floor.

    Returns
    -------
    plane : numpy.ndarray, shape (4,)
        The refined plane.
    noise : float
        Robust standard deviation (1.4826 x the median absolute deviation) of the floor points'
        depths about the plane, millimetres.

    Notes
    -----
    The points within ``noise_tolerance`` of the plane include the foot of every wall and any
    slope the band reaches up; a least-squares fit to all of them is pulled towards the camera
    (by 6-8 mm on real arenas with sloped walls). So the fit is repeated on the points within
    :data:`FLOOR_NOISE_SIGMAS` robust standard deviations of the median residual (never less
    than the cameras' 1 mm depth resolution), which are the floor's, until they stop changing.
    """
    keep = np.abs(z - _evaluate(plane, x, y)) < noise_tolerance
    noise = 0.0
    for _ in range(_REFINE_ITERATIONS):
        if np.count_nonzero(keep) < 3:
            break
        try:
            plane = fit_plane(x[keep], y[keep], z[keep])
        except ValueError:
            break
        residual = z - _evaluate(plane, x, y)
        inside = residual[keep]
        centre = float(np.median(inside))
        noise = _MAD_TO_SIGMA * float(np.median(np.abs(inside - centre)))
        limit = max(FLOOR_NOISE_SIGMAS * noise, DEPTH_RESOLUTION_MM)
        floor = np.abs(residual - centre) < limit
        if np.array_equal(floor, keep):
            break
        keep = floor
    return plane, noise


def _evaluate(plane: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    a, b, c, d = plane
    return -(a * x + b * y + d) / c


# --------------------------------------------------------------------------------------------
# Walls in the floor band
# --------------------------------------------------------------------------------------------
def sloped_wall_pixels(
    background: np.ndarray,
    plane: np.ndarray,
    band: np.ndarray,
    noise: float,
    principal_point: tuple[float, float],
) -> np.ndarray:
    """Pixels of the floor band that lie on a sloped wall, not on the floor or a wall's foot.

    Parameters
    ----------
    background : numpy.ndarray, shape (rows, cols)
        Background depth, millimetres (0 = invalid).
    plane : numpy.ndarray, shape (4,)
        The floor plane.
    band : numpy.ndarray, shape (rows, cols), bool
        The floor candidates: pixels within ``noise_tolerance`` of the plane.
    noise : float
        The floor's noise (robust standard deviation, mm; see :func:`refine_plane`).
    principal_point : (float, float)
        ``(x, y)`` pixel of the optical axis.

    Returns
    -------
    numpy.ndarray, shape (rows, cols), bool
        Band pixels above the flat floor whose point of floor directly below is more than
        :data:`WALL_FOOT_SPREAD_PX` pixels from the flat floor.

    Notes
    -----
    The flat floor is the band within :data:`FLOOR_NOISE_SIGMAS` x ``noise`` of the plane.
    A band pixel higher than that is seen at depth ``z`` over floor of depth ``z_floor``; the
    floor directly below it is where the camera's ray would have met the floor had the pixel's
    surface not been there: at ``c + (p - c) * z / z_floor`` in the image (``c`` the principal
    point, the camera looking down). A vertical wall stands on the floor's edge, so the floor
    below every pixel of its face, however far up the ``noise_tolerance`` band reaches (near
    the image edge the camera sees 5-10 px of a wall's face), is the flat floor: those pixels
    are kept, as moseq2-extract keeps them. A surface that leans back (a ramp, a sloped wall)
    stands over ground outside the flat floor and is left out, however flat it looks from the
    camera. Only the principal point is needed, not the focal length.
    """
    image = np.asarray(background, dtype=np.float64)
    floor_depth = plane_depth(plane, image.shape)
    residual = image - floor_depth
    flat = band & (np.abs(residual) < max(FLOOR_NOISE_SIGMAS * noise, DEPTH_RESOLUTION_MM))
    above = band & ~flat & (residual < 0)
    sloped = np.zeros(image.shape, dtype=bool)
    if not flat.any() or not above.any():
        return sloped
    rows, cols = np.nonzero(above)
    ratio = image[rows, cols] / floor_depth[rows, cols]
    cx, cy = principal_point
    below = (cy + (rows - cy) * ratio, cx + (cols - cx) * ratio)
    offset = bilinear_at(distance_to(flat), *below)
    far = offset > WALL_FOOT_SPREAD_PX
    sloped[rows[far], cols[far]] = True
    return sloped


# --------------------------------------------------------------------------------------------
# Automatic depth range
# --------------------------------------------------------------------------------------------
def estimate_floor_depth(background: np.ndarray, bin_mm: float = 2.0) -> float:
    """Depth (mm) of the dominant flat surface near the image centre.

    Parameters
    ----------
    background : numpy.ndarray, shape (rows, cols)
        Background depth in millimetres (0 = invalid).
    bin_mm : float, default 2
        Histogram bin width, millimetres.

    Returns
    -------
    float
        The floor depth estimate, millimetres.

    Notes
    -----
    A flat floor seen from above puts many pixels at nearly one depth, a sharp peak in the
    histogram of background depths, while walls and slopes spread over many depths. Each valid
    pixel votes with a Gaussian weight of its distance from the image centre (sigma a quarter
    of the shorter image side), because the arena is what the camera is pointed at; the
    histogram is smoothed over about 10 mm and its highest peak is taken.
    """
    smooth, edges = _depth_histogram(background, bin_mm)
    peak = int(np.argmax(smooth))
    return float((edges[peak] + edges[peak + 1]) / 2.0)


def other_floor_depths(
    background: np.ndarray, floor_mm: float, count: int = 3, bin_mm: float = 2.0
) -> list[float]:
    """Depths (mm) of the next flat surfaces after the floor :func:`estimate_floor_depth` found.

    The peaks of the same weighted histogram, highest first, each more than twice
    ``AUTO_RANGE_HALF_WIDTH`` from ``floor_mm`` and from each other: where the first answer is
    a room floor around a raised arena (or a table under it), the arena's floor is among them.

    Parameters
    ----------
    background : numpy.ndarray, shape (rows, cols)
        Background depth in millimetres (0 = invalid).
    floor_mm : float
        The floor found first, millimetres.
    count : int, default 3
        Most depths returned.
    bin_mm : float, default 2
        Histogram bin width, millimetres.

    Returns
    -------
    list of float
        Up to ``count`` depths, millimetres.
    """
    smooth, edges = _depth_histogram(background, bin_mm)
    centres = (edges[:-1] + edges[1:]) / 2.0
    # The first and last bins can be peaks too (the nearest or farthest depth seen).
    padded = np.concatenate([[0.0], smooth, [0.0]])
    peaks = np.flatnonzero((smooth > padded[:-2]) & (smooth >= padded[2:]) & (smooth > 0))
    found: list[float] = []
    for peak in peaks[np.argsort(-smooth[peaks], kind="stable")]:
        depth = float(centres[peak])
        if all(abs(depth - other) > 2 * AUTO_RANGE_HALF_WIDTH for other in (floor_mm, *found)):
            found.append(depth)
        if len(found) == count:
            break
    return found


def _depth_histogram(background: np.ndarray, bin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed histogram of valid depths, weighted towards the image centre, and its edges."""
    image = np.asarray(background, dtype=np.float64)
    rows, cols = image.shape
    valid = image > 0
    if not np.any(valid):
        raise ValueError("the background has no valid (non-zero) pixel; no floor can be found")
    yy, xx = np.nonzero(valid)
    sigma = 0.25 * min(rows, cols)
    weights = np.exp(-0.5 * (((yy - rows / 2.0) ** 2 + (xx - cols / 2.0) ** 2) / sigma**2))
    depths = image[valid]
    low, high = np.floor(depths.min()), np.ceil(depths.max()) + bin_mm
    edges = np.arange(low, high + bin_mm, bin_mm)
    histogram, edges = np.histogram(depths, bins=edges, weights=weights)
    smooth = gaussian_smooth(histogram, sigma=max(5.0 / bin_mm, 1.0))
    return smooth, edges


def describe_depths(background: np.ndarray) -> str:
    """One phrase with the percentiles of the valid background depths (for error messages)."""
    valid = background[background > 0]
    if valid.size == 0:
        return "the background has no valid (non-zero) pixel"
    p5, p25, p50, p75, p95 = np.percentile(valid, [5, 25, 50, 75, 95])
    return (
        f"valid background depths: 5th/25th/50th/75th/95th percentiles "
        f"{p5:.0f}/{p25:.0f}/{p50:.0f}/{p75:.0f}/{p95:.0f} mm"
    )


def suggest_range(background: np.ndarray) -> str:
    """One phrase suggesting a depth range around the floor found (for error messages)."""
    try:
        floor = estimate_floor_depth(background)
    except ValueError:
        return "check that the recording shows the arena"
    return (
        f"the dominant flat surface near the image centre is at about {floor:.0f} mm; try "
        f"depth_range=({floor - AUTO_RANGE_HALF_WIDTH:.0f}, "
        f"{floor + AUTO_RANGE_HALF_WIDTH:.0f}) or depth_range=None to find it automatically"
    )


def check_floor_depth(
    true_depth: float, camera: CameraModel | None, background: np.ndarray
) -> None:
    """Refuse a floor depth that the camera cannot measure (e.g. a saturated 65535 mm).

    Parameters
    ----------
    true_depth : float
        The floor depth found, mm.
    camera : CameraModel or None
        The recording's camera; its :attr:`~depthextractors.cameras.CameraModel.
        visible_range_mm` (any supported camera's range when None).
    background : numpy.ndarray
        The background the floor was found in (for the message).

    Raises
    ------
    ValueError
        If ``true_depth`` lies outside that range; the message gives the depths found and what
        to do.
    """
    low, high = camera.visible_range_mm if camera is not None else ANY_CAMERA_DEPTH_RANGE_MM
    if low <= true_depth <= high:
        return
    which = (
        f"a {camera.name} camera"
        if camera is not None and camera.name != "unknown"
        else ("any supported camera")
    )
    raise ValueError(
        f"the arena floor was found {true_depth:.0f} mm from the camera, outside the "
        f"{low:.0f}-{high:.0f} mm {which} can measure, so it is not a floor but invalid or "
        f"saturated readings; {describe_depths(background)}. Check that the recording shows "
        "the arena, give the floor's depth range (depth_range=(low, high), the "
        "bg_roi_depth_range setting), or the camera (camera=..., a CameraModel with "
        "depth_range_mm if yours sees farther)"
    )


def rank_regions(
    labels: np.ndarray,
    stats: np.ndarray,
    weights: tuple[float, float, float],
    min_region_fraction: float,
) -> np.ndarray:
    """Labels of the floor regions from the best ranked to the worst (moseq2's ranking).

    Regions are ranked by area (largest first), extent (area over bounding-box area, largest
    first) and largest distance of a pixel from the image centre (smallest first); the region
    with the smallest weighted mean rank comes first, ties keeping label order.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(rows, cols)`` int region labels, 0 for no region.
    stats : numpy.ndarray
        ``(count, 5)`` OpenCV statistics of labels ``0..count - 1`` (left, top, width, height,
        area; :func:`~depthextractors.extraction.filters.label_regions`), row 0 the
        background's.
    weights : (float, float, float)
        Weights of the (area, extent, distance) ranks.
    min_region_fraction : float
        Regions smaller than this fraction of the image are not ranked (the largest is kept
        when none is large enough).

    Returns
    -------
    numpy.ndarray
        Labels in rank order.
    """
    index = np.arange(1, stats.shape[0])
    # OpenCV's columns: CC_STAT_LEFT, _TOP, _WIDTH, _HEIGHT, _AREA.
    left, top, width, height, areas = stats[1:].T
    areas = areas.astype(np.float64)
    # Specks of floor-like pixels (a few px on a shelf or between wall dropouts) would
    # otherwise win the distance-from-centre rank and beat the real floor.
    keep = areas >= min_region_fraction * labels.size
    if not keep.any():
        keep = areas == areas.max()
    index, areas = index[keep], areas[keep]
    corners = zip(left[keep], top[keep], width[keep], height[keep], strict=True)
    boxes = [(slice(y, y + h), slice(x, x + w)) for x, y, w, h in corners]
    extents = areas / (width[keep] * height[keep]).astype(np.float64)
    rows, cols = labels.shape
    # Distances from the image centre as moseq2 measures them: (rows / 2, cols / 2).
    distance = np.hypot(
        np.arange(rows, dtype=np.float64)[:, None] - rows / 2.0,
        np.arange(cols, dtype=np.float64)[None, :] - cols / 2.0,
    )
    # Within each region's bounding box only: much faster than a labelled maximum over the
    # whole image once the specks are gone.
    far = np.array(
        [
            distance[box][labels[box] == label].max()
            for label, box in zip(index, boxes, strict=True)
        ],
        dtype=np.float64,
    )
    ranks = np.vstack([_max_rank(-areas), _max_rank(-extents), _max_rank(far)])
    score = np.mean(ranks * np.asarray(weights, dtype=np.float64)[:, None], axis=0)
    return index[np.argsort(score, kind="stable")]


def _max_rank(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing the largest rank of their group (scipy's ``method="max"``)."""
    return np.searchsorted(np.sort(values), values, side="right").astype(np.float64)
