"""Extract the animal from a depth recording: :class:`SessionExtraction`.

The session composes strategy objects — background, arena ROI, filters, tracker, Hampel
filters, flip corrector — into a pipeline of stages and runs it:

1. the arena step, once: the background (:class:`StridedMedianBackground` by default) and the
   arena (:class:`PlaneROI`); the ROI's true depth is the floor depth;
2. the frame stages (:mod:`~depthextractors.extraction.frame_stages`) on every frame: heights
   above the floor inside the ROI's bounding box (``background - depth`` truncated to whole
   millimetres as moseq2-extract, 0 where invalid, outside the ROI or outside
   ``[min_height, max_height]``), the spatial filters, the temporal median, the tracker;
3. the chunk stages (:mod:`~depthextractors.extraction.chunk_stages`) on every chunk: angle
   unwrapping, Hampel filters, the tracker's smoothing, crops, flips, scalars;
4. each finished chunk goes to the writers.

:class:`~depthextractors.extraction.executor.ChunkExecutor` runs it: it plans the chunks with
the context and look-ahead the stages declare, reads the recording in small blocks, spreads the
frames over threads and writes on a thread of its own. Memory is bounded by the chunk size,
not by the session length: ``chunk_size`` patches of heights round the animal (about a tenth
of a Kinect v2 arena's box for 80x80 crops), or, with a temporal filter, whose later pass reads
every pixel of the window, twice ``chunk_size`` ROI-box images of one byte per pixel. The
results do not depend on the chunk size or the number of threads.
"""

from __future__ import annotations

import logging
import uuid as uuid_module
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._version import __version__
from ..extractors.base import DepthVideoExtractor
from .animal_size import AnimalSize, measure_animal
from .arena import ArenaROI, ROIStrategy
from .arguments import as_crop_size, as_frame_count, as_frame_trim, checked
from .background import BackgroundStrategy, StridedMedianBackground
from .body_centroid import BodyCentroid
from .chunk_stages import (
    CropStage,
    FlipStage,
    HampelStage,
    ModelSmoothingStage,
    ScalarStage,
    UnwrapStage,
)
from .crop import crop_reach
from .executor import JobOptions, worker_thread_limits
from .filters import FrameFilters, HampelFilter
from .flips import FlipCorrector
from .flips.motion import flip_corrector_of
from .frame_processes import choose_workers, start_worker_server
from .frame_stages import (
    BodyCentroidStage,
    HeightsPatchStage,
    HeightsStage,
    SequentialTrackStage,
    SpatialFilterStage,
    TemporalMedianStage,
    TrackStage,
)
from .heights import ArenaHeights
from .jumps import log_retracked, retracking
from .recorded_parameters import moseq2_parameters
from .results import (
    ExtractionSetup,
    ResultsWriter,
    as_results_writer,
    declared_arena_heights_step,
)
from .roi import PlaneROI
from .scalars import (
    MOSEQ2_SCALARS,
    NEW_SCALARS,
    SCALAR_DESCRIPTIONS,
    ScalarComputer,
    detect_dropped_frames,
)
from .stages import ChunkStage, FrameStage, frame_passes, run_windows
from .tracking import MomentsTracker, Tracker

__all__ = ["ArenaResult", "SessionExtraction"]

