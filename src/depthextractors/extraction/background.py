"""Background strategies: the depth of the empty arena, estimated from the recording.

:class:`StridedMedianBackground` is moseq2-extract's ``get_bground_im_file``: the per-pixel
median of every ``frame_stride``-th frame, each smoothed by a small median blur first. Unlike
moseq2-extract, invalid pixels (depth 0, and the camera's other codes for no measurement, such
as a saturated 65535) are left out of the median instead of pulling it towards them.
:class:`PlaneFitBackground` is moseq2-extract's ``use_plane_bground``: the arena's floor plane
evaluated at every pixel, for animals that stand still so long that the median sees them.

Both leave out of the median what stands over the floor in most of the sampled frames but not
in all of them (``transient_height``, :func:`median_without_transients`): an animal that rested
in one place through more than half of a short session stays out of the background, its low
head and flanks too, which moseq2-extract's median keeps (the animal is then lost there for the
whole session).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import cv2
import numpy as np

from ..extractors.base import DepthVideoExtractor
from .arena import ROIStrategy
from .box_windows import labels_under
from .filters import label_regions
from .roi import PlaneROI, plane_depth
from .strategy import Strategy

__all__ = [
    "BackgroundStrategy",
    "PlaneFitBackground",
    "StridedMedianBackground",
    "median_ignoring_zeros",
    "median_without_transients",
]

logger = logging.getLogger(__name__)

# Rows of the frame stack sorted at a time: bounds the temporary copy of the median to a few
# megabytes whatever the frame size and number of sampled frames.
_MEDIAN_BLOCK_BYTES = 16 * 1024 * 1024

#: Share of a pixel's valid samples the floor must show for a transient over it to be left out.
FLOOR_SHARE = 0.2
#: Share of the transient threshold that the low rim joined to a transient must stand over the
#: floor to be left out with it (a resting animal's head, flanks and tail base; 1: no rim).
RIM_SHARE = 0.5
#: A pixel's transient threshold is at least this many times the typical spread of the noise
#: (the median over pixels of the far depth's distance above the median): a camera noisier than
#: the threshold allows does not have its noisy floor taken for transients.
_NOISE_MARGIN = 4.0
#: The rim's threshold is at least this many times the noise spread: below it, the floor's own
#: scatter joins up from pixel to pixel and a rim would spread over the floor.
_RIM_NOISE_MARGIN = 6.0


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def _check_height(value: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"transient_height must be a number of mm, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"transient_height must be a finite number of mm >= 0, got {value}")
    return float(value)


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
    stack = _checked_stack(stack)
    out = np.zeros(stack.shape[1:], dtype=np.float32)
    for rows, ordered, valid in _sorted_blocks(stack):
        out[rows] = _median_of_sorted(ordered, valid)
    return out


def _checked_stack(stack: np.ndarray) -> np.ndarray:
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"stack must have shape (frames, rows, cols), got {stack.shape}")
    if not np.issubdtype(stack.dtype, np.unsignedinteger):
        raise TypeError(f"stack must hold unsigned integer depth, got dtype {stack.dtype}")
    return stack


def _sorted_blocks(stack: np.ndarray):
    """``(rows, sorted values, valid counts)`` for blocks of rows of a frame stack."""
    frames, rows, cols = stack.shape
    if frames == 0:
        return
    block = max(1, _MEDIAN_BLOCK_BYTES // max(frames * cols * stack.dtype.itemsize, 1))
    for start in range(0, rows, block):
        part = stack[:, start : start + block]
        yield (
            slice(start, start + part.shape[1]),
            np.sort(part, axis=0),
            np.count_nonzero(part, axis=0),
        )


def _median_of_sorted(ordered: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The median of the non-zero values of each column of an axis-0 sorted array (0: none)."""
    median = _middle_of_top(ordered, valid)
    median[valid == 0] = 0.0
    return median


