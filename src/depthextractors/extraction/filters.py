"""Image and signal filters of the extraction: spatial, temporal, tail, cable and Hampel.

The image filters work on 8-bit height images (millimetres above the floor, as moseq2-extract's
``frame_dtype='uint8'``) and run in moseq2-extract's order: cable filter (erosion), spatial
median, tail filter (morphological opening) on each frame, then the temporal median across
frames. :class:`FrameFilters` groups their parameters under moseq2-extract's option names.

:func:`hampel_filter` replaces outliers of a scalar series (centroid x and y, angle) by the
rolling median. It is the textbook Hampel identifier: a value is an outlier when it lies more
than ``sig`` robust standard deviations (``1.4826 * MAD``) from the median of its window.
moseq2-extract applied it to the centroid's x only and compared against ``median + sig * MAD``;
both are corrected here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .strategy import Strategy

__all__ = [
    "FrameFilters",
    "HampelFilter",
    "hampel_filter",
    "label_regions",
    "largest_region",
    "remove_tethers",
    "structuring_element",
    "temporal_median",
]

_SHAPES = {
    "ellipse": cv2.MORPH_ELLIPSE,
    "rect": cv2.MORPH_RECT,
    "rectangle": cv2.MORPH_RECT,
    "cross": cv2.MORPH_CROSS,
}

# Consistency constant of the median absolute deviation for Gaussian data.
MAD_TO_SIGMA = 1.4826


def structuring_element(shape: str, size: tuple[int, int]) -> np.ndarray:
    """An OpenCV structuring element.

    Parameters
    ----------
    shape : {"ellipse", "rectangle", "rect", "cross"}
        Shape of the element (moseq2-extract's ``*_filter_shape`` values).
    size : (int, int)
        ``(width, height)`` in pixels, each at least 1.

    Returns
    -------
    numpy.ndarray
        uint8 kernel of shape ``(height, width)``.
    """
    key = str(shape).lower()
    if key not in _SHAPES:
        raise ValueError(
            f"unknown structuring element shape {shape!r}; expected one of {sorted(_SHAPES)}"
        )
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise ValueError(f"structuring element size must be at least (1, 1) pixels, got {size}")
    return cv2.getStructuringElement(_SHAPES[key], (width, height))


def _odd_size(value: int, name: str, allow_zero: bool = True) -> int:
    value = int(value)
    if value == 0 and allow_zero:
        return 0
    if value < 1 or value % 2 == 0:
        raise ValueError(
            f"{name} must be an odd number of pixels/frames (or 0 to switch it off), got {value}"
        )
    return value


@dataclass(frozen=True)
class FrameFilters(Strategy):
    """Denoising applied to height images before tracking (moseq2-extract's ``clean_frames``).

    Parameters
    ----------
    spatial_size : int, default 3
        Kernel of the spatial median filter, pixels (odd; 0 switches it off). moseq2-extract's
        ``spatial_filter_size``.
    temporal_size : int, default 0
        Kernel of the temporal median filter, frames (odd; 0 switches it off). It spans chunk
        boundaries: the session feeds it the neighbouring frames of the previous and next chunk.
        moseq2-extract's ``temporal_filter_size``.
    tail_size : (int, int), default (9, 9)
        Size of the tail filter's structuring element, pixels (``tail_filter_size``).
    tail_shape : str, default "ellipse"
        Its shape (``tail_filter_shape``).
    tail_iterations : int, default 1
        Iterations of the morphological opening that removes the tail; 0 switches it off
        (``tail_filter_iters``).
    cable_size : (int, int), default (5, 5)
        Size of the cable filter's structuring element, pixels (``cable_filter_size``).
    cable_shape : str, default "rectangle"
        Its shape (``cable_filter_shape``).
    cable_iterations : int, default 0
        Erosions applied first to thin out cables and fibres; 0 switches it off
        (``cable_filter_iters``). moseq2-extract passed this number where OpenCV expects an
        output array, so it always eroded once; here it is the number of iterations.
    tether_size : int, default 0
        New (``tether_filter_size``; 0 switches it off): after the tail filter, parts of the
        animal's object narrower than a disc of this diameter (pixels) that reach out of the
        body's ellipse (1.25 times the ellipse of the body's second moments) are a tether or
        cable, and are removed; narrow parts inside it (the head, the tail's base) are kept.
        ``animal: auto`` sets it for a tethered animal (three quarters of its width).
    """

    spatial_size: int = 3
    temporal_size: int = 0
    tail_size: tuple[int, int] = (9, 9)
    tail_shape: str = "ellipse"
    tail_iterations: int = 1
    cable_size: tuple[int, int] = (5, 5)
    cable_shape: str = "rectangle"
    cable_iterations: int = 0
    tether_size: int = 0

    def __post_init__(self) -> None:
        _odd_size(self.spatial_size, "spatial_size")
        _odd_size(self.temporal_size, "temporal_size")
        for name in ("tail_iterations", "cable_iterations", "tether_size"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        object.__setattr__(self, "tail_size", tuple(int(v) for v in self.tail_size))
        object.__setattr__(self, "cable_size", tuple(int(v) for v in self.cable_size))
        # Validate shapes and sizes now rather than on the first frame.
        structuring_element(self.tail_shape, self.tail_size)
        structuring_element(self.cable_shape, self.cable_size)

    @property
    def temporal_radius(self) -> int:
        """Frames of context the temporal median needs on each side."""
        return self.temporal_size // 2

    def reach(self) -> int:
        """Pixels by which the spatial filters can move an edge (sum of their radii)."""
        reach = self.spatial_size // 2
        if self.cable_iterations > 0:
            reach += max(self.cable_size) // 2 * int(self.cable_iterations)
        if self.tail_iterations > 0:
            reach += 2 * (max(self.tail_size) // 2) * int(self.tail_iterations)
        return reach + int(self.tether_size)

    def region_margin(self) -> int:
        """Pixels of floor to keep round an image's non-zero pixels so that filtering only
        that region gives what filtering the whole image gives there (and 0 elsewhere).

        No filter spreads non-zero pixels farther than the median's radius (erosions and
        openings only shrink them). One more pixel keeps a ring of floor at the region's edge
        through every filter, which is what the whole image has past it: the median's
        replicated border reads that floor, and every erosion whose element crosses the edge
        still sees a floor pixel inside the region, as its element is convex.
        """
        return self.spatial_size // 2 + 1

    def kernels(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(cable, tail)`` structuring elements, ``None`` where the filter is off."""
        cable = (
            structuring_element(self.cable_shape, self.cable_size)
            if self.cable_iterations > 0
            else None
        )
        tail = (
            structuring_element(self.tail_shape, self.tail_size)
            if self.tail_iterations > 0
            else None
        )
        return cable, tail

    def apply_spatial(
        self,
        frame: np.ndarray,
        kernels: tuple[np.ndarray | None, np.ndarray | None] | None = None,
    ) -> np.ndarray:
        """Cable filter, spatial median and tail filter on one height image.

        Parameters
        ----------
        frame : numpy.ndarray
            ``(rows, cols)`` uint8 (or uint16) heights in millimetres.
        kernels : tuple, optional
            Precomputed :meth:`kernels` (saves rebuilding them per frame).

        Returns
        -------
        numpy.ndarray
            A new filtered image of the same shape and dtype.
        """
        return self.spatial_steps(frame, kernels)[1]

    def spatial_steps(
        self,
        frame: np.ndarray,
        kernels: tuple[np.ndarray | None, np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`apply_spatial`, also giving the image before the tail filter.

        Parameters
        ----------
        frame, kernels
            As in :meth:`apply_spatial`.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            The heights after the cable filter and the median (what the tail filter is
            applied to), and after every spatial filter; never ``frame`` itself (both may be
            the same new array).
        """
        cable, tail = self.kernels() if kernels is None else kernels
        out = frame
        if cable is not None:
            out = cv2.erode(out, cable, iterations=int(self.cable_iterations))
        if self.spatial_size > 0:
            out = _median_blur(out, self.spatial_size)
        smoothed = out.copy() if out is frame else out
        out = smoothed
        if tail is not None:
            out = cv2.morphologyEx(out, cv2.MORPH_OPEN, tail, iterations=int(self.tail_iterations))
        if self.tether_size > 0:
            out = remove_tethers(out, int(self.tether_size))
        return smoothed, out


def label_regions(binary: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected regions of a binary image: count (background included), labels, stats.

    OpenCV's default labelling for 8-connectivity (BBDT, parallel) raised a floating point
    exception here when several threads labelled at once (a batch's workers); Wu's SAUF
    algorithm, the one its 4-connectivity uses, did not. SAUF scans in raster order and a
    merge keeps the smaller label, so regions are numbered in the order a raster scan meets
    them, as ``scipy.ndimage.label`` numbers them (the arena's ranking breaks ties by label;
    ``tests/test_arena_image_ops.py`` checks it, the block-based default does not give it).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        binary.astype(np.uint8), 8, cv2.CV_32S, cv2.CCL_SAUF
    )
    return count, labels, stats


def largest_region(binary: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected region of a binary image as uint8 0/1, or None when empty."""
    count, labels, stats = label_regions(binary)
    if count < 2:
        return None
    return (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)


def remove_tethers(heights: np.ndarray, size: int, reach: float = 1.25) -> np.ndarray:
    """Heights without the thin parts that reach out of the body (tethers, cables).

    The body is what an opening by a disc of ``size`` pixels keeps of the object holding the
    opening's largest part; the other parts of the object (narrower than the disc) that have
    a pixel outside ``reach`` times the ellipse of the body's second moments are set to 0.

    Parameters
    ----------
    heights : numpy.ndarray
        ``(rows, cols)`` heights after the tail filter.
    size : int
        Diameter of the disc, pixels.
    reach : float, default 1.25
        Scale of the body's ellipse beyond which a thin part is a tether.

    Returns
    -------
    numpy.ndarray
        ``heights``, or a copy with the tethers' pixels set to 0.
    """
    whole = (heights > 0).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(whole)
    if w == 0:
        return heights
    # Worked on round the non-zero pixels only (the filter's region holds a cable's far
    # stretch and noise): a disc's width of zeros round them keeps the opening as over the
    # whole image, where the erosion takes what lies past the image's edge as set.
    y0, x0 = max(y - size, 0), max(x - size, 0)
    mask = whole[y0 : y + h + size, x0 : x + w + size]
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disc)
    largest = largest_region(opened)
    if largest is None:
        return heights
    # The body is every part of the largest object's opening, not only its largest part: the
    # opening cuts a body in two where it narrows (a waist, or a hole where a cable standing
    # on the back rises above max_height), and both halves are body. Only what the opening
    # removed can be a tether.
    row, col = np.unravel_index(int(np.argmax(largest)), largest.shape)
    # The object holding it: flooded from that pixel (8-connected), not the image labelled.
    filled = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    cv2.floodFill(mask, filled, (int(col), int(row)), 0, 0, 0, 8 | cv2.FLOODFILL_MASK_ONLY)
    body = opened.astype(bool) & (filled[1:-1, 1:-1] > 0)
    ys, xs = np.nonzero(body)
    if xs.size < 3:
        return heights
    # In the whole image's pixel coordinates.
    ys, xs = ys + y0, xs + x0
    centre = np.array([xs.mean(), ys.mean()])
    inverse = np.linalg.pinv(np.cov(np.vstack([xs, ys])) * 4.0 * reach**2)
    rest = mask & ~opened
    count, labels, _ = label_regions(rest)
    if count < 2:
        return heights
    # All the parts' pixels at once (a pass over the image per part cost most of the filter).
    part_ys, part_xs = np.nonzero(labels)
    owner = labels[part_ys, part_xs]
    part_ys, part_xs = part_ys + y0, part_xs + x0
    offsets = np.vstack([part_xs, part_ys]).T - centre
    # Mahalanobis distance 1 under 4 * covariance is the body's ellipse (semi-axes
    # 2 sqrt(eigenvalues), the body's half-length and half-width).
    reached = np.zeros(count, dtype=np.float64)
    np.maximum.at(reached, owner, np.einsum("ij,jk,ik->i", offsets, inverse, offsets))
    tether = (reached > 1.0)[owner]
    if not tether.any():
        return heights
    out = heights.copy()
    out[part_ys[tether], part_xs[tether]] = 0
    return out


#: Columns OpenCV's vectorised 3x3 and 5x5 median of 8-bit images needs; narrower images (a
#: region round the animal often is) go through a scalar path 15-20x slower (64 rows, 3x3: 65
#: columns 53 us, 66 columns 2.6 us; benchmarks/bench_filters.py).
_MEDIAN_FAST_COLUMNS = {3: 66, 5: 68}


def _median_blur(frame: np.ndarray, size: int) -> np.ndarray:
    if frame.dtype != np.uint8 and size > 5:
        # OpenCV's median blur takes 16-bit images only for kernels up to 5.
        from scipy.ndimage import median_filter

        return median_filter(frame, size=size, mode="nearest")
    columns = frame.shape[1]
    fast = _MEDIAN_FAST_COLUMNS.get(size, 0)
    if frame.dtype == np.uint8 and columns < fast:
        # Widened by repeating the last column, which is what the median's own border does:
        # the result is the same, pixel for pixel.
        wide = cv2.copyMakeBorder(frame, 0, 0, 0, fast - columns, cv2.BORDER_REPLICATE)
        return cv2.medianBlur(wide, size)[:, :columns]
    return cv2.medianBlur(frame, size)


def temporal_median(
    frames: np.ndarray, size: int, out: np.ndarray | None = None, block: int = 32
) -> np.ndarray:
    """Median of each pixel over ``size`` consecutive frames (windows shrink at the ends).

    Parameters
    ----------
    frames : numpy.ndarray
        ``(frames, rows, cols)`` images.
    size : int
        Odd window length in frames; 0 or 1 returns a copy.
    out : numpy.ndarray, optional
        Where to write the result (must not be ``frames``).
    block : int, default 32
        Frames processed at a time (bounds the temporary memory to ``block * size`` images).

    Returns
    -------
    numpy.ndarray
        Filtered frames, same shape and dtype. At the ends of the array the window is clipped
        to the frames that exist (``nearest`` edge handling): callers that filter a chunk of a
        longer session pass the neighbouring frames along and keep only the interior.
    """
    size = _odd_size(size, "temporal size")
    if out is None:
        out = np.empty_like(frames)
    elif out is frames:
        raise ValueError("temporal_median cannot work in place; pass a different out array")
    if size <= 1 or frames.shape[0] == 0:
        out[...] = frames
        return out
    radius = size // 2
    padded_index = np.clip(np.arange(-radius, frames.shape[0] + radius), 0, frames.shape[0] - 1)
    for start in range(0, frames.shape[0], block):
        stop = min(start + block, frames.shape[0])
        window = frames[padded_index[start : stop + 2 * radius]]
        stacked = sliding_window_view(window, size, axis=0)
        out[start:stop] = np.median(stacked, axis=-1).astype(frames.dtype, copy=False)
    return out


def hampel_filter(values: np.ndarray, span: int, sig: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Replace outliers of a series by the median of their window (Hampel identifier).

    Parameters
    ----------
    values : numpy.ndarray
        ``(n,)`` series; NaN marks missing values, which are ignored in the windows and left as
        they are.
    span : int
        Window length in samples, centred on each value (odd; an even span is widened by one).
        Windows are clipped at the ends of the series.
    sig : float, default 3
        Threshold in robust standard deviations: a value is an outlier when
        ``|value - median| > sig * 1.4826 * MAD`` of its window.

    Returns
    -------
    filtered : numpy.ndarray
        A float64 copy with the outliers replaced.
    outliers : numpy.ndarray of bool
        Where values were replaced.
    """
    series = np.asarray(values, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"hampel_filter expects a 1-D series, got shape {series.shape}")
    filtered = series.copy()
    if span is None or span <= 1 or series.size == 0:
        return filtered, np.zeros(series.shape, dtype=bool)
    radius = int(span) // 2
    padded = np.pad(series, radius, constant_values=np.nan)
    windows = sliding_window_view(padded, 2 * radius + 1)
    with np.errstate(invalid="ignore"), _quiet_nanmedian():
        median = np.nanmedian(windows, axis=1)
        mad = np.nanmedian(np.abs(windows - median[:, None]), axis=1)
    with np.errstate(invalid="ignore"):
        outliers = np.abs(series - median) > sig * MAD_TO_SIGMA * mad
    outliers &= np.isfinite(series)
    filtered[outliers] = median[outliers]
    return filtered, outliers


class _quiet_nanmedian:
    """Silence numpy's "All-NaN slice" warning: an all-missing window is expected (no animal)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


@dataclass(frozen=True)
class HampelFilter(Strategy):
    """Hampel outlier filter settings for one family of scalars.

    Parameters
    ----------
    span : int, default 0
        Window length in frames; 0 switches the filter off (moseq2-extract's
        ``centroid_hampel_span`` / ``angle_hampel_span``).
    sig : float, default 3
        Threshold in robust standard deviations (``*_hampel_sig``).
    """

    span: int = 0
    sig: float = 3.0

    def __post_init__(self) -> None:
        if int(self.span) < 0:
            raise ValueError(f"Hampel span must be >= 0 frames, got {self.span}")
        if not float(self.sig) > 0:
            raise ValueError(f"Hampel sig must be > 0 robust standard deviations, got {self.sig}")

    @property
    def enabled(self) -> bool:
        """Whether the filter does anything."""
        return int(self.span) > 1

    @property
    def radius(self) -> int:
        """Frames of context needed on each side of a value."""
        return int(self.span) // 2 if self.enabled else 0

    def apply(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filter a series; see :func:`hampel_filter`.

        Parameters
        ----------
        values : numpy.ndarray
            ``(n_frames,)`` per-frame scalar series; NaN marks missing frames.

        Returns
        -------
        filtered : numpy.ndarray
            A float64 copy with the outliers replaced by their window's median (a plain copy
            when the filter is off).
        outliers : numpy.ndarray of bool
            ``(n_frames,)``, where values were replaced.

        Raises
        ------
        ValueError
            If ``values`` is not one-dimensional.
        """
        return hampel_filter(values, int(self.span), float(self.sig))