logger = logging.getLogger(__name__)


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
    animal : AnimalSize or None
        The animal measured on frames sampled over the recording (None: too few frames
        showed one); recorded as ``animal_size``.
    """

    background: np.ndarray
    roi: ArenaROI
    first_frame: np.ndarray
    animal: AnimalSize | None = None


class SessionExtraction:
    """Extract the animal from a depth recording into moseq2-compatible results.

    Every argument after ``extractor`` is a science parameter, recorded with the results; how
    the run is executed (threads, chunk size, progress bar) is given to :meth:`run`.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The recording (any format; a :meth:`~DepthVideoExtractor.frame_slice` for a part).
    roi : ROIStrategy, optional
        Arena strategy; ``PlaneROI()`` (automatic depth range, seeded) when not given.
    background : BackgroundStrategy, optional
        Background strategy; ``StridedMedianBackground()`` when not given.
    tracker : Tracker, optional
        Finds the animal; ``MomentsTracker()`` when not given. A :class:`SequentialTracker`
        (:class:`EMTracker`) sees the frames in order, its state carried across chunks.
    flip_corrector : FlipCorrector or "motion" or None, default "motion"
        Turns frames round so the nose points east. ``"motion"`` is a new
        :class:`~depthextractors.extraction.flips.MotionFlipCorrector` (no model needed);
        ``None`` keeps the body angle's own end, which is the nose only by chance.
    filters : FrameFilters, optional
        Spatial, temporal, tail and cable filters; ``FrameFilters()`` when not given.
    centroid_hampel : HampelFilter, optional
        Outlier filter on the centroid's x and y; off by default, as moseq2-extract.
    angle_hampel : HampelFilter, optional
        Outlier filter on the unwrapped angle; off by default.
    crop_size : (int, int), default (80, 80)
        ``(rows, cols)`` of the crops, pixels (``crop_size``).
    chunk_overlap : int, default 0
        Extra frames of the previous chunk processed again at the start of each chunk
        (``chunk_overlap``; the context the filters need is added anyway).
    frame_trim : (int, int), default (0, 0)
        Frames left out at the beginning and the end (``frame_trim``); a trim that leaves no
        frame is an error (moseq2-extract ignored it silently).
    num_frames : int, optional
        Extract only the first ``num_frames`` frames (before trimming), as ``--num-frames``;
        beyond the recording, the whole recording is extracted with a warning saying so.
    frame_dtype : {"uint8", "uint16"}, default "uint8"
        dtype of the written crops (``frame_dtype``).
    retrack_jumps : bool, default True
        Track a frame again near where the frames round it put the animal when its object
        lies far from there (``retrack_jumps``; :class:`~.jumps.RetrackJumpsStage`, with a
        stateless tracker); ``False`` keeps every frame's largest object, as moseq2-extract.

    Raises
    ------
    TypeError
        If a strategy does not follow its contract (subclass the base class named).
    ValueError
        If a size or range is out of bounds, or ``frame_trim`` leaves no frame.
    """

    def __init__(
        self,
        extractor: DepthVideoExtractor,
        roi: ROIStrategy | None = None,
        background: BackgroundStrategy | None = None,
        tracker: Tracker | None = None,
        flip_corrector: FlipCorrector | str | None = "motion",
        filters: FrameFilters | None = None,
        centroid_hampel: HampelFilter | None = None,
        angle_hampel: HampelFilter | None = None,
        crop_size: tuple[int, int] = (80, 80),
        chunk_overlap: int = 0,
        frame_trim: tuple[int, int] = (0, 0),
        num_frames: int | None = None,
        frame_dtype: str = "uint8",
        retrack_jumps: bool = True,
    ) -> None:
        self.extractor = checked(
            extractor, DepthVideoExtractor, "extractor", hint="open_depth_video"
        )
        self.roi = checked(roi, ROIStrategy, "roi", PlaneROI)
        self.background = checked(
            background, BackgroundStrategy, "background", StridedMedianBackground
        )
        self.tracker = checked(tracker, Tracker, "tracker", MomentsTracker)
        self.flip_corrector = flip_corrector_of(flip_corrector)
        self.filters = checked(filters, FrameFilters, "filters", FrameFilters)
        self.centroid_hampel = checked(
            centroid_hampel, HampelFilter, "centroid_hampel", HampelFilter
        )
        self.angle_hampel = checked(angle_hampel, HampelFilter, "angle_hampel", HampelFilter)
        self.crop_size = as_crop_size(crop_size)
        self.chunk_overlap = as_frame_count(chunk_overlap, "chunk_overlap")
        self.frame_trim = as_frame_trim(frame_trim)
        self.num_frames = num_frames
        if num_frames is not None:
            self.num_frames = as_frame_count(num_frames, "num_frames", 1)
        if frame_dtype not in ("uint8", "uint16"):
            raise ValueError(f"frame_dtype must be 'uint8' or 'uint16', got {frame_dtype!r}")
        self.frame_dtype = np.dtype(frame_dtype)
        if not isinstance(retrack_jumps, (bool, np.bool_)):
            raise TypeError(f"retrack_jumps must be True or False, got {retrack_jumps!r}")
        self.retrack_jumps = bool(retrack_jumps)
        if self.frame_dtype == np.uint8 and self.tracker.max_height > 255:
            raise ValueError(
                f"max_height={self.tracker.max_height:g} mm does not fit 8-bit frames; use "
                "frame_dtype='uint16' or a max_height of at most 255 mm"
            )
        if self.flip_corrector is not None:
            # A corrector bound to one crop size (a trained classifier) refuses others now,
            # before any work, rather than leaving the mice unflipped.
            self.flip_corrector.check_crop_size(self.crop_size)
        self._check_frame_range()
        self.arena: ArenaResult | None = None

    def __repr__(self) -> str:
        return (
            f"SessionExtraction({self.extractor!r}, roi={self.roi!r}, tracker={self.tracker!r}, "
            f"crop_size={self.crop_size})"
        )

    # ------------------------------------------------------------------ what it is
    def strategies(self) -> dict[str, Any]:
        """The strategies by role (``None`` for no flip corrector).

        Returns
        -------
        dict
            ``background``, ``roi``, ``filters``, ``tracker``, ``centroid_hampel``,
            ``angle_hampel``, ``flip_corrector``.
        """
        return {
            "background": self.background,
            "roi": self.roi,
            "filters": self.filters,
            "tracker": self.tracker,
            "centroid_hampel": self.centroid_hampel,
            "angle_hampel": self.angle_hampel,
            "flip_corrector": self.flip_corrector,
        }

    def session_params(self) -> dict[str, Any]:
        """The session's own science parameters (crop size, trimming, overlap, dtype, tracking
        again).

        Returns
        -------
        dict
        """
        return {
            "crop_size": self.crop_size,
            "chunk_overlap": self.chunk_overlap,
            "frame_trim": self.frame_trim,
            "num_frames": self.num_frames,
            "frame_dtype": str(self.frame_dtype),
            "retrack_jumps": self.retrack_jumps,
        }

    def describe(self) -> dict[str, Any]:
        """Each strategy's ``{"class", "params"}`` by role, and the session's parameters.

        Returns
        -------
        dict
            YAML-ready; recorded as ``strategies`` with the results.
        """
        from .strategy import plain

        record: dict[str, Any] = {
            role: None if strategy is None else strategy.describe()
            for role, strategy in self.strategies().items()
        }
        record["session"] = plain(self.session_params())
        return record

    # ------------------------------------------------------------------ frame range
    def frame_range(self) -> tuple[int, int]:
        """``(first, last)`` source frames extracted, after ``num_frames`` and ``frame_trim``.

        ``num_frames`` beyond the recording takes the whole recording (a warning said so when
        the session was made).

        Raises
        ------
        ValueError
            If ``frame_trim`` leaves no frame.
        """
        total = self.extractor.get_num_frames()
        if self.num_frames is not None:
            total = min(total, self.num_frames)
        begin, finish = self.frame_trim
        if begin + finish >= total:
            of = "asked for (num_frames)" if total == self.num_frames else "of the recording"
            raise ValueError(
                f"frame_trim=({begin}, {finish}) removes {begin + finish} frames but there are "
                f"only {total} {of}; trim fewer frames (at most {max(total - 1, 0)} in all)"
            )
        return begin, total - finish

    def _check_frame_range(self) -> None:
        """Refuse a trim that leaves nothing, and say so when ``num_frames`` is clamped."""
        total = self.extractor.get_num_frames()
        if self.num_frames is not None and self.num_frames > total:
            warnings.warn(
                f"num_frames={self.num_frames} is beyond the recording's {total} frames: all "
                f"{total} are extracted ({self.num_frames - total} fewer than asked)",
                stacklevel=3,
            )
        if total:
            self.frame_range()

    # ------------------------------------------------------------------ arena
    def find_roi(self) -> ArenaResult:
        """Compute the background and the arena, and measure the animal (once; later calls
        return the same).

        Returns
        -------
        ArenaResult

        Raises
        ------
        ValueError
            If the recording has no frames, or the strategies give an empty or mismatched
            arena or no floor depth.
        """
        if self.arena is not None:
            return self.arena
        if self.extractor.get_num_frames() < 1:
            raise ValueError("the recording has no frames; there is nothing to extract")
        # OpenCV's thread count must not change under the arena step's calls (see
        # executor.worker_thread_limits); the step runs inside the same limits.
        with worker_thread_limits():
            self.arena = self._arena_step()
        return self.arena

    def _arena_step(self) -> ArenaResult:
        """The background, the arena and the animal's size (``find_roi``'s work)."""
        background = np.asarray(self.background.compute(self.extractor), dtype=np.float32)
        expected = self.extractor.get_image_size()
        if background.shape != tuple(expected):
            raise ValueError(
                f"the background strategy returned a {background.shape} image but frames are "
                f"{expected}; it must return one depth per pixel"
            )
        arena = self.roi.find(self.background.roi_image(background), self.extractor.camera)
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
        animal = measure_animal(
            self.extractor, background, mask, arena.true_depth, self.tracker.min_height,
            self.tracker.max_height, self.frame_range(),
        )  # fmt: skip
        return ArenaResult(background, arena, first_frame, animal)

    # ------------------------------------------------------------------ the pipeline
    def frame_stages(self, converter: ArenaHeights, arena_heights_step: int | None) -> list:
        """The per-frame stages, in order (see :mod:`.frame_stages`).

        Parameters
        ----------
        converter : ArenaHeights
            Depth to heights in the ROI box.
        arena_heights_step : int or None
            Pixel step of the arena heights the writers want (``None``: none).

        Returns
        -------
        list of FrameStage
        """
        keep = self._keeps_filtered_frames
        sequential = self.tracker.sequential
        # Where the raw depth hides the animal the body centroid reads it in the first pass,
        # or what was kept of it round a sequential tracker's input, or over the whole box
        # before a temporal median.
        stages: list[FrameStage] = [
            HeightsStage(converter, arena_heights_step, keep_depth=not keep, keep_hidden=keep),
            # The body centroid in the tracking pass reuses what the tail filter was given.
            SpatialFilterStage(
                self.filters, keep, sequential, keep_smoothed=not (keep or sequential)
            ),
        ]
        if self.filters.temporal_size > 1:
            stages.append(TemporalMedianStage(self.filters.temporal_size))
        # Without a temporal median no later pass reads every pixel of the window's heights:
        # only the heights round the animal are kept (see HeightsPatchStage).
        patches = not keep
        reach = crop_reach(self.crop_size)
        animal = None if self.arena is None else self.arena.animal
        size = (None,) * 3
        if animal is not None:
            size = (animal.length_px, animal.mm_per_px, animal.height_mm)
        locator = BodyCentroid(self.filters, self.tracker.min_height, *size)
        body = BodyCentroidStage(locator, converter)
        if sequential:
            if patches:
                stages.append(HeightsPatchStage(reach, around="input", converter=converter))
            first, _ = self.frame_range()
            stages.append(SequentialTrackStage(self.tracker, self.filters.temporal_radius, first))
            # In a pass of its own on the threads (it needs no order).
            stages.append(body)
        else:
            stages.extend([TrackStage(self.tracker), body])
            if patches:
                stages.append(HeightsPatchStage(reach))
        return stages

    @property
    def _keeps_filtered_frames(self) -> bool:
        """Whether the filtered frames of a window are kept whole for a later pass (the
        temporal median needs their neighbours)."""
        return self.filters.temporal_size > 1

    def chunk_stages(
        self,
        setup: ExtractionSetup,
        arena: ArenaResult,
        box_origin: tuple[int, int],
        frame_stages: list[FrameStage] | None = None,
    ) -> list[ChunkStage]:
        """The per-chunk stages, in order (see :mod:`.chunk_stages`).

        Parameters
        ----------
        setup : ExtractionSetup
            Timestamps and frame range of the run.
        arena : ArenaResult
            The arena (floor depth).
        box_origin : (int, int)
            ``(x, y)`` of the ROI box's top-left pixel in the frame.
        frame_stages : list of FrameStage, optional
            The run's frame stages: with ``retrack_jumps``, the chunk stages begin with
            :class:`~.jumps.RetrackJumpsStage` where :func:`~.jumps.retracking` allows it.

        Returns
        -------
        list of ChunkStage
        """
        camera = self.extractor.camera
        length = None if arena.animal is None else arena.animal.length_px
        stages = retracking(frame_stages or [], length) if self.retrack_jumps else []
        stages += [
            UnwrapStage(),
            HampelStage(self.centroid_hampel, self.angle_hampel),
            ModelSmoothingStage(self.tracker),
            CropStage(
                self.crop_size,
                self.frame_dtype,
                self.tracker,
                animal_masks=self.flip_corrector is not None,
            ),
        ]
        if self.flip_corrector is not None:
            flips = FlipStage(
                self.flip_corrector, self.tracker, camera, arena.roi.true_depth, box_origin,
                setup.timestamps_s, setup.first_frame_idx,
                None if arena.animal is None else arena.animal.height_mm,
            )  # fmt: skip
            stages.append(flips)
        computer = ScalarComputer(camera, arena.roi.true_depth, box_origin)
        heights = (self.tracker.min_height, self.tracker.max_height)
        stages.append(ScalarStage(computer, setup.timestamps_s, setup.first_frame_idx, heights))
        return stages

    # ------------------------------------------------------------------ run
    def run(
        self,
        writer: ResultsWriter | Sequence[ResultsWriter],
        *,
        job: JobOptions | None = None,
        **job_options: Any,
    ) -> Any:
        """Extract the session, streaming the results to ``writer``.

        Parameters
        ----------
        writer : ResultsWriter or sequence of ResultsWriter
            Where the results go: e.g. ``H5ResultsWriter("proc")`` (``results_00.h5``) or
            ``InMemoryResultsWriter()`` from :mod:`depthextractors.io`; several are fed the same
            chunks and the first one's result is returned.
        job : JobOptions, optional
            How to run: threads, chunk size, progress bar.
        **job_options
            Or the fields of :class:`JobOptions` directly: ``n_jobs`` (threads, default
            :func:`~.executor.default_threads`), ``chunk_size`` (frames per chunk, default
            1000), ``progress`` (default True).

        Returns
        -------
        object
            What the (first) writer's ``finish()`` returns: an ``ExtractionResults`` for the
            writers of :mod:`depthextractors.io`.
        """
        if job is not None and job_options:
            raise TypeError("give the job options either as job=JobOptions(...) or as keywords")
        job = job if job is not None else JobOptions(**job_options)
        writer = as_results_writer(writer)
        first, last = self.frame_range()
        if self.extractor.reads_anywhere and job.plan(True, last - first)[0] == "processes":
            # The workers' server imports the extraction while the arena is found.
            start_worker_server()
        arena = self.find_roi()
        converter = ArenaHeights(
            arena.background, arena.roi.mask, self.tracker.min_height, self.tracker.max_height,
            self.frame_dtype, invalid_depths=self.extractor.camera.invalid_depths,
        )  # fmt: skip
        row0, _, col0, _ = converter.bbox
        first_pass = frame_passes(self.frame_stages(converter, None))[0]
        plan = choose_workers(job, self.extractor, first_pass, last - first)
        setup = self._setup(arena, job, plan, first_pass)
        writer.begin(setup)
        try:
            # Writers declare the products they want once they have begun.
            step = declared_arena_heights_step(writer)
            frame_stages = self.frame_stages(converter, step)
            chunk_stages = self.chunk_stages(setup, arena, (col0, row0), frame_stages)
            for stage in (*frame_stages, *chunk_stages):
                stage.reset()
            valid = run_windows(
                self.extractor, setup, job, frame_stages, chunk_stages, converter, writer,
                self.chunk_overlap, plan,
            )  # fmt: skip
            if self.flip_corrector is not None:
                self.flip_corrector.finalize()
            log_retracked(chunk_stages, setup.num_frames)
        except BaseException as error:
            writer.abort(error)
            raise
        if setup.num_frames and valid == 0:
            warnings.warn(
                f"the animal was not found in any of the {setup.num_frames} frames: every frame "
                f"is marked invalid. Check min_height={self.tracker.min_height:g} / "
                f"max_height={self.tracker.max_height:g} mm and the arena ROI "
                f"({int(setup.roi.sum())} pixels, true depth {setup.true_depth:.1f} mm)",
                stacklevel=2,
            )
        return writer.finish()

    def _setup(
        self, arena: ArenaResult, job: JobOptions, plan: tuple[str, int], first_pass: list
    ) -> ExtractionSetup:
        first, last = self.frame_range()
        length = None if arena.animal is None else arena.animal.length_px
        timestamps = self.extractor.get_timestamps(first, last)
        dropped = detect_dropped_frames(timestamps)
        if dropped.count:
            logger.info(
                "%d dropped frame(s) detected in %d gap(s) of the timestamps",
                dropped.count,
                dropped.after.size,
            )
        clip = self.tracker.log_likelihood_clip
        return ExtractionSetup(
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
            parameters=moseq2_parameters(self, arena.roi, job),
            strategies=self.describe(),
            # How it ran: the workers used, not only those asked for.
            job={"n_jobs": plan[1], "chunk_size": job.chunk_size, "workers": plan[0]},
            acquisition=dict(self.extractor.get_metadata()),
            uuid=str(uuid_module.uuid4()),
            version=__version__,
            has_flips=self.flip_corrector is not None,
            mask_dtype=np.dtype(bool if clip is None else np.float32),
            scalar_names=(*MOSEQ2_SCALARS, *NEW_SCALARS),
            scalar_descriptions=dict(SCALAR_DESCRIPTIONS),
            dropped_frame_count=dropped.count,
            dropped_after=dropped.after,
            roi_plane=None if arena.roi.plane is None else tuple(float(v) for v in arena.roi.plane),
            roi_notes=tuple(arena.roi.notes),
            roi_problems=tuple(arena.roi.problems),
            timestamps_source=self.extractor.timestamps_source,
            animal_size=None if arena.animal is None else arena.animal.to_dict(),
            tracks_again=self.retrack_jumps and bool(retracking(first_pass, length)),
        )