def _middle_of_top(ordered: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the ``count`` largest values of each column of an axis-0 sorted array."""
    frames = ordered.shape[0]
    low = np.clip(frames - count + (count - 1) // 2, 0, frames - 1)
    high = np.clip(frames - count + count // 2, 0, frames - 1)
    lower = np.take_along_axis(ordered, low[None], axis=0)[0].astype(np.float32)
    upper = np.take_along_axis(ordered, high[None], axis=0)[0].astype(np.float32)
    return (lower + upper) * np.float32(0.5)


def median_without_transients(
    stack: np.ndarray,
    transient_height: float,
    floor_share: float = FLOOR_SHARE,
    rim_share: float = RIM_SHARE,
) -> np.ndarray:
    """Per-pixel median over the first axis, leaving out zeros and transient objects.

    At each pixel the *far depth* is the largest depth shown by at least ``floor_share`` of
    its valid samples (the floor, when it was seen that often). Where the median is more
    than the threshold nearer the camera than the far depth, something stood over the floor in
    most samples but not in all (an animal resting through most of a short session, a hand):
    the median is taken over the samples within the threshold of the far depth instead. The
    low rim joined to such pixels (8-connected pixels whose median is more than ``rim_share``
    of the threshold nearer than their far depth: a resting animal's head, flanks and tail
    base, lower than the threshold) is left out too, its median taken over the samples within
    that lower threshold of the far depth. Every other pixel keeps the plain median
    (:func:`median_ignoring_zeros`), to the bit.

    Parameters
    ----------
    stack : numpy.ndarray, shape (frames, rows, cols)
        Unsigned integer depth (zeros mark invalid pixels), e.g. uint16 millimetres.
    transient_height : float
        Threshold in millimetres; 0 returns the plain median. It is raised to four times the
        image's typical noise spread when the camera is noisier than that.
    floor_share : float, default 0.2
        Share of a pixel's valid samples (at least two) the floor must show; an object present
        in more of them is kept (a fixed object in the arena, an animal that never moved).
    rim_share : float, default 0.5
        Share of the threshold, in (0, 1], that the rim must stand over the floor; 1 leaves
        no rim out. The rim's threshold is at least six times the noise spread, and no rim is
        grown where that reaches the threshold (a noisy floor would join up into one).

    Returns
    -------
    numpy.ndarray, shape (rows, cols), float32
        Background depth in the stack's units; 0 where a pixel is never valid.
    """
    stack = _checked_stack(stack)
    if transient_height < 0:
        raise ValueError(f"transient_height must be at least 0 mm, got {transient_height:g}")
    if not 0 < floor_share <= 1:
        raise ValueError(f"floor_share must be in (0, 1], got {floor_share:g}")
    if not 0 < rim_share <= 1:
        raise ValueError(f"rim_share must be in (0, 1], got {rim_share:g}")
    if transient_height == 0:
        return median_ignoring_zeros(stack)
    frames = stack.shape[0]
    median = np.zeros(stack.shape[1:], dtype=np.float32)
    far = np.zeros(stack.shape[1:], dtype=np.float32)
    sampled = np.zeros(stack.shape[1:], dtype=bool)  # at least two valid samples
    for rows, ordered, valid in _sorted_blocks(stack):
        median[rows] = _median_of_sorted(ordered, valid)
        sampled[rows] = valid >= 2
        rank = np.maximum(np.ceil(floor_share * valid).astype(np.int64), 2)
        index = np.clip(frames - rank, 0, frames - 1)
        far[rows] = np.take_along_axis(ordered, index[None], axis=0)[0]
    if not sampled.any():
        return median
    spread = float(np.median(far[sampled] - median[sampled]))
    threshold = max(float(transient_height), _NOISE_MARGIN * spread)
    transient = sampled & (median < far - threshold)
    if not transient.any():
        return median
    floor_from = far - np.float32(threshold)  # the samples the floor's median is taken over
    rim_threshold = max(rim_share * threshold, _RIM_NOISE_MARGIN * spread)
    if rim_threshold < threshold:
        rim = _joined(transient, sampled & (median < far - rim_threshold)) & ~transient
        floor_from[rim] = far[rim] - np.float32(rim_threshold)
        transient |= rim
    ordered = np.sort(stack[:, transient], axis=0)
    kept = np.count_nonzero(ordered >= floor_from[transient][None], axis=0)
    median[transient] = _middle_of_top(ordered, kept)
    logger.debug(
        "background: %d pixels covered in most samples left to the floor (threshold %.1f mm)",
        int(transient.sum()),
        threshold,
    )
    return median


def _joined(seed: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The 8-connected parts of the bool ``region`` that hold a pixel of the bool ``seed``."""
    # label_regions: the labelling that is safe in a batch's threads on whole frames.
    count, labels, _ = label_regions(region)
    return labels_under(labels, count, seed & region)[labels]


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
    transient_height : float, default 10.0
        Millimetres: at a pixel where the median is this much nearer the camera than the depth
        at least a fifth of the sampled frames show there, the object over it is transient (an
        animal resting through most of a short session, a hand) and the background is the
        median of the frames that show the floor (:func:`median_without_transients`), as it is
        over the object's low rim joined to such pixels (its head and flanks: what stands
        over half this height). 0 gives moseq2-extract's plain median everywhere; every other
        pixel has that median anyway.

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
        self,
        frame_stride: int = 500,
        median_filter_size: int = 5,
        min_frames: int = 15,
        transient_height: float = 10.0,
    ) -> None:
        self.frame_stride = _check_positive_int(frame_stride, "frame_stride")
        self.median_filter_size = _check_filter_size(median_filter_size)
        self.min_frames = _check_positive_int(min_frames, "min_frames")
        self.transient_height = _check_height(transient_height)

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
        return median_without_transients(frames, self.transient_height)


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
    transient_height : float, default 10.0
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
        transient_height: float = 10.0,
        roi: ROIStrategy | None = None,
    ) -> None:
        self._median = StridedMedianBackground(
            frame_stride, median_filter_size, min_frames, transient_height
        )
        self.frame_stride = self._median.frame_stride
        self.median_filter_size = self._median.median_filter_size
        self.min_frames = self._median.min_frames
        self.transient_height = self._median.transient_height
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
