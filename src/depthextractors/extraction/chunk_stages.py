"""The per-chunk stages: angle unwrapping, outlier filters, model smoothing, crops, flips and
scalars.

Each is a :class:`~depthextractors.extraction.stages.ChunkStage`; the session composes them
(:meth:`SessionExtraction.chunk_stages`) in this order, after the frame stages have tracked
every frame of the window (and, with a stateless tracker, after
:class:`~depthextractors.extraction.jumps.RetrackJumpsStage` has tracked again the frames whose
object jumped away from their neighbours'):

1. :class:`UnwrapStage` — centroid and body angle per frame; the angle (known modulo pi)
   unwrapped continuously over the session;
2. :class:`HampelStage` — outliers of x, y and angle replaced (reads ``span // 2`` frames on
   each side);
3. :class:`ModelSmoothingStage` — the tracker's own smoothing (moseq2's model smoother for the
   EM tracker; nothing for others);
4. :class:`CropStage` — crops and masks around the sub-pixel centroid, nose along the angle,
   for the finished frames and the flip corrector's look-ahead;
5. :class:`FlipStage` — the flip corrector's decisions, applied once (angle + pi, crop and mask
   turned 180 degrees);
6. :class:`ScalarStage` — the scalars of the finished frames.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..cameras import CameraModel
from .arguments import as_frame_count
from .crop import crop_and_rotate, crop_reach, turn_round
from .em_tracking import smooth_by_model
from .filters import HampelFilter
from .flips import FlipContext, FlipCorrector, FlipDecision
from .scalars import ScalarComputer
from .stages import ChunkStage, WindowWork
from .tracking import Tracker

__all__ = [
    "CropStage",
    "FlipStage",
    "HampelStage",
    "ModelSmoothingStage",
    "ScalarStage",
    "UnwrapStage",
]


class UnwrapStage(ChunkStage):
    """Centroid and unwrapped body angle of every frame read (NaN where no animal).

    The body angle is known modulo pi; each valid frame takes the value nearest to the
    previous valid frame's. Across chunks the chain starts from the last valid frame before
    the next chunk's first read frame, so overlapping windows agree.
    """

    def __init__(self) -> None:
        self._reference: float | None = None

    def reset(self) -> None:
        """Start a new chain."""
        self._reference = None

    def process(self, work: WindowWork) -> None:
        """Set ``work.x``, ``work.y`` (ROI box, px) and ``work.angle`` (radians, y up)."""
        count = work.count
        x = np.full(count, np.nan)
        y = np.full(count, np.nan)
        orientation = np.full(count, np.nan)
        for k, found in enumerate(work.objects):
            if found is not None:
                x[k], y[k], orientation[k] = found.x, found.y, found.orientation
        work.x, work.y = x, y
        work.angle = self._unwrap(orientation, work.window)

    def _unwrap(self, orientation: np.ndarray, window) -> np.ndarray:
        out = np.full(orientation.shape, np.nan)
        reference = new_reference = self._reference
        limit = (
            None if window.next_read_start is None else window.next_read_start - window.read_start
        )
        for k, value in enumerate(orientation):
            if not math.isfinite(value):
                continue
            if reference is not None:
                value = value + math.pi * round((reference - value) / math.pi)
            out[k] = value
            reference = value
            if limit is not None and k < limit:
                new_reference = value
        # The next chunk starts its chain from the last valid frame before its first frame.
        if limit is not None:
            self._reference = new_reference
        return out


class HampelStage(ChunkStage):
    """Hampel outlier filters on the centroid's x and y and on the unwrapped angle.

    Parameters
    ----------
    centroid : HampelFilter
        Filter of x and y.
    angle : HampelFilter
        Filter of the angle.
    """

    def __init__(self, centroid: HampelFilter, angle: HampelFilter) -> None:
        self.centroid = centroid
        self.angle = angle
        self.margin = max(centroid.radius, angle.radius)

    def process(self, work: WindowWork) -> None:
        """Replace the outliers of ``work.x``, ``work.y`` and ``work.angle``."""
        work.x, _ = self.centroid.apply(work.x)
        work.y, _ = self.centroid.apply(work.y)
        work.angle, _ = self.angle.apply(work.angle)


class ModelSmoothingStage(ChunkStage):
    """The tracker's smoothing of centroid and angle (frames it explains poorly follow their
    neighbours); nothing for a tracker without one.

    Parameters
    ----------
    tracker : Tracker
        Gives the per-frame weights (:meth:`Tracker.smoothing_weights`).
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def process(self, work: WindowWork) -> None:
        """Smooth ``work.x``, ``work.y`` and ``work.angle`` by the tracker's weights."""
        weights = self.tracker.smoothing_weights(work.objects)
        if weights is not None:
            work.x, work.y, work.angle = (
                smooth_by_model(values, weights) for values in (work.x, work.y, work.angle)
            )


