"""Background strategies: the depth of the empty arena, estimated from the recording.

:class:`StridedMedianBackground` is moseq2-extract's ``get_bground_im_file``: the per-pixel
median of every ``frame_stride``-th frame, each smoothed by a small median blur first. Unlike
moseq2-extract, invalid pixels (depth 0, and the camera's other codes for no measurement, such
as a saturated 65535) are left out of the median instead of pulling it towards them.
:class:`PlaneFitBackground` is moseq2-extract's ``use_plane_bground``: the arena's floor plane
evaluated at every pixel, for animals that stand still so long that the median sees them.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import cv2
import numpy as np

from ..extractors.base import DepthVideoExtractor
from .arena import ROIStrategy
from .roi import PlaneROI, plane_depth
from .strategy import Strategy

__all__ = [
    "BackgroundStrategy",
    "PlaneFitBackground",
    "StridedMedianBackground",
    "median_ignoring_zeros",
]

logger = logging.getLogger(__name__)

# Rows of the frame stack sorted at a time: bounds the temporary copy of the median to a few
# megabytes whatever the frame size and number of sampled frames.
_MEDIAN_BLOCK_BYTES = 16 * 1024 * 1024


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def _check_filter_size(value: int) -> int:
    size = _check_positive_int(value, "median_filter_size")
    if size % 2 == 0:
        raise ValueError(
            f"median_filter_size must be an odd number of pixels (1 for no blur), got {size}"
        )
    return size


def median_ignoring_zeros(stack: np.ndarray) -> np.ndarray:
    """Per-pixel median over the first axis, leaving out zeros (invalid depth).

    Parameters
    ----------
    stack : numpy.ndarray, shape (frames, rows, cols)
        Unsigned integer depth (zeros mark invalid pixels), e.g. uint16 millimetres.

    Returns
    -------
    numpy.ndarray, shape (rows, cols), float32
        The median of the non-zero values of each pixel (the mean of the two middle values when
        their count is even); 0 where a pixel is never valid.

    Notes
    -----
    Zeros sort first, so after sorting each pixel's values the median of its ``n`` valid values
    sits at positions ``frames - n + (n - 1) // 2`` and ``frames - n + n // 2``. This is about
    ten times faster than ``numpy.nanmedian`` on a float copy, and works in blocks of rows so
    the sorted copy stays small.
    """
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"stack must have shape (frames, rows, cols), got {stack.shape}")
    if not np.issubdtype(stack.dtype, np.unsignedinteger):
        raise TypeError(f"stack must hold unsigned integer depth, got dtype {stack.dtype}")
    frames, rows, cols = stack.shape
    out = np.zeros((rows, cols), dtype=np.float32)
    if frames == 0:
        return out
    row_bytes = max(frames * cols * stack.dtype.itemsize, 1)
    block = max(1, _MEDIAN_BLOCK_BYTES // row_bytes)
    for start in range(0, rows, block):
        part = stack[:, start : start + block]
        ordered = np.sort(part, axis=0)
        valid = np.count_nonzero(part, axis=0)
        low = np.minimum(frames - valid + (valid - 1) // 2, frames - 1)
        high = np.minimum(frames - valid + valid // 2, frames - 1)
        lower = np.take_along_axis(ordered, low[None], axis=0)[0].astype(np.float32)
        upper = np.take_along_axis(ordered, high[None], axis=0)[0].astype(np.float32)
        median = (lower + upper) * np.float32(0.5)
        median[valid == 0] = 0.0
        out[start : start + block] = median
    return out


def _median_blur(frame: np.ndarray, size: int) -> np.ndarray:
    """Median blur of one uint16 frame with a ``size`` x ``size`` window."""
    if size == 1:
        return frame
    if size <= 5:
        # OpenCV's fast path handles 16-bit images only up to a 5x5 window.
        return cv2.medianBlur(frame, size)
    # Beyond 5x5 OpenCV needs 8-bit input; scipy gives the same filter on 16 bits.
    from scipy import ndimage  # imported on use: it costs 0.15 s at start-up

    return ndimage.median_filter(frame, size=size, mode="nearest")


def _median_blur_of_valid(frame: np.ndarray, size: int) -> np.ndarray:
    """Median blur of one uint16 frame over the non-zero pixels of each window (0 = invalid).

    The ``size * size`` neighbours of each pixel are sorted together (zeros first), a block of
    rows at a time; the median of the valid ones is rounded to whole millimetres. About 40 ms
    for a Kinect frame, against under 1 ms for :func:`_median_blur`, so it runs only for the
    frames that need it.
    """
    if size == 1:
        return frame
    half = size // 2
    padded = np.pad(frame, half, mode="edge")
    rows, cols = frame.shape
    out = np.empty_like(frame)
    window = size * size
    block = max(1, _MEDIAN_BLOCK_BYTES // (window * cols * frame.itemsize))
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        stack = np.stack([
            padded[start + dy : stop + dy, dx : dx + cols]
            for dy in range(size) for dx in range(size)
        ])  # fmt: skip
        stack.sort(axis=0)
        valid = np.count_nonzero(stack, axis=0)
        low = np.minimum(window - valid + (valid - 1) // 2, window - 1)
        high = np.minimum(window - valid + valid // 2, window - 1)
        lower = np.take_along_axis(stack, low[None], axis=0)[0].astype(np.float32)
        upper = np.take_along_axis(stack, high[None], axis=0)[0].astype(np.float32)
        median = np.rint((lower + upper) * np.float32(0.5))
        median[valid == 0] = 0
        out[start:stop] = median.astype(frame.dtype)
    return out


class BackgroundStrategy(Strategy, ABC):
    """Estimates the empty arena's depth from the recording: the background contract.

    A new background strategy implements one method, :meth:`compute`. The session calls it
    once per run and subtracts the result from every frame to get heights above the floor.
    """

    @abstractmethod
    def compute(self, extractor: DepthVideoExtractor) -> np.ndarray:
        """The background of a recording.

        Parameters
        ----------
        extractor : DepthVideoExtractor
            The recording (or a slice of it).

        Returns
        -------
        numpy.ndarray
            ``(rows, cols)`` depth in millimetres, one per pixel of the frames; 0 where
            unknown.
        """

    def roi_image(self, background: np.ndarray) -> np.ndarray:
        """The image the arena is found on (the background itself unless overridden).

        Parameters
        ----------
        background : numpy.ndarray
            What :meth:`compute` returned for this recording.

        Returns
        -------
        numpy.ndarray
            ``(rows, cols)`` depth in millimetres.
        """
        return background


class StridedMedianBackground(BackgroundStrategy):
    """Median background of strided frames (moseq2-extract's ``get_bground_im_file``).

    Parameters
    ----------
    frame_stride : int, default 500
        Use frames ``0, frame_stride, 2 * frame_stride, ...`` (moseq2 ``bg_roi_frame_stride``
        / ``frame_stride``). A 54,000-frame session at the default reads 108 frames.
    median_filter_size : int, default 5
        Side, in pixels, of the median blur applied to each sampled frame before the median
        (moseq2 ``med_scale``); odd, 1 for no blur.
    min_frames : int, default 15
        Fewest frames the median is taken over. A session too short for that many frames at
        ``frame_stride`` is sampled at evenly spaced frames instead (moseq2-extract would take
        the median of two frames of a 900-frame session, which keeps half of the animal in the
        background).

    Notes
    -----
    Each sampled frame is read once, with a single :meth:`DepthVideoExtractor.get_frames` call.
    Invalid pixels (depth 0, and the other values the camera uses for no measurement,
    :attr:`~depthextractors.cameras.CameraModel.invalid_depths`: 65535, a saturated reading) are
    left out of the per-pixel median; a pixel never valid stays 0. The blur runs before zeros
    are dropped, as in moseq2-extract, so isolated invalid pixels are filled in by their
    neighbours; a frame holding other invalid codes than 0 is blurred over its valid pixels
    only (its invalid pixels count in no window), so they pull no depth up or down.
    """

    def __init__(
        self, frame_stride: int = 500, median_filter_size: int = 5, min_frames: int = 15
    ) -> None:
        self.frame_stride = _check_positive_int(frame_stride, "frame_stride")
        self.median_filter_size = _check_filter_size(median_filter_size)
        self.min_frames = _check_positive_int(min_frames, "min_frames")

    def frame_indices(self, num_frames: int) -> np.ndarray:
        """Indices of the frames the background is computed from.

        Parameters
        ----------
        num_frames : int
            Frames in the recording.

        Returns
        -------
        numpy.ndarray
            Sorted, unique int64 frame indices: every ``frame_stride``-th frame, or
            ``min(min_frames, num_frames)`` evenly spaced frames when the stride gives fewer.
        """
        indices = np.arange(0, num_frames, self.frame_stride, dtype=np.int64)
        if indices.size >= min(self.min_frames, num_frames):
            return indices
        count = min(self.min_frames, num_frames)
        logger.info(
            "background: %d frames at stride %d are too few; using %d evenly spaced frames",
            indices.size,
            self.frame_stride,
            count,
        )
        return np.unique(np.linspace(0, num_frames - 1, count).round().astype(np.int64))

    def compute(self, extractor: DepthVideoExtractor) -> np.ndarray:
        """The median background of a recording (:meth:`BackgroundStrategy.compute`).

        Returns
        -------
        numpy.ndarray, shape (rows, cols), float32
            Background depth in millimetres; 0 where a pixel was never valid.

        Raises
        ------
        ValueError
            If the recording has no frames.
        """
        num_frames = extractor.get_num_frames()
        if num_frames < 1:
            raise ValueError("cannot compute a background from a recording with no frames")
        indices = self.frame_indices(num_frames)
        frames = extractor.get_frames(indices)
        if frames.dtype != np.uint16 or not (frames.flags.owndata and frames.flags.writeable):
            # The frames are blurred in place: never write into an extractor's own buffers.
            frames = np.array(frames, dtype=np.uint16)
        # Every "no measurement" code becomes 0, the one the median leaves out: a saturated
        # 65535 kept as a depth would pull the median towards it (by hundreds of mm where a
        # fifth of the frames saturate). A frame that holds such codes is blurred leaving its
        # invalid pixels out too, as zeros would pull the blur down (walls into the floor).
        codes = [code for code in extractor.camera.invalid_depths if code != 0]
        for i in range(frames.shape[0]):
            frame = frames[i]
            coded = np.zeros(frame.shape, dtype=bool)
            for code in codes:
                coded |= frame == code
            if coded.any():
                # Fill the coded pixels from their valid neighbours first, so that the blur
                # keeps the balance of depths around them (a floor beside a wall stays floor).
                frame[coded] = 0
                fill = _median_blur_of_valid(frame, self.median_filter_size)
                frame[coded] = fill[coded]
                frames[i] = _median_blur(frame, self.median_filter_size)
            else:
                frames[i] = _median_blur(frame, self.median_filter_size)
        logger.debug("background: median of %d frames (stride %d)", indices.size, self.frame_stride)
        return median_ignoring_zeros(frames)


class PlaneFitBackground(BackgroundStrategy):
    """The arena's floor plane as the background (moseq2-extract's ``use_plane_bground``).

    The strided median background is computed first, the arena's floor plane is fitted to it by
    ``roi`` (a :class:`~depthextractors.extraction.roi.PlaneROI`), and the plane is evaluated
    at every pixel. Useful when the animal rests in one place for much of the session, so that
    the median background would contain it.

    Parameters
    ----------
    frame_stride : int, default 500
        As in :class:`StridedMedianBackground`.
    median_filter_size : int, default 5
        As in :class:`StridedMedianBackground`.
    min_frames : int, default 15
        As in :class:`StridedMedianBackground`.
    roi : ROIStrategy, optional
        Finds the floor plane; ``PlaneROI()`` (automatic depth range) when not given.

    Attributes
    ----------
    median_background : numpy.ndarray or None
        The strided median background of the last :meth:`compute` (float32 mm).
    arena : ArenaROI or None
        The arena found during the last :meth:`compute`.
    """

    def __init__(
        self,
        frame_stride: int = 500,
        median_filter_size: int = 5,
        min_frames: int = 15,
        roi: ROIStrategy | None = None,
    ) -> None:
        self._median = StridedMedianBackground(frame_stride, median_filter_size, min_frames)
        self.frame_stride = self._median.frame_stride
        self.median_filter_size = self._median.median_filter_size
        self.min_frames = self._median.min_frames
        self.roi = roi
        self.median_background: np.ndarray | None = None
        self.arena = None

    def compute(self, extractor: DepthVideoExtractor) -> np.ndarray:
        """Compute the plane background of a recording.

        Also sets :attr:`median_background` and :attr:`arena`.

        Parameters
        ----------
        extractor : DepthVideoExtractor
            The recording (or a slice of it); its camera chooses the ROI ranking weights.

        Returns
        -------
        numpy.ndarray, shape (rows, cols), float32
            Depth of the fitted floor plane at every pixel, millimetres.

        Raises
        ------
        ValueError
            If the recording has no frames or no arena floor is found (see
            :meth:`PlaneROI.find`).
        """
        background = self._median.compute(extractor)
        finder = self.roi if self.roi is not None else PlaneROI()
        arena = finder.find(background, extractor.camera)
        self.median_background = background
        self.arena = arena
        return plane_depth(arena.plane, background.shape).astype(np.float32)

    def roi_image(self, background: np.ndarray) -> np.ndarray:
        """The median background the plane was fitted to.

        A plane is flat everywhere, so on the plane itself every pixel would pass as floor:
        the arena is found on the median image, as moseq2-extract does.

        Parameters
        ----------
        background : numpy.ndarray
            The plane background :meth:`compute` returned.

        Returns
        -------
        numpy.ndarray
            :attr:`median_background`.
        """
        if self.median_background is None:
            raise RuntimeError("PlaneFitBackground.roi_image() needs compute() to run first")
        return self.median_background
