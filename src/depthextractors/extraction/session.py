"""Extract the animal from a depth recording: :class:`SessionExtraction`.

The session composes strategy objects (background, arena ROI, filters, tracker, Hampel filters,
flip corrector) and streams the recording chunk by chunk:

1. the background (:class:`~depthextractors.extraction.background.StridedMedianBackground` by
   default) and the arena (:class:`~depthextractors.extraction.roi.PlaneROI`) are computed once;
   the ROI's true depth is the floor depth;
2. each chunk is read in small blocks; every frame is reduced at once to 8-bit heights inside the
   ROI's bounding box — ``background - depth`` truncated to whole millimetres as moseq2-extract,
   0 where the depth is invalid (0) or outside the ROI, and 0 where the height lies outside
   ``[min_height, max_height]`` — so the chunk is held as ROI-box heights, never as full frames;
3. each frame is filtered (:class:`~depthextractors.extraction.filters.FrameFilters`) and the
   animal tracked (:class:`~depthextractors.extraction.tracking.MomentsTracker`), on ``n_jobs``
   threads (OpenCV and numpy release the GIL) while the next block is read; a stateful tracker
   (:class:`~depthextractors.extraction.em_tracking.EMTracker`) sees the filtered frames in
   order on one thread instead, its state carried from chunk to chunk, and may smooth the
   centroid and angle by its model (``model_smoothing_clips``);
4. the body angle is unwrapped (mod pi) over the session, the Hampel filters replace outliers of
   the centroid (x and y) and angle, and each frame is cropped and rotated around its sub-pixel
   centroid (one affine warp; nose east when the angle's head end is right);
5. the flip corrector (:class:`~depthextractors.extraction.flips.MotionFlipCorrector` by
   default) decides per chunk, seeing the ``lookahead`` frames after it too, which frames to
   turn round; the session turns them once (angle + pi, crop and mask rotated 180 degrees) and
   records the flips and the corrector's confidence;
6. scalars are computed and the chunk goes to the results writer (on its own thread, so HDF5
   compression overlaps the next chunk's work).

Temporal context crosses chunk boundaries: a chunk is read with the frames the temporal median
and the Hampel windows need on each side (``temporal_size // 2 + hampel_span // 2``, plus
``chunk_overlap``, plus the flip corrector's ``lookahead`` after it), and only its own frames
are finished and written, so the results do not depend on the chunk size (a flip corrector's
look-ahead frames are evidence only, decided in their own chunk). Memory is bounded by the chunk
size (about ``chunk_size`` ROI-box images of one byte per pixel, twice that with a temporal
filter or a stateful tracker), not by the session length.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import threading
import uuid as uuid_module
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..extractors.base import DepthVideoExtractor
from .background import PlaneFitBackground, StridedMedianBackground
from .crop import crop_and_rotate, turn_round
from .em_tracking import EMTracker, smooth_by_model
from .filters import FrameFilters, HampelFilter, temporal_median
from .flips import FlipContext, FlipCorrector, FlipDecision, MotionFlipCorrector
from .heights import ArenaHeights
from .outputs import (
    ExtractionResults,
    ExtractionSetup,
    InMemoryResultsWriter,
    ResultChunk,
    ResultsWriter,
    get_output_backend,
)
from .roi import ArenaROI, ManualROI, PlaneROI
from .scalars import MOSEQ2_SCALARS, SCALAR_DESCRIPTIONS, ScalarComputer, detect_dropped_frames
from .tracking import MomentsTracker, TrackedObject

__all__ = ["ArenaResult", "FlipContext", "FlipCorrector", "FlipDecision", "SessionExtraction"]

logger = logging.getLogger(__name__)

_READ_BLOCK = 64
_IN_MEMORY_WARNING_BYTES = 256e6


@dataclass
class ArenaResult:
    """The arena step alone (:meth:`SessionExtraction.find_roi`).

    Attributes
    ----------
    background : numpy.ndarray
        ``(rows, cols)`` float32 background depth, millimetres.
    roi : ArenaROI
        The arena: mask, true depth, floor plane, depth range.
    first_frame : numpy.ndarray
        ``(rows, cols)`` raw depth of frame 0, millimetres.
    """

    background: np.ndarray
    roi: ArenaROI
    first_frame: np.ndarray


@dataclass
class _Window:
    """One chunk being processed: frames ``[read_start, read_end)``, finishing ``[start, end)``."""

    read_start: int
    read_end: int
    start: int
    end: int


class SessionExtraction:
    """Extract the animal from a depth recording into moseq2-compatible results.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The recording (any format; a :meth:`~DepthVideoExtractor.frame_slice` for a part).
    roi : PlaneROI or ManualROI or object with ``find(background, camera) -> ArenaROI``, optional
        Arena strategy; ``PlaneROI()`` (automatic depth range, seeded) when not given.
    background : object with ``compute(extractor) -> (rows, cols) mm``, optional
        Background strategy; ``StridedMedianBackground()`` when not given.
    tracker : MomentsTracker or EMTracker, optional
        Finds the animal; ``MomentsTracker()`` (min_height 10, max_height 100) when not given.
        A tracker with ``sequential = True`` (:class:`EMTracker`) is run on the frames in
        order, its ``state`` carried across chunks, while the filters still run on
        ``n_jobs`` threads; one with an ``ll_clip`` writes float32 log-likelihood crops as
        ``frames_mask``.
    flip_corrector : FlipCorrector or "motion" or None, default "motion"
        Turns frames round so the nose points east. ``"motion"`` (the default) is a new
        :class:`~depthextractors.extraction.flips.MotionFlipCorrector` (no model needed);
        ``None`` keeps the body angle's own end, which is the nose only by chance.
    crop_size : (int, int), default (80, 80)
        ``(rows, cols)`` of the crops (``crop_size``).
    chunk_size : int, default 1000
        Frames finished per chunk (``chunk_size``); memory grows with it.
    chunk_overlap : int, default 0
        Extra frames of the previous chunk processed again at the start of each chunk
        (``chunk_overlap``; the context the temporal and Hampel filters need is added anyway).
    frame_trim : (int, int), default (0, 0)
        Frames left out at the beginning and the end (``frame_trim``).
    num_frames : int, optional
        Extract only the first ``num_frames`` frames (before trimming), as ``--num-frames``.
    n_jobs : int, default 2
        Threads working on frames; -1 for one per CPU.
    filters : FrameFilters, optional
        Spatial, temporal, tail and cable filters; moseq2-extract's defaults when not given
        (spatial median 3, no temporal median, tail opening with a 9x9 ellipse once, no cable
        filter).
    centroid_hampel : HampelFilter, optional
        Outlier filter on the centroid's x and y (``centroid_hampel_span`` / ``_sig``); off by
        default, as moseq2-extract.
    angle_hampel : HampelFilter, optional
        Outlier filter on the unwrapped angle (``angle_hampel_span`` / ``_sig``); off by default.
    frame_dtype : {"uint8", "uint16"}, default "uint8"
        dtype of the written crops (``frame_dtype``).
    """

    def __init__(
        self,
        extractor: DepthVideoExtractor,
        roi: Any = None,
        background: Any = None,
        tracker: MomentsTracker | EMTracker | None = None,
        flip_corrector: FlipCorrector | str | None = "motion",
        crop_size: tuple[int, int] = (80, 80),
        chunk_size: int = 1000,
        chunk_overlap: int = 0,
        frame_trim: tuple[int, int] = (0, 0),
        num_frames: int | None = None,
        n_jobs: int = 2,
        filters: FrameFilters | None = None,
        centroid_hampel: HampelFilter | None = None,
        angle_hampel: HampelFilter | None = None,
        frame_dtype: str = "uint8",
    ) -> None:
        if not isinstance(extractor, DepthVideoExtractor):
            raise TypeError(
                f"extractor must be a DepthVideoExtractor (e.g. open_depth_video(path)), got "
                f"{type(extractor).__name__}"
            )
        self.extractor = extractor
        self.roi = roi if roi is not None else PlaneROI()
        self.background = background if background is not None else StridedMedianBackground()
        self.tracker = tracker if tracker is not None else MomentsTracker()
        if isinstance(flip_corrector, str):
            if flip_corrector != "motion":
                raise ValueError(
                    f"flip_corrector must be a flip corrector object, 'motion' or None, got "
                    f"{flip_corrector!r}"
                )
            # A new one per session: the corrector follows the session it corrects.
            flip_corrector = MotionFlipCorrector()
        self.flip_corrector = flip_corrector
        if flip_corrector is not None and not callable(getattr(flip_corrector, "correct", None)):
            raise TypeError(
                "flip_corrector must have a correct(context) method returning a bool per frame; "
                f"got {type(flip_corrector).__name__}"
            )
        try:
            rows, cols = (int(v) for v in crop_size)
        except (TypeError, ValueError):
            raise TypeError(f"crop_size must be (rows, cols), got {crop_size!r}") from None
        if rows < 2 or cols < 2:
            raise ValueError(f"crop_size must be at least (2, 2) pixels, got {crop_size}")
        self.crop_size = (rows, cols)
        # A corrector bound to one crop size (a trained classifier) refuses others now, before
        # any work, rather than leaving the mice unflipped.
        check = getattr(flip_corrector, "check_crop_size", None)
        if callable(check):
            check(self.crop_size)
        self.chunk_size = _positive_int(chunk_size, "chunk_size")
        self.chunk_overlap = _non_negative_int(chunk_overlap, "chunk_overlap")
        try:
            trim = tuple(_non_negative_int(v, "frame_trim") for v in frame_trim)
        except TypeError:
            raise TypeError(
                f"frame_trim must be (start, end) frame counts, got {frame_trim!r}"
            ) from None
        if len(trim) != 2:
            raise ValueError(f"frame_trim must be (start, end) frame counts, got {frame_trim!r}")
        self.frame_trim = trim
        self.num_frames = None if num_frames is None else _positive_int(num_frames, "num_frames")
        n_jobs = int(n_jobs)
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        if n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive number of threads or -1, got {n_jobs}")
        self.n_jobs = n_jobs
        self.filters = filters if filters is not None else FrameFilters()
        self.centroid_hampel = centroid_hampel if centroid_hampel is not None else HampelFilter()
        self.angle_hampel = angle_hampel if angle_hampel is not None else HampelFilter()
        if frame_dtype not in ("uint8", "uint16"):
            raise ValueError(f"frame_dtype must be 'uint8' or 'uint16', got {frame_dtype!r}")
        self.frame_dtype = np.dtype(frame_dtype)
        if self.frame_dtype == np.uint8 and self.tracker.max_height > 255:
            raise ValueError(
                f"max_height={self.tracker.max_height:g} mm does not fit 8-bit frames; use "
                "frame_dtype='uint16' or a max_height of at most 255 mm"
            )
        self.arena: ArenaResult | None = None
        # A sequential tracker's state after the frame before the next chunk's first frame.
        self._tracker_state: Any = None
        self._first = 0

    def __repr__(self) -> str:
        return (
            f"SessionExtraction({self.extractor!r}, roi={self.roi!r}, tracker={self.tracker!r}, "
            f"crop_size={self.crop_size}, chunk_size={self.chunk_size})"
        )

    # ------------------------------------------------------------------ frame range
    def frame_range(self) -> tuple[int, int]:
        """``(first, last)`` source frames extracted, after ``num_frames`` and ``frame_trim``.

        Follows moseq2-extract: a trim that would leave no frames is ignored.
        """
        total = self.extractor.get_num_frames()
        if self.num_frames is not None:
            if self.num_frames > total:
                warnings.warn(
                    f"num_frames={self.num_frames} but the recording has {total} frames; "
                    "extracting all of them",
                    stacklevel=3,
                )
            total = min(total, self.num_frames)
        begin, finish = self.frame_trim
        first = begin if 0 < begin < total else 0
        last = total - finish if (finish > 0 and first < total - finish) else total
        return first, last

    # ------------------------------------------------------------------ arena
    def find_roi(self, output_dir: str | os.PathLike | None = None) -> ArenaResult:
        """Compute the background and the arena only, and write their images.

        Parameters
        ----------
        output_dir : path-like, optional
            Where ``bground.tiff``, ``roi.tiff`` and ``first_frame.tiff`` are written
            (moseq2-extract's scaled TIFFs); nothing is written when ``None``.

        Returns
        -------
        ArenaResult
        """
        backend = None
        if output_dir is not None:
            backend = get_output_backend()
            backend.check_writable(Path(output_dir))
        arena = self._compute_arena()
        if backend is not None:
            backend.write_arena_images(
                Path(output_dir), arena.background, arena.roi.mask, arena.first_frame
            )
        return arena

    def _compute_arena(self) -> ArenaResult:
        if self.arena is not None:
            return self.arena
        if self.extractor.get_num_frames() < 1:
            raise ValueError("the recording has no frames; there is nothing to extract")
        background = np.asarray(self.background.compute(self.extractor), dtype=np.float32)
        expected = self.extractor.get_image_size()
        if background.shape != tuple(expected):
            raise ValueError(
                f"the background strategy returned a {background.shape} image but frames are "
                f"{expected}; it must return one depth per pixel"
            )
        roi_image = background
        if isinstance(self.background, PlaneFitBackground):
            # A plane is flat everywhere, so every pixel would pass as floor: the arena is
            # found on the median image the plane was fitted to, as moseq2-extract does.
            roi_image = self.background.median_background
        arena = self.roi.find(roi_image, self.extractor.camera)
        mask = np.asarray(arena.mask, dtype=bool)
        if mask.shape != background.shape or not mask.any():
            raise ValueError(
                "the arena ROI is empty or does not match the frames "
                f"(mask {mask.shape}, {int(mask.sum())} pixels; frames {background.shape}); "
                "check the depth range of the ROI strategy or pass ManualROI(mask)"
            )
        if not np.isfinite(arena.true_depth) or arena.true_depth <= 0:
            raise ValueError(
                f"the arena's true depth is {arena.true_depth}; the background inside the ROI "
                "has no valid depth"
            )
        first_frame = self.extractor.get_video(0, 1)[0]
        self.arena = ArenaResult(background=background, roi=arena, first_frame=first_frame)
        return self.arena

    # ------------------------------------------------------------------ parameters
    def parameters(self, output_dir: Path | None = None) -> dict[str, Any]:
        """Every setting under its moseq2-extract name (plus the new ones).

        Parameters
        ----------
        output_dir : pathlib.Path, optional
            Recorded as ``output_dir`` (``None`` when the results stay in memory).

        Returns
        -------
        dict
            YAML-ready mapping: crop size (px), chunk size and overlap (frames), ``fps`` (Hz),
            filter, tracker, background, ROI and flip-corrector settings, the input file and
            the camera.
        """
        params: dict[str, Any] = {
            "crop_size": list(self.crop_size),
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "frame_trim": list(self.frame_trim),
            "num_frames": self.num_frames,
            "fps": float(self.extractor.get_sampling_frequency()),
            "frame_dtype": str(self.frame_dtype),
            "n_jobs": self.n_jobs,
            "centroid_hampel_span": int(self.centroid_hampel.span),
            "centroid_hampel_sig": float(self.centroid_hampel.sig),
            "angle_hampel_span": int(self.angle_hampel.span),
            "angle_hampel_sig": float(self.angle_hampel.sig),
            "camera_type": self.extractor.camera.name,
            "output_dir": None if output_dir is None else str(output_dir),
            "input_file": _input_file(self.extractor),
        }
        params.update(self.filters.parameters())
        params.update(_strategy_parameters(self.tracker))
        params.update(_background_parameters(self.background))
        params.update(_roi_parameters(self.roi, self.arena.roi if self.arena else None))
        corrector = self.flip_corrector
        params["flip_corrector"] = None if corrector is None else type(corrector).__name__
        params["flip_classifier"] = getattr(corrector, "path", None)
        if corrector is not None and callable(getattr(corrector, "parameters", None)):
            for key, value in corrector.parameters().items():
                params[f"flip_{key}" if not key.startswith("flip") else key] = value
        return params

    # ------------------------------------------------------------------ run
    def run(
        self,
        output_dir: str | os.PathLike | None = None,
        progress: bool = True,
        writer: ResultsWriter | None = None,
    ) -> ExtractionResults:
        """Extract the session.

        Parameters
        ----------
        output_dir : path-like, optional
            Directory for ``results_00.h5``, ``results_00.yaml`` and the TIFF images (created if
            needed). ``None`` keeps the results in memory (short clips only: the crops of every
            frame are held).
        progress : bool, default True
            Show a tqdm progress bar.
        writer : ResultsWriter, optional
            Send the results to this writer instead (``output_dir`` is then only recorded).

        Returns
        -------
        ExtractionResults
            Lazily backed by ``results_00.h5`` when written to a directory.

        Raises
        ------
        OSError
            If ``output_dir`` cannot be written (raised before any frame is read).
        """
        out_path = None if output_dir is None else Path(output_dir)
        backend = None
        if writer is None:
            if out_path is None:
                writer = InMemoryResultsWriter()
            else:
                backend = get_output_backend()
                backend.check_writable(out_path)
                writer = backend.results_writer(out_path)
        arena = self._compute_arena()
        if backend is not None:
            backend.write_arena_images(
                out_path, arena.background, arena.roi.mask, arena.first_frame
            )
        first, last = self.frame_range()
        if isinstance(writer, InMemoryResultsWriter):
            held = (
                (last - first)
                * self.crop_size[0]
                * self.crop_size[1]
                * (self.frame_dtype.itemsize + 1)
            )
            if held > _IN_MEMORY_WARNING_BYTES:
                warnings.warn(
                    f"keeping the results of {last - first} frames in memory takes "
                    f"{held / 1e6:.0f} MB; pass an output directory to stream them to "
                    "results_00.h5 instead",
                    stacklevel=2,
                )
        timestamps = self.extractor.get_timestamps(first, last)
        dropped = detect_dropped_frames(timestamps)
        if dropped.count:
            logger.info(
                "%d dropped frame(s) detected in %d gap(s) of the timestamps",
                dropped.count,
                dropped.after.size,
            )
        setup = ExtractionSetup(
            num_frames=last - first,
            crop_size=self.crop_size,
            frame_dtype=self.frame_dtype,
            timestamps_s=timestamps,
            background=arena.background,
            roi=np.asarray(arena.roi.mask, dtype=bool),
            first_frame=arena.first_frame,
            true_depth=float(arena.roi.true_depth),
            first_frame_idx=first,
            last_frame_idx=last,
            parameters=self.parameters(out_path),
            acquisition=dict(self.extractor.get_metadata()),
            uuid=str(uuid_module.uuid4()),
            version=_version(),
            has_flips=self.flip_corrector is not None,
            mask_dtype=np.dtype(np.float32 if self._ll_clip() is not None else bool),
            scalar_names=(*MOSEQ2_SCALARS, "velocity_2d_mm_per_s", "velocity_3d_mm_per_s", "valid"),
            scalar_descriptions=dict(SCALAR_DESCRIPTIONS),
            dropped_frame_count=dropped.count,
            dropped_after=dropped.after,
            roi_plane=None if arena.roi.plane is None else tuple(float(v) for v in arena.roi.plane),
        )
        for strategy in (self.flip_corrector, self.tracker):
            reset = getattr(strategy, "reset", None)
            if callable(reset):
                reset()
        self._tracker_state = None
        writer.begin(setup)
        try:
            with _opencv_single_threaded():
                valid_count = self._stream(writer, setup, progress)
            finalize = getattr(self.flip_corrector, "finalize", None)
            if callable(finalize):
                finalize()
        except BaseException as error:
            writer.abort(error)
            raise
        if setup.num_frames and valid_count == 0:
            warnings.warn(
                f"the animal was not found in any of the {setup.num_frames} frames: every frame "
                f"is marked invalid. Check min_height={self.tracker.min_height:g} / "
                f"max_height={self.tracker.max_height:g} mm and the arena ROI "
                f"({int(setup.roi.sum())} pixels, true depth {setup.true_depth:.1f} mm)",
                stacklevel=2,
            )
        return writer.finish()

    # ------------------------------------------------------------------ the chunk loop
    def _context(self) -> int:
        return self.filters.temporal_radius + max(
            self.centroid_hampel.radius, self.angle_hampel.radius
        )

    def _sequential(self) -> bool:
        """Whether the tracker keeps a state and must see the frames in order."""
        return bool(getattr(self.tracker, "sequential", False))

    def _ll_clip(self) -> float | None:
        """The tracker's log-likelihood clip when it writes log-likelihood masks, else None."""
        clip = getattr(self.tracker, "ll_clip", None)
        return None if clip is None else float(clip)

    def _lookahead(self) -> int:
        """Frames after each chunk the flip corrector wants to see (0 without one)."""
        if self.flip_corrector is None:
            return 0
        return _non_negative_int(getattr(self.flip_corrector, "lookahead", 0), "lookahead")

    def _windows(self, first: int, last: int) -> list[_Window]:
        context = self._context()
        lookahead = self._lookahead()
        windows = []
        for start in range(first, last, self.chunk_size):
            end = min(start + self.chunk_size, last)
            windows.append(
                _Window(
                    read_start=max(first, start - context - self.chunk_overlap),
                    read_end=min(last, end + lookahead + context),
                    start=start,
                    end=end,
                )
            )
        return windows

    def _stream(self, writer: ResultsWriter, setup: ExtractionSetup, progress: bool) -> int:
        arena = self.arena
        converter = ArenaHeights(
            arena.background,
            arena.roi.mask,
            self.tracker.min_height,
            self.tracker.max_height,
            self.frame_dtype,
        )
        row0, row1, col0, col1 = converter.bbox
        arena_step = _arena_heights_step(writer)
        scalars = ScalarComputer(self.extractor.camera, setup.true_depth, (col0, row0))
        angles = _AngleUnwrapper()
        windows = self._windows(setup.first_frame_idx, setup.last_frame_idx)
        self._first = setup.first_frame_idx
        # One buffer of ROI-box heights for every chunk: the memory a chunk needs, paid once.
        longest = max((w.read_end - w.read_start for w in windows), default=0)
        buffer = np.empty((longest, row1 - row0, col1 - col0), dtype=self.frame_dtype)
        keep_filtered = self.filters.temporal_size > 1 or self._sequential()
        filtered = np.empty_like(buffer) if keep_filtered else None
        valid_count = 0
        bar = tqdm(total=setup.num_frames, disable=not progress, desc="Extracting", unit="frame")
        pending: Future | None = None
        with (
            ThreadPoolExecutor(self.n_jobs, thread_name_prefix="depthextractors") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="depthextractors-writer") as write_pool,
        ):
            try:
                for index, window in enumerate(windows):
                    next_start = windows[index + 1].read_start if index + 1 < len(windows) else None
                    chunk = self._process_window(
                        window, (row0, row1, col0, col1), converter, pool, angles, next_start,
                        scalars, setup, buffer, filtered, arena_step,
                    )  # fmt: skip
                    valid_count += int(np.count_nonzero(chunk.scalars["valid"]))
                    if pending is not None:
                        pending.result()
                    pending = write_pool.submit(writer.write, chunk)
                    bar.update(len(chunk))
                if pending is not None:
                    pending.result()
            finally:
                bar.close()
        return valid_count

    def _process_window(
        self,
        window: _Window,
        bbox: tuple[int, int, int, int],
        converter: ArenaHeights,
        pool: ThreadPoolExecutor,
        angles: _AngleUnwrapper,
        next_read_start: int | None,
        scalars: ScalarComputer,
        setup: ExtractionSetup,
        buffer: np.ndarray,
        filtered_buffer: np.ndarray | None,
        arena_step: int | None,
    ) -> ResultChunk:
        row0, row1, col0, col1 = bbox
        count = window.read_end - window.read_start
        heights = buffer[:count]
        temporal = self.filters.temporal_size > 1
        sequential = self._sequential()
        filtered = None
        if filtered_buffer is not None:
            filtered = filtered_buffer[:count]
            filtered[...] = 0
        objects: list[TrackedObject | None] = [None] * count
        kernels = self.filters.kernels()
        tracker = self.tracker
        filters = self.filters
        margin = 2 * filters.reach() + 2

        # The chunk's own frames (not its context) at the writer's arena resolution, taken
        # right after each frame's heights are made (still in the cache), on the worker threads.
        first_own, last_own = window.start - window.read_start, window.end - window.read_start
        arena_heights = None
        if arena_step is not None:
            arena_heights = np.empty(
                (last_own - first_own, *heights[0, ::arena_step, ::arena_step].shape),
                dtype=heights.dtype,
            )

        def reduce_block(block: np.ndarray, offset: int, lo: int, hi: int) -> None:
            for i in range(lo, hi):
                k = offset + i
                converter.convert(block[i, row0:row1, col0:col1], heights[k])
                if arena_heights is not None and first_own <= k < last_own:
                    arena_heights[k - first_own] = heights[k][::arena_step, ::arena_step]
                # Filters and tracking only see the neighbourhood of the non-zero pixels (the
                # rest of the box is floor and stays 0): the same result for a fraction of
                # the work. The margin covers every filter's reach twice, so border handling
                # never differs from filtering the whole box.
                window = _nonzero_window(heights[k], margin)
                if window is None:
                    continue
                y0, y1, x0, x1 = window
                image = filters.apply_spatial(heights[k][y0:y1, x0:x1], kernels)
                if filtered is not None:
                    filtered[k][y0:y1, x0:x1] = image
                else:
                    objects[k] = _track_at(tracker, image, x0, y0)

        futures: list[Future] = []
        offset = 0
        for chunk in self.extractor.iter_chunks(_READ_BLOCK, 0, window.read_start, window.read_end):
            block = chunk.frames
            futures.extend(_split(pool, reduce_block, block.shape[0], self.n_jobs, block, offset))
            offset += block.shape[0]
            # Bound the raw blocks in flight: wait for all but the latest block's work.
            _drain(futures, keep=self.n_jobs)
        _drain(futures, keep=0)

        if filtered is not None:
            # Median over time in blocks, tracking each block at once, so only a block of
            # smoothed frames exists at a time (not a second copy of the chunk).
            radius = self.filters.temporal_radius
            # A stateful tracker sees each frame once, in order, with its exact filtered image:
            # a window's first ``radius`` frames have a truncated temporal median (except at
            # the session's start) and are skipped (they are context for the median only), and
            # the state is carried from the frame before the next window's first tracked one.
            skip = radius if window.read_start > self._first else 0
            snapshot = (
                None if next_read_start is None else next_read_start - window.read_start + radius
            )
            if sequential:
                tracker.state = self._tracker_state

            def track_range(smoothed: np.ndarray, first: int, lo: int, hi: int) -> None:
                for k in range(lo, hi):
                    image = smoothed[k]
                    window = _nonzero_window(image, 1)
                    if window is not None:
                        y0, y1, x0, x1 = window
                        objects[first + k] = _track_at(tracker, image[y0:y1, x0:x1], x0, y0)

            def track_in_order(smoothed: np.ndarray, first: int) -> None:
                if tracker.state is None and first == 0 and window.read_start == self._first:
                    tracker.initialize(smoothed)
                for k in range(smoothed.shape[0]):
                    if first + k < skip:
                        continue
                    image = smoothed[k]
                    bounds = _nonzero_window(image, 1)
                    if bounds is not None:
                        y0, y1, x0, x1 = bounds
                        objects[first + k] = tracker.track(
                            image[y0:y1, x0:x1], (x0, y0), heights[first + k][y0:y1, x0:x1]
                        )
                    if first + k + 1 == snapshot:
                        self._tracker_state = tracker.state

            for first in range(0, count, _READ_BLOCK):
                last = min(first + _READ_BLOCK, count)
                if temporal:
                    low, high = max(0, first - radius), min(count, last + radius)
                    smoothed = temporal_median(filtered[low:high], self.filters.temporal_size)
                    smoothed = smoothed[first - low : first - low + last - first]
                else:
                    smoothed = filtered[first:last]
                if sequential:
                    track_in_order(smoothed, first)
                else:
                    _drain(
                        _split(pool, track_range, last - first, self.n_jobs, smoothed, first),
                        keep=0,
                    )

        # Per-frame features of the window, box coordinates.
        x = np.full(count, np.nan)
        y = np.full(count, np.nan)
        orientation = np.full(count, np.nan)
        for k, obj in enumerate(objects):
            if obj is not None:
                x[k], y[k], orientation[k] = obj.x, obj.y, obj.orientation
        unwrapped = angles.unwrap(orientation, window.read_start, next_read_start)
        x_f, _ = self.centroid_hampel.apply(x)
        y_f, _ = self.centroid_hampel.apply(y)
        angle_f, _ = self.angle_hampel.apply(unwrapped)
        weigh = getattr(tracker, "smoothing_weights", None)
        weights = weigh(objects) if callable(weigh) else None
        if weights is not None:
            # moseq2-extract's model smoother: poorly explained frames follow their neighbours.
            x_f, y_f, angle_f = (smooth_by_model(v, weights) for v in (x_f, y_f, angle_f))

        lo, hi = window.start - window.read_start, window.end - window.read_start
        n = hi - lo
        # Frames after the chunk that the flip corrector sees as evidence (cropped, not kept).
        ahead = min(self._lookahead(), count - hi)
        rows, cols = self.crop_size
        crops = np.zeros((n + ahead, rows, cols), dtype=self.frame_dtype)
        ll_clip = self._ll_clip()
        if ll_clip is None:
            masks = np.zeros((n + ahead, rows, cols), dtype=bool)
        else:
            masks = np.full((n + ahead, rows, cols), ll_clip, dtype=np.float32)
        low_height = math.ceil(tracker.min_height)

        def crop_range(a: int, b: int) -> None:
            for j in range(a, b):
                k = lo + j
                obj = objects[k]
                if obj is None:
                    continue
                crops[j] = crop_and_rotate(heights[k], x_f[k], y_f[k], angle_f[k], self.crop_size)
                if obj.log_likelihood is None:
                    masks[j] = crop_and_rotate(
                        obj.mask, x_f[k], y_f[k], angle_f[k], self.crop_size,
                        origin=obj.mask_origin, interpolation=cv2.INTER_NEAREST,
                    ).astype(bool)  # fmt: skip
                    continue
                # Log-likelihoods as moseq2-extract writes them: clipped below at ll_clip, and
                # ll_clip where the crop is below min_height. Shifted so that pixels from
                # outside the tracked image (warped in as 0) read as ll_clip.
                shifted = np.maximum(obj.log_likelihood - ll_clip, 0.0)
                likelihood = crop_and_rotate(
                    shifted, x_f[k], y_f[k], angle_f[k], self.crop_size,
                    origin=obj.log_likelihood_origin,
                ) + ll_clip  # fmt: skip
                likelihood[crops[j] < low_height] = ll_clip
                masks[j] = likelihood

        _drain(_split(pool, crop_range, n + ahead, self.n_jobs), keep=0)

        final_x, final_y, final_angle = x_f[lo:hi], y_f[lo:hi], angle_f[lo:hi]
        kept = objects[lo:hi]
        valid = np.array([obj is not None for obj in kept], dtype=bool)
        times = setup.timestamps_s[
            window.start - setup.first_frame_idx : window.end - setup.first_frame_idx
        ]
        flips = confidence = None
        if self.flip_corrector is not None:

            def flip_context(a: int, b: int) -> FlipContext:
                found = np.array([obj is not None for obj in objects[a:b]], dtype=bool)
                first = window.read_start + a - setup.first_frame_idx
                animal = masks[a - lo : b - lo]
                if ll_clip is not None:
                    # Correctors see the animal's pixels, not log-likelihoods.
                    animal = (animal > tracker.mask_threshold) & (
                        crops[a - lo : b - lo] >= low_height
                    )
                return FlipContext(
                    start=first,
                    frames=crops[a - lo : b - lo],
                    masks=animal,
                    angle=np.where(found, angle_f[a:b], np.nan),
                    centroid_px=np.column_stack([x_f[a:b] + col0, y_f[a:b] + row0]),
                    valid=found,
                    timestamps_s=setup.timestamps_s[first : first + b - a],
                    camera=self.extractor.camera,
                    true_depth=setup.true_depth,
                )

            context = flip_context(lo, hi)
            if ahead:
                context.lookahead = flip_context(hi, hi + ahead)
            flips, confidence = self._decide_flips(context, n)
            flips &= valid
            confidence[~valid] = np.nan
            # Applied here and nowhere else: crops, masks and angle turn together, once.
            turned = np.flatnonzero(flips)
            if turned.size:
                crops[turned] = turn_round(crops[turned], 0)
                masks[turned] = turn_round(masks[turned], 0 if ll_clip is None else ll_clip)
                final_angle = final_angle + np.pi * flips
        crops, masks = crops[:n], masks[:n]

        def feature(name: str) -> np.ndarray:
            return np.array(
                [getattr(obj, name) if obj is not None else np.nan for obj in kept], dtype=float
            )

        values = scalars.compute(
            final_x, final_y, final_angle, feature("length"), feature("width"), feature("area"),
            feature("height_mean"), times,
        )  # fmt: skip
        return ResultChunk(
            start=window.start - setup.first_frame_idx,
            frames=crops,
            masks=masks,
            scalars=values,
            flips=flips,
            flip_confidence=confidence,
            arena_heights=arena_heights,
        )

    def _decide_flips(self, context: FlipContext, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The corrector's flips and confidence for one chunk, checked."""
        name = type(self.flip_corrector).__name__
        answer = self.flip_corrector.correct(context)
        if isinstance(answer, FlipDecision):
            flips = np.asarray(answer.flips, dtype=bool)
            confidence = np.array(answer.confidence, dtype=np.float32)
        else:
            flips = np.asarray(answer, dtype=bool)
            confidence = np.full(flips.shape, np.nan, dtype=np.float32)
        if flips.shape != (n,) or confidence.shape != (n,):
            raise ValueError(
                f"{name}.correct returned shape {flips.shape} (confidence {confidence.shape}); "
                f"expected one value per frame ({n},)"
            )
        return flips.copy(), confidence


def _nonzero_window(image: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """``(row0, row1, col0, col1)`` around the non-zero pixels plus ``margin``, or None."""
    if image.dtype == np.uint8:
        x, y, w, h = cv2.boundingRect(image)
        if w == 0:
            return None
    else:
        rows = np.flatnonzero(image.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(image.any(axis=0))
        x, y, w, h = cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
    return (
        max(0, y - margin),
        min(image.shape[0], y + h + margin),
        max(0, x - margin),
        min(image.shape[1], x + w + margin),
    )


def _track_at(tracker: MomentsTracker, image: np.ndarray, x0: int, y0: int):
    """Track in a sub-image whose top-left pixel is ``(x0, y0)``; coordinates of the whole."""
    found = tracker.track(image)
    if found is None or (x0 == 0 and y0 == 0):
        return found
    return replace(
        found,
        x=found.x + x0,
        y=found.y + y0,
        mask_origin=(found.mask_origin[0] + x0, found.mask_origin[1] + y0),
    )


_opencv_lock = threading.Lock()
_opencv_users = 0
_opencv_threads_before = 0


@contextlib.contextmanager
def _opencv_single_threaded() -> Iterator[None]:
    """OpenCV without its own worker threads while extractions run, then as it was.

    The session already spreads frames over ``n_jobs`` threads; OpenCV's thread pool on top
    of them only competes for the same cores (measured: 12% more CPU time, 5-8% slower on 2
    cores). Counted, so concurrent extractions in one process restore the setting once, when
    the last one ends.
    """
    global _opencv_users, _opencv_threads_before
    with _opencv_lock:
        if _opencv_users == 0:
            _opencv_threads_before = cv2.getNumThreads()
            cv2.setNumThreads(0)
        _opencv_users += 1
    try:
        yield
    finally:
        with _opencv_lock:
            _opencv_users -= 1
            if _opencv_users == 0:
                cv2.setNumThreads(_opencv_threads_before)


def _arena_heights_step(writer: ResultsWriter) -> int | None:
    """The writer's ``arena_heights_step`` (None when it wants no arena heights), checked."""
    step = getattr(writer, "arena_heights_step", None)
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(
            f"{type(writer).__name__}.arena_heights_step must be a positive whole number of "
            f"pixels (or None for no arena heights), got {step!r}"
        )
    return int(step)


class _AngleUnwrapper:
    """Unwraps body angles (known mod pi) continuously across overlapping chunks."""

    def __init__(self) -> None:
        self._reference: float | None = None  # unwrapped angle of the last valid frame kept

    def unwrap(self, orientation: np.ndarray, read_start: int, next_read_start: int | None):
        out = np.full(orientation.shape, np.nan)
        reference = self._reference
        new_reference = self._reference
        limit = None if next_read_start is None else next_read_start - read_start
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


def _split(pool: ThreadPoolExecutor, function: Callable, count: int, parts: int, *args):
    """Submit ``function(*args, lo, hi)`` over ``parts`` contiguous ranges of ``range(count)``."""
    parts = max(1, min(parts, count))
    bounds = np.linspace(0, count, parts + 1).astype(int)
    return [
        pool.submit(function, *args, int(lo), int(hi))
        for lo, hi in itertools.pairwise(bounds)
        if hi > lo
    ]


def _drain(futures: list[Future], keep: int) -> None:
    """Wait until at most ``keep`` futures are left running (re-raising their errors)."""
    while len(futures) > keep:
        futures.pop(0).result()


def _positive_int(value: Any, name: str) -> int:
    number = _non_negative_int(value, name)
    if number < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return number


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer number of frames, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return int(value)


def _version() -> str:
    from .. import __version__

    return __version__


def _input_file(extractor: DepthVideoExtractor) -> str | None:
    source = extractor
    while source is not None:
        path = getattr(source, "file_path", None)
        if path is not None:
            return str(path)
        source = getattr(source, "parent", None)
    return None


def _strategy_parameters(strategy: Any) -> dict[str, Any]:
    getter = getattr(strategy, "parameters", None)
    return dict(getter()) if callable(getter) else {}


def _background_parameters(background: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "use_plane_bground": isinstance(background, PlaneFitBackground),
        "background_strategy": type(background).__name__,
    }
    median = background.median if isinstance(background, PlaneFitBackground) else background
    if isinstance(median, StridedMedianBackground):
        params["bg_roi_frame_stride"] = median.frame_stride
        params["med_scale"] = median.median_filter_size
        params["bg_min_frames"] = median.min_frames
    return params


def _roi_parameters(roi: Any, arena: ArenaROI | None) -> dict[str, Any]:
    params: dict[str, Any] = {"roi_strategy": type(roi).__name__}
    if arena is not None and arena.depth_range is not None:
        params["bg_roi_depth_range"] = [float(v) for v in arena.depth_range]
    if isinstance(roi, PlaneROI):
        params.update(
            {
                "bg_roi_weights": list(roi.weights) if roi.weights is not None else None,
                "bg_roi_dilate": list(roi.dilate),
                "dilate_iterations": roi.dilate_iterations,
                "bg_roi_erode": list(roi.erode),
                "erode_iterations": roi.erode_iterations,
                "bg_roi_shape": roi.shape,
                "bg_roi_index": roi.index,
                "bg_roi_fill_holes": roi.fill_holes,
                "bg_roi_gradient_filter": roi.gradient_filter,
                "bg_roi_gradient_threshold": roi.gradient_threshold,
                "bg_roi_gradient_kernel": roi.gradient_kernel,
                "noise_tolerance": roi.noise_tolerance,
                "bg_roi_seed": roi.seed,
                "bg_roi_ransac_iterations": roi.iterations,
                "bg_roi_ransac_sample_points": roi.sample_points,
                "bg_roi_min_region_fraction": roi.min_region_fraction,
            }
        )
        if roi.depth_range is None:
            params["manual_set_depth_range"] = False
    elif isinstance(roi, ManualROI):
        params["manual_roi"] = True
    if arena is not None:
        params["detected_true_depth"] = float(arena.true_depth)
    return params