class CropStage(ChunkStage):
    """Crops of the finished frames and the look-ahead, on the executor's threads.

    For every frame with the animal, rotated so the body axis points east around the
    sub-pixel centroid: the heights (``work.crops``, written as ``/frames``), the filtered
    heights the tracker saw (``work.filtered_crops``: moseq2-extract's area and mean height are
    counted on them), the written masks (``work.masks``: the pixels of the cropped filtered
    frame above ``min_height``, moseq2's ``frames_mask``; log-likelihoods for a tracker with a
    model) and, for the flip corrector, the animal's own pixels (``work.animal``: the tracked
    object's mask, or with a model the cropped filtered frame's pixels above ``min_height``).

    Parameters
    ----------
    crop_size : (int, int)
        ``(rows, cols)`` of the crops.
    frame_dtype : numpy.dtype
        dtype of the crops.
    tracker : Tracker
        Its height range, and whether masks are bool or log-likelihoods
        (:attr:`Tracker.log_likelihood_clip`).
    animal_masks : bool
        Whether the animal's own pixels are cropped too (a flip corrector reads them).
    """

    def __init__(
        self,
        crop_size: tuple[int, int],
        frame_dtype: np.dtype,
        tracker: Tracker,
        animal_masks: bool,
    ) -> None:
        self.crop_size = crop_size
        self.frame_dtype = np.dtype(frame_dtype)
        self.tracker = tracker
        self.ll_clip = tracker.log_likelihood_clip
        # Integer heights h satisfy h > min_height exactly when h >= floor(min_height) + 1.
        self.above_min = math.floor(tracker.min_height) + 1
        self.reach = crop_reach(crop_size)
        self.animal_masks = animal_masks

    @property
    def mask_dtype(self) -> np.dtype:
        """bool, or float32 for log-likelihood masks."""
        return np.dtype(bool if self.ll_clip is None else np.float32)

    def process(self, work: WindowWork) -> None:
        """Set ``work.crops``, ``filtered_crops``, ``masks`` and ``animal`` (finished frames,
        then the look-ahead)."""
        first = work.own.start
        count = work.own.stop - first + work.ahead
        shape = (count, *self.crop_size)
        work.crops = np.zeros(shape, dtype=self.frame_dtype)
        work.filtered_crops = np.zeros(shape, dtype=self.frame_dtype)
        if self.ll_clip is None:
            work.masks = np.zeros(shape, dtype=bool)
        else:
            work.masks = np.full(shape, self.ll_clip, dtype=np.float32)
        work.animal = np.zeros(shape, dtype=bool) if self.animal_masks else None

        def crop_range(lo: int, hi: int) -> None:
            for j in range(lo, hi):
                self._crop(work, j, first + j)

        work.executor.map_ranges(crop_range, count)

    def _crop(self, work: WindowWork, j: int, k: int) -> None:
        found = work.objects[k]
        if found is None:
            return
        x, y, angle = work.x[k], work.y[k], work.angle[k]
        heights, origin = self._heights_for_crop(work, k, x, y)
        work.crops[j] = crop_and_rotate(heights, x, y, angle, self.crop_size, origin=origin)
        if found.image is not None:
            work.filtered_crops[j] = crop_and_rotate(
                found.image, x, y, angle, self.crop_size, origin=found.image_origin
            )
        if work.animal is not None and self.ll_clip is not None and found.image is not None:
            # A model's own mask (log-likelihood above its threshold) can leave out an end of
            # the body, whose heights then turn the heading round where the animal stops
            # (drawn session 98: every frame after it was still), so the corrector reads the
            # filtered heights at min_height, as moseq2-extract's frames_mask.
            work.animal[j] = work.filtered_crops[j] >= self.above_min
        if self.ll_clip is None:
            work.masks[j] = work.filtered_crops[j] >= self.above_min
            if work.animal is not None:
                work.animal[j] = crop_and_rotate(
                    found.mask, x, y, angle, self.crop_size,
                    origin=found.mask_origin, interpolation=cv2.INTER_NEAREST,
                ).astype(bool)  # fmt: skip
            return
        # Log-likelihoods as moseq2-extract writes them: clipped below at ll_clip, and ll_clip
        # where the crop is below min_height. Shifted so that pixels from outside the tracked
        # image (warped in as 0) read as ll_clip.
        shifted = np.maximum(found.log_likelihood - self.ll_clip, 0.0)
        likelihood = crop_and_rotate(
            shifted, x, y, angle, self.crop_size, origin=found.log_likelihood_origin
        ) + self.ll_clip  # fmt: skip
        likelihood[work.crops[j] < self.tracker.min_height] = self.ll_clip
        work.masks[j] = likelihood

    def _heights_for_crop(
        self, work: WindowWork, k: int, x: float, y: float
    ) -> tuple[np.ndarray, tuple[int, int]]:
        """The heights of frame ``k`` a crop at ``(x, y)`` reads and their origin in the ROI
        box: the pixels within :attr:`reach` of ``(floor(x), floor(y))``, from the window's
        heights, the frame's patch or, when the centroid moved past the patch after tracking
        (a Hampel filter), the frame's heights made again.

        Always that window, whichever the source: OpenCV's warp computes source positions in
        single precision, so a crop from another origin can round one pixel differently."""
        rows, cols = work.box_shape
        if not (math.isfinite(x) and math.isfinite(y)):
            window = (0, rows, 0, cols)
        else:
            col, row = math.floor(x), math.floor(y)
            window = (
                min(max(0, row - self.reach), rows), min(max(0, row + self.reach + 1), rows),
                min(max(0, col - self.reach), cols), min(max(0, col + self.reach + 1), cols),
            )  # fmt: skip
        y0, y1, x0, x1 = window
        if work.heights is not None:
            return work.heights[k][y0:y1, x0:x1], (x0, y0)
        heights = work.patch_heights(k, y0, y1, x0, x1)
        if heights is None:
            heights = work.reread_heights(k)[y0:y1, x0:x1]
        return heights, (x0, y0)


