"""The pipeline's stage contracts and the work they share: :class:`WindowWork`.

An extraction is a list of per-frame stages followed by a list of per-chunk stages, which
:class:`~depthextractors.extraction.session.SessionExtraction` composes and
:class:`~depthextractors.extraction.executor.ChunkExecutor` runs over each chunk window:

- a :class:`FrameStage` processes one frame at a time (``process(work, k)``), on several threads
  and in any order unless it is ``sequential``. Consecutive frame stages are fused: each frame
  goes through all of them while it is in the cache. A stage that reads its neighbours
  (``margin > 0``) or must see the frames in order (``sequential``) starts a new pass, which
  begins once the previous pass has finished every frame of the window;
- a :class:`ChunkStage` then processes the whole window (``process(work)``), in order.

Stages declare what they need around the frames they finish: ``margin`` frames of context on
each side (summed along the pipeline) and, for chunk stages, ``lookahead`` frames after the
chunk (evidence only). The executor reads that much more, so the results do not depend on the
chunk size.

:func:`frame_passes` groups the frame stages into passes and :func:`run_frame_passes` runs them
over a window.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..extractors.base import DepthVideoExtractor
from .executor import ChunkExecutor, ChunkWindow, JobOptions, plan_windows
from .heights import ArenaHeights
from .results import ExtractionSetup, ResultChunk, ResultsWriter
from .tracking import TrackedObject

if TYPE_CHECKING:
    from .frame_processes import FramePassProcesses

__all__ = [
    "ChunkStage",
    "FrameStage",
    "WindowWork",
    "frame_passes",
    "nonzero_region",
    "run_frame_passes",
    "run_windows",
]


@dataclass(eq=False)
class WindowWork:
    """Everything the stages produce for one chunk window, frame ``k`` at index ``k``.

    Per-frame lists and arrays have one entry per frame read (``window.size``); indices are
    counted from ``window.read_start``.

    Attributes
    ----------
    window : ChunkWindow
        The frames read and the frames finished.
    executor : ChunkExecutor
        For stages that spread their own work over the threads.
    heights : numpy.ndarray or None
        ``(n, rows, cols)`` heights above the floor in the ROI's bounding box, mm, kept for the
        whole window when a later pass reads every pixel of them (a temporal median); else
        ``None``: each frame's heights live in its thread's scratch image while the frame goes
        through the first pass (:meth:`frame_heights`), and only ``patches`` are kept.
    box_shape : (int, int)
        ``(rows, cols)`` of the ROI's bounding box.
    frame_dtype : numpy.dtype
        dtype of the heights.
    filtered : numpy.ndarray or None
        ``(n, rows, cols)`` spatially filtered heights, when a later pass needs them.
    depth : list
        Raw depth frames waiting for the heights stage (released once converted).
    images : list
        ``(image, x0, y0)``: the tracker's input around the frame's non-zero pixels and its
        origin in the ROI box, or ``None`` (nothing there); released once tracked.
    full : list
        The tracker's input as a whole ROI-box image where a stage made one (else ``None``).
    smoothed : list
        ``(image, x0, y0)``: the heights before the tail filter over the tracker's input
        region, where the spatial filter kept them for the body centroid (else ``None``);
        released once it is found.
    objects : list
        The tracked animal of each frame (``None`` where not found), ROI-box coordinates.
    patches : list
        ``(heights, x0, y0)``: the heights round the tracked animal (or a sequential tracker's
        input), enough for its crop, and the patch's origin in the ROI box, or ``None``; made
        when ``heights`` is not kept.
    hidden : list
        :class:`~depthextractors.extraction.heights.HiddenPixels`: where the raw depth hides
        what lies below it, kept for the body centroid in a later pass (round a sequential
        tracker's input, or over the box before a temporal median), or ``None`` (nothing
        hidden there, or not kept).
    arena_heights : numpy.ndarray or None
        Heights of the finished frames at the writers' pixel step (a writer product).
    ahead : int
        Frames after the finished ones that are cropped too, as evidence for the flips.
    reread_heights : callable or None
        ``reread_heights(k)``: frame ``k``'s heights made again from the recording, for a crop
        that reaches past its patch (a Hampel filter moved the centroid).
    reread_depth : callable or None
        ``reread_depth(k)``: frame ``k``'s raw depth read again from the recording, for a
        frame tracked again (:class:`~depthextractors.extraction.jumps.RetrackJumpsStage`).
    tracked_again : numpy.ndarray or None
        ``(window.size,)`` bool: the frames that stage tracked again (``None`` until it
        tracks one).
    """

    window: ChunkWindow
    executor: ChunkExecutor
    heights: np.ndarray | None
    box_shape: tuple[int, int]
    frame_dtype: np.dtype
    filtered: np.ndarray | None = None
    arena_heights: np.ndarray | None = None
    ahead: int = 0
    reread_heights: Callable[[int], np.ndarray] | None = None
    reread_depth: Callable[[int], np.ndarray] | None = None
    depth: list = field(init=False)
    images: list = field(init=False)
    full: list = field(init=False)
    smoothed: list = field(init=False)
    patches: list = field(init=False)
    hidden: list = field(init=False)
    objects: list[TrackedObject | None] = field(init=False)
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    angle: np.ndarray | None = None
    crops: np.ndarray | None = None
    filtered_crops: np.ndarray | None = None
    masks: np.ndarray | None = None
    animal: np.ndarray | None = None
    flips: np.ndarray | None = None
    flip_confidence: np.ndarray | None = None
    scalars: dict[str, np.ndarray] | None = None
    tracked_again: np.ndarray | None = None

    def __post_init__(self) -> None:
        count = self.window.size
        self.depth = [None] * count
        self.images = [None] * count
        self.full = [None] * count
        self.smoothed = [None] * count
        self.patches = [None] * count
        self.hidden = [None] * count
        self.objects = [None] * count

    def frame_heights(self, k: int) -> np.ndarray:
        """Frame ``k``'s heights: its row of :attr:`heights`, or, when the window's heights
        are not kept, the calling thread's scratch image (valid while the frame goes through
        the pass on this thread).

        Parameters
        ----------
        k : int
            Frame index, counted from ``window.read_start``.

        Returns
        -------
        numpy.ndarray
            ``box_shape`` heights, mm.
        """
        if self.heights is not None:
            return self.heights[k]
        scratch = getattr(_scratch, "heights", None)
        if scratch is None or scratch.shape != self.box_shape or scratch.dtype != self.frame_dtype:
            scratch = _scratch.heights = np.empty(self.box_shape, dtype=self.frame_dtype)
        return scratch

    def patch_heights(self, k: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray | None:
        """Frame ``k``'s heights in rows ``y0:y1`` and columns ``x0:x1`` of the ROI box from
        its patch, or ``None`` when it has no patch or the patch does not cover them.

        Parameters
        ----------
        k : int
            Frame index, counted from ``window.read_start``.
        y0, y1, x0, x1 : int
            The pixels, ROI-box coordinates.

        Returns
        -------
        numpy.ndarray or None
            A view of the patch, mm.
        """
        patch = self.patches[k]
        if patch is None:
            return None
        heights, px, py = patch
        rows, cols = heights.shape
        if not (py <= y0 and y1 <= py + rows and px <= x0 and x1 <= px + cols):
            return None
        return heights[y0 - py : y1 - py, x0 - px : x1 - px]

    @property
    def count(self) -> int:
        """Frames read."""
        return self.window.size

    @property
    def own(self) -> slice:
        """The finished frames, as a slice of the frames read."""
        return self.window.own


#: Each thread's heights of the frame it is working on (when a window's are not kept whole).
_scratch = threading.local()


class FrameStage:
    """One step applied to every frame of a window (see the module's description).

    Attributes
    ----------
    margin : int
        Frames of context it reads on each side of a frame (0: it reads only the frame).
    sequential : bool
        Whether frames must be processed in order, one at a time.
    writes_filtered : bool
        Whether it writes each frame's filtered heights to ``work.filtered`` (a buffer for the
        whole window, which :func:`run_windows` then provides) for a later pass.
    keeps_patches : bool
        Whether it keeps in ``work.patches`` all a frame's crop needs of its heights; in the
        first pass, it spares the window a buffer of every frame's heights.
    """

    margin: int = 0
    sequential: bool = False
    writes_filtered: bool = False
    keeps_patches: bool = False

    def reset(self) -> None:
        """Forget everything before a new run (nothing by default)."""

    def begin(self, work: WindowWork) -> None:
        """Prepare for a window, before any of its frames (nothing by default).

        Parameters
        ----------
        work : WindowWork
            The window's work.
        """

    def process(self, work: WindowWork, k: int) -> None:
        """Process frame ``k`` of the window.

        Parameters
        ----------
        work : WindowWork
            The window's work; the stage reads and writes frame ``k``'s entries.
        k : int
            Frame index, counted from ``work.window.read_start``.
        """
        raise NotImplementedError

    def end(self, work: WindowWork) -> None:
        """Finish a window after its last frame (nothing by default).

        Parameters
        ----------
        work : WindowWork
            The window's work.
        """


class ChunkStage:
    """One step applied to a whole window, after the frame stages, in order.

    Attributes
    ----------
    margin : int
        Frames of context it reads on each side of a finished frame.
    lookahead : int
        Frames after the chunk it wants to see (evidence only; they are finished in their own
        chunk).
    """

    margin: int = 0
    lookahead: int = 0

    def reset(self) -> None:
        """Forget everything before a new run (nothing by default)."""

    def process(self, work: WindowWork) -> None:
        """Process the window.

        Parameters
        ----------
        work : WindowWork
            The window's work.
        """
        raise NotImplementedError


def frame_passes(stages: list[FrameStage]) -> list[list[FrameStage]]:
    """Frame stages grouped into passes: a stage reading its neighbours (``margin > 0``) or
    needing the frames in order (``sequential``) starts a new pass, and so does the stage after
    a sequential one (it runs on the threads again).

    Parameters
    ----------
    stages : list of FrameStage
        The frame stages, in pipeline order.

    Returns
    -------
    list of list of FrameStage
        The passes, in order; the stages of one pass are fused frame by frame.
    """
    passes: list[list[FrameStage]] = []
    for stage in stages:
        after_sequential = bool(passes) and any(s.sequential for s in passes[-1])
        if not passes or stage.margin > 0 or stage.sequential or after_sequential:
            passes.append([stage])
        else:
            passes[-1].append(stage)
    return passes


def run_frame_passes(
    work: WindowWork,
    passes: list[list[FrameStage]],
    extractor: DepthVideoExtractor,
    first_pass: Callable[[WindowWork], None] | None = None,
) -> None:
    """Every pass over every frame of the window; the first while the frames are read.

    The first pass runs as the recording's blocks arrive; a pass with a sequential stage runs
    frame by frame in order; the others are spread over the executor's threads.

    Parameters
    ----------
    work : WindowWork
        The window's work (its executor reads and spreads the frames).
    passes : list of list of FrameStage
        From :func:`frame_passes`.
    extractor : DepthVideoExtractor
        The recording the window's frames are read from.
    first_pass : callable, optional
        ``first_pass(work)`` puts the first pass's results into ``work`` instead (worker
        processes ran it, :class:`~.frame_processes.FramePassProcesses`); the first pass's
        stages still begin and end here.
    """
    for index, stages in enumerate(passes):
        for stage in stages:
            stage.begin(work)

        def frames(lo: int, hi: int, stages: list[FrameStage] = stages) -> None:
            for k in range(lo, hi):
                for stage in stages:
                    stage.process(work, k)

        if index == 0 and first_pass is not None:
            first_pass(work)
        elif index == 0:

            def receive(offset: int, block: np.ndarray) -> None:
                work.depth[offset : offset + block.shape[0]] = list(block)

            window = work.window
            work.executor.stream(extractor, window.read_start, window.read_end, receive, frames)
        elif any(stage.sequential for stage in stages):
            frames(0, work.count)
        else:
            work.executor.map_ranges(frames, work.count)
        for stage in stages:
            stage.end(work)


def run_windows(
    extractor: DepthVideoExtractor,
    setup: ExtractionSetup,
    job: JobOptions,
    frame_stages: list[FrameStage],
    chunk_stages: list[ChunkStage],
    converter: ArenaHeights,
    writer: ResultsWriter,
    chunk_overlap: int,
    plan: tuple[str, int] = ("threads", 1),
) -> int:
    """Run the stages over every chunk of the setup's frames and write the chunks.

    The chunks are planned with the context and look-ahead the stages declare; the window
    buffers are allocated once for the longest window, as the stages declare them: every
    frame's heights unless a first-pass stage keeps patches, the filtered frames when a stage
    writes them.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The recording.
    setup : ExtractionSetup
        The frames to extract (``first_frame_idx``, ``last_frame_idx``, ``num_frames``).
    job : JobOptions
        Threads, chunk size and progress bar.
    frame_stages, chunk_stages : list
        The pipeline, in order.
    converter : ArenaHeights
        Depth to heights in the ROI box (its shape and dtype size the buffers; a frame whose
        crop reaches past its patch is converted again with it).
    writer : ResultsWriter
        Receives the chunks.
    chunk_overlap : int
        Extra frames read before each chunk.
    plan : (str, int), default ("threads", 1)
        Where the first frame pass runs and on how many workers (:func:`choose_workers`).

    Returns
    -------
    int
        Frames with the animal.
    """
    context = sum(s.margin for s in frame_stages) + sum(s.margin for s in chunk_stages)
    lookahead = max((s.lookahead for s in chunk_stages), default=0)
    windows = plan_windows(
        setup.first_frame_idx, setup.last_frame_idx, job.chunk_size, context, chunk_overlap,
        lookahead,
    )  # fmt: skip
    passes = frame_passes(frame_stages)
    executor = ChunkExecutor(job, threads=plan[1] if plan[0] == "threads" else None)
    box = (max((w.size for w in windows), default=0), *converter.shape)
    # A frame's heights outlive the first pass only in a buffer for the window (paid once).
    patches = any(stage.keeps_patches for stage in passes[0])
    heights = None if patches else np.empty(box, dtype=converter.dtype)
    writes_filtered = any(stage.writes_filtered for stage in frame_stages)
    filtered = np.empty(box, dtype=converter.dtype) if writes_filtered else None
    found = 0
    pool = _first_pass_processes(plan, passes[0], extractor, converter, windows)

    def process(window: ChunkWindow) -> ResultChunk:
        nonlocal found

        def reread_depth(k: int) -> np.ndarray:
            return extractor.get_frames([window.read_start + k])[0]

        work = WindowWork(
            window=window,
            executor=executor,
            heights=None if heights is None else heights[: window.size],
            box_shape=converter.shape,
            frame_dtype=converter.dtype,
            filtered=None if filtered is None else filtered[: window.size],
            ahead=min(lookahead, window.read_end - window.end),
            reread_heights=lambda k: converter(reread_depth(k)[None])[0],
            reread_depth=reread_depth,
        )
        run_frame_passes(work, passes, extractor, None if pool is None else pool.first_pass)
        for stage in chunk_stages:
            stage.process(work)
        found += int(np.count_nonzero(work.scalars["valid"]))
        return _result_chunk(work, setup)

    with pool if pool is not None else contextlib.nullcontext():
        executor.run(windows, process, writer, setup.num_frames)
    return found


def _first_pass_processes(
    plan: tuple[str, int],
    first_pass: list[FrameStage],
    extractor: DepthVideoExtractor,
    converter: ArenaHeights,
    windows: list[ChunkWindow],
) -> FramePassProcesses | None:
    """The worker processes of the first pass when the plan says so, else ``None``."""
    kind, workers = plan
    if kind != "processes":
        return None
    from .frame_processes import FramePassProcesses

    return FramePassProcesses(
        first_pass, extractor, workers, converter.shape, converter.dtype, windows
    )


def _result_chunk(work: WindowWork, setup: ExtractionSetup) -> ResultChunk:
    """What the writers get of a finished window."""
    count = work.own.stop - work.own.start
    return ResultChunk(
        start=work.window.start - setup.first_frame_idx,
        frames=work.crops[:count],
        masks=work.masks[:count],
        scalars=work.scalars,
        flips=work.flips,
        flip_confidence=work.flip_confidence,
        arena_heights=work.arena_heights,
        tracked_again=None if work.tracked_again is None else work.tracked_again[work.own],
    )


def nonzero_region(image: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """``(row0, row1, col0, col1)`` around the non-zero pixels plus ``margin``, or None.

    Filters and trackers only need the neighbourhood of the non-zero pixels (the rest of the
    box is floor and stays 0): the same result for a fraction of the work.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols)`` image.
    margin : int
        Pixels added on every side (clipped at the image's edges).

    Returns
    -------
    tuple of int or None
        ``None`` when every pixel is 0.
    """
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