class FlipStage(ChunkStage):
    """The flip corrector's decisions for the finished frames, applied once.

    Parameters
    ----------
    corrector : FlipCorrector
        Decides which frames to turn round.
    tracker : Tracker
        Whether its masks are log-likelihoods (turned round with their clip value).
    camera : CameraModel
        The recording's camera (handed to the corrector).
    true_depth : float
        Floor depth, mm.
    box_origin : (int, int)
        ``(x, y)`` of the ROI box's top-left pixel in the frame.
    timestamps_s : numpy.ndarray
        Times of the extracted frames, seconds.
    first_frame : int
        Recording frame of ``timestamps_s[0]``.
    animal_height_mm : float or None, optional
        The animal's measured back height, mm (handed to the corrector).
    """

    def __init__(
        self,
        corrector: FlipCorrector,
        tracker: Tracker,
        camera: CameraModel,
        true_depth: float,
        box_origin: tuple[int, int],
        timestamps_s: np.ndarray,
        first_frame: int,
        animal_height_mm: float | None = None,
    ) -> None:
        self.corrector = corrector
        self.animal_height_mm = animal_height_mm
        self.tracker = tracker
        self.camera = camera
        self.true_depth = float(true_depth)
        self.box_origin = box_origin
        self.timestamps_s = timestamps_s
        self.first_frame = int(first_frame)
        self.lookahead = as_frame_count(corrector.lookahead, "lookahead")

    def reset(self) -> None:
        """The corrector's own reset (its contract's hook)."""
        self.corrector.reset()

    def process(self, work: WindowWork) -> None:
        """Decide, then turn the chosen frames: angle + pi, crop and mask by 180 degrees."""
        own = work.own
        count = own.stop - own.start
        context = self._context(work, own.start, own.stop)
        if work.ahead:
            context.lookahead = self._context(work, own.stop, own.stop + work.ahead)
        flips, confidence = self._decide(context, count)
        valid = context.valid
        flips &= valid
        confidence[~valid] = np.nan
        work.flips, work.flip_confidence = flips, confidence
        turned = np.flatnonzero(flips)
        if turned.size:
            work.crops[turned] = turn_round(work.crops[turned], 0)
            clip = self.tracker.log_likelihood_clip
            work.masks[turned] = turn_round(work.masks[turned], 0 if clip is None else clip)
            work.angle[own] = work.angle[own] + np.pi * flips

    def _context(self, work: WindowWork, a: int, b: int) -> FlipContext:
        """What the corrector sees of frames ``[a, b)`` of the window."""
        found = np.array([obj is not None for obj in work.objects[a:b]], dtype=bool)
        first = work.window.read_start + a - self.first_frame
        j0, j1 = a - work.own.start, b - work.own.start
        crops = work.crops[j0:j1]
        x0, y0 = self.box_origin
        return FlipContext(
            start=first,
            frames=crops,
            masks=work.animal[j0:j1],
            angle=np.where(found, work.angle[a:b], np.nan),
            centroid_px=np.column_stack([work.x[a:b] + x0, work.y[a:b] + y0]),
            valid=found,
            timestamps_s=self.timestamps_s[first : first + b - a],
            camera=self.camera,
            true_depth=self.true_depth,
            animal_height_mm=self.animal_height_mm,
        )

    def _decide(self, context: FlipContext, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The corrector's flips and confidence for one chunk, checked."""
        answer = self.corrector.correct(context)
        if isinstance(answer, FlipDecision):
            flips = np.asarray(answer.flips, dtype=bool)
            confidence = np.array(answer.confidence, dtype=np.float32)
        else:
            flips = np.asarray(answer, dtype=bool)
            confidence = np.full(flips.shape, np.nan, dtype=np.float32)
        if flips.shape != (count,) or confidence.shape != (count,):
            raise ValueError(
                f"{type(self.corrector).__name__}.correct returned shape {flips.shape} "
                f"(confidence {confidence.shape}); expected one value per frame ({count},)"
            )
        return flips.copy(), confidence


class ScalarStage(ChunkStage):
    """The scalars of the finished frames (velocities continue across chunks).

    Parameters
    ----------
    computer : ScalarComputer
        Pixels to millimetres, and the previous frame for velocities.
    timestamps_s : numpy.ndarray
        Times of the extracted frames, seconds.
    first_frame : int
        Recording frame of ``timestamps_s[0]``.
    height_range : (float, float)
        ``(min_height, max_height)`` of the tracker, mm.
    """

    def __init__(
        self,
        computer: ScalarComputer,
        timestamps_s: np.ndarray,
        first_frame: int,
        height_range: tuple[float, float],
    ) -> None:
        self.computer = computer
        self.timestamps_s = timestamps_s
        self.first_frame = int(first_frame)
        self.min_height, self.max_height = height_range

    def process(self, work: WindowWork) -> None:
        """Set ``work.scalars``."""
        own = work.own
        window = work.window
        kept = work.objects[own]
        area, crop_height = self._cropped_area(work.filtered_crops[: own.stop - own.start])

        def feature(name: str) -> np.ndarray:
            return np.array(
                [getattr(obj, name) if obj is not None else np.nan for obj in kept], dtype=float
            )

        features = {
            "x": work.x[own], "y": work.y[own], "angle": work.angle[own],
            "length": feature("length"), "width": feature("width"),
            "crop_area": area, "crop_height": crop_height,
            "body_length": feature("body_length"), "body_width": feature("body_width"),
            "body_area": feature("area"), "body_height": feature("height_mean"),
            "body_x": feature("body_x"), "body_y": feature("body_y"),
            "body_axis": feature("body_axis"),
        }  # fmt: skip
        times = self.timestamps_s[window.start - self.first_frame : window.end - self.first_frame]
        work.scalars = self.computer.compute(features, times)

    def _cropped_area(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """moseq2-extract's area and mean height: the pixels of each cropped filtered frame
        strictly between the heights (anything in the crop), 0 where there are none."""
        between = (crops > self.min_height) & (crops < self.max_height)
        area = between.sum(axis=(1, 2), dtype=np.float64)
        total = np.where(between, crops, 0).sum(axis=(1, 2), dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return area, np.where(area > 0, total / area, 0.0)
