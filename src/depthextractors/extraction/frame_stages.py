"""The per-frame stages: heights, spatial filters, temporal median, tracking.

Each is a :class:`~depthextractors.extraction.stages.FrameStage`; the session composes them
(:meth:`SessionExtraction.frame_stages`) in this order:

1. :class:`HeightsStage` — raw depth to heights above the floor in the ROI's bounding box;
2. :class:`SpatialFilterStage` — cable, median and tail filters around the non-zero pixels;
3. :class:`TemporalMedianStage` (when ``temporal_size > 1``) — the median over neighbouring
   frames; it reads ``temporal_size // 2`` frames on each side;
4. :class:`TrackStage` (a stateless tracker, any order and thread) or
   :class:`SequentialTrackStage` (a tracker with state, frames in order, its state carried from
   chunk to chunk);
5. :class:`BodyCentroidStage` — the tracked animal's body centroid, from the frame's heights
   round it (in the tracking pass, or in a pass of its own after a sequential tracker);
6. :class:`HeightsPatchStage` without a temporal median: the heights round the animal, kept
   for its crop (and a sequential tracker's raw heights) as the frame's heights are not; after
   the tracker when it is stateless, before it (round its input) when it is sequential.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .body_centroid import BodyCentroid
from .executor import READ_BLOCK
from .filters import FrameFilters
from .heights import ArenaHeights, HiddenPixels
from .stages import FrameStage, WindowWork, nonzero_region
from .tracking import SequentialTracker, Tracker

__all__ = [
    "BodyCentroidStage",
    "HeightsPatchStage",
    "HeightsStage",
    "SequentialTrackStage",
    "SpatialFilterStage",
    "TemporalMedianStage",
    "TrackStage",
]


class HeightsStage(FrameStage):
    """Raw depth to heights above the floor (mm) in the ROI's bounding box.

    Parameters
    ----------
    converter : ArenaHeights
        Background, ROI and height range.
    arena_heights_step : int or None
        When a writer wants the arena heights, every this-many-th row and column of the
        finished frames' heights is kept (taken right after each frame's heights are made,
        still in the cache).
    keep_depth : bool, default False
        Leave each frame's raw depth in ``work.depth`` for a later stage of the same pass,
        which releases it (where the depth hides the animal: :class:`BodyCentroidStage`,
        :class:`HeightsPatchStage`); by default it is released here.
    keep_hidden : bool, default False
        Keep where each frame's depth hides what lies below it over the whole box
        (``work.hidden``), for the body centroid in a later pass when no later stage of this
        one sees the raw depth (after a temporal median).

    Notes
    -----
    The arena heights go to two buffers used in turn, so a chunk's are overwritten two chunks
    later: the executor has finished writing a chunk before it processes the chunk after next,
    and writers keep nothing of a chunk past :meth:`ResultsWriter.write
    <depthextractors.extraction.ResultsWriter.write>`. New memory for every chunk would cost
    its first write each time (on some virtual machines about 80 MB/s).
    """

    def __init__(
        self,
        converter: ArenaHeights,
        arena_heights_step: int | None = None,
        keep_depth: bool = False,
        keep_hidden: bool = False,
    ) -> None:
        self.converter = converter
        self.arena_heights_step = arena_heights_step
        self.keep_depth = keep_depth
        self.keep_hidden = keep_hidden
        self._buffers: list[np.ndarray | None] = [None, None]
        self._turn = 0

    def reset(self) -> None:
        """Drop the arena-height buffers (a new run may have another box or chunk size)."""
        self._buffers = [None, None]
        self._turn = 0

    def begin(self, work: WindowWork) -> None:
        """Give the finished frames' arena heights a buffer when a writer wants them."""
        step = self.arena_heights_step
        if step is None:
            return
        own = work.own.stop - work.own.start
        shape = tuple(-(-size // step) for size in work.box_shape)
        buffer = self._buffers[self._turn]
        if buffer is None or buffer.shape[0] < own or buffer.shape[1:] != shape:
            buffer = np.empty((own, *shape), dtype=work.frame_dtype)
            self._buffers[self._turn] = buffer
        self._turn = 1 - self._turn
        work.arena_heights = buffer[:own]

    def process(self, work: WindowWork, k: int) -> None:
        """Heights of frame ``k`` from its raw depth (which is then released, unless a later
        stage releases it)."""
        row0, row1, col0, col1 = self.converter.bbox
        depth = work.depth[k]
        if not self.keep_depth:
            work.depth[k] = None
        heights = work.frame_heights(k)
        self.converter.convert(depth[row0:row1, col0:col1], heights)
        if self.keep_hidden:
            hidden = self.converter.hidden(depth, 0, row1 - row0, 0, col1 - col0)
            work.hidden[k] = HiddenPixels.of(hidden, 0, 0)
        if work.arena_heights is not None and work.own.start <= k < work.own.stop:
            step = self.arena_heights_step
            work.arena_heights[k - work.own.start] = heights[::step, ::step]


class SpatialFilterStage(FrameStage):
    """Cable, median and tail filters of one frame, around its non-zero pixels.

    Parameters
    ----------
    filters : FrameFilters
        The filters.
    keep : bool
        Write the filtered frames to ``work.filtered`` for a later pass (the temporal median);
        otherwise they go straight to the tracker.
    tight : bool
        When the frames are not kept: hand the tracker the box around the filtered frame's
        non-zero pixels with one pixel of margin (what a sequential tracker is given) rather
        than the filtered region.
    keep_smoothed : bool
        Also keep the region's heights before the tail filter (``work.smoothed``) for the
        body centroid, which then need not filter them again.
    """

    def __init__(
        self, filters: FrameFilters, keep: bool, tight: bool = False, keep_smoothed: bool = False
    ) -> None:
        self.filters = filters
        self.keep = keep
        self.writes_filtered = keep
        self.tight = tight
        self.keep_smoothed = keep_smoothed
        self._kernels = filters.kernels()
        self._margin = filters.region_margin()

    def begin(self, work: WindowWork) -> None:
        """Clear the window's filtered frames (regions are written into them)."""
        if self.keep:
            work.filtered[...] = 0

    def process(self, work: WindowWork, k: int) -> None:
        """Filter frame ``k``'s heights; the tracker's input is the result."""
        heights = work.frame_heights(k)
        region = nonzero_region(heights, self._margin)
        if region is None:
            return
        y0, y1, x0, x1 = region
        smoothed, image = self.filters.spatial_steps(heights[y0:y1, x0:x1], self._kernels)
        if self.keep_smoothed:
            work.smoothed[k] = (smoothed, x0, y0)
        if not self.keep:
            # The tight box is found here, on the worker threads, not on the sequential
            # tracker's.
            work.images[k] = (
                _tight_input(image, x0, y0, heights.shape) if self.tight else (image, x0, y0)
            )
            return
        full = work.filtered[k]
        full[y0:y1, x0:x1] = image
        work.full[k] = full
        _set_input(work, k, full)


class TemporalMedianStage(FrameStage):
    """Median of each pixel over ``size`` consecutive filtered frames.

    At the window's ends the window is clipped to the frames there, repeating the edge frame
    (the executor reads ``size // 2`` extra frames on each side, so finished frames never see
    the clipping).

    Parameters
    ----------
    size : int
        Odd number of frames, at least 3.
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.margin = self.size // 2

    def process(self, work: WindowWork, k: int) -> None:
        """The temporal median of frame ``k`` becomes the tracker's input."""
        radius = self.margin
        index = np.clip(np.arange(k - radius, k + radius + 1), 0, work.count - 1)
        smoothed = np.median(work.filtered[index], axis=0).astype(work.filtered.dtype)
        work.full[k] = smoothed
        _set_input(work, k, smoothed)


class TrackStage(FrameStage):
    """A stateless tracker on each frame, in any order.

    Parameters
    ----------
    tracker : Tracker
        The tracker.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def reset(self) -> None:
        """Let the tracker forget everything (its contract's hook)."""
        self.tracker.reset()

    def process(self, work: WindowWork, k: int) -> None:
        """Track frame ``k`` (its input is released)."""
        found = work.images[k]
        work.images[k] = work.full[k] = None
        if found is not None:
            image, x0, y0 = found
            work.objects[k] = _with_image(self.tracker.track(image, (x0, y0)), image, x0, y0)


class SequentialTrackStage(FrameStage):
    """A tracker with state, on the frames in order; its state carried across chunks.

    At the session's first frames the tracker is initialised from the first block of up to
    ``READ_BLOCK`` frames (:meth:`SequentialTracker.initialize`). In later chunks the first
    ``context`` frames are context only (their temporal median is clipped) and are not
    tracked; the state is saved after the frame before the next chunk's first tracked frame
    and restored there.

    Parameters
    ----------
    tracker : SequentialTracker
        The tracker.
    context : int
        Frames at the start of a chunk (after the session's first) that are context only.
    session_start : int
        The session's first frame (no skipped context before it).
    """

    sequential = True

    def __init__(self, tracker: SequentialTracker, context: int, session_start: int) -> None:
        self.tracker = tracker
        self.context = int(context)
        self.session_start = int(session_start)
        self._state: Any = None
        self._warm_up: list[int] | None = None

    def reset(self) -> None:
        """Forget the carried state and the tracker's own."""
        self.tracker.reset()
        self._state = None

    def begin(self, work: WindowWork) -> None:
        """Restore the state carried from the previous chunk."""
        self.tracker.state = self._state
        window = work.window
        at_start = window.read_start == self.session_start and self._state is None
        self._warm_up = [] if at_start else None
        self._warm_up_size = min(READ_BLOCK, work.count)
        self._skip = self.context if window.read_start > self.session_start else 0
        self._snapshot = (
            None
            if window.next_read_start is None
            else window.next_read_start - window.read_start + self.context
        )

    def process(self, work: WindowWork, k: int) -> None:
        """Track frame ``k`` (after the warm-up frames of the session's start)."""
        if self._warm_up is not None:
            self._warm_up.append(k)
            if len(self._warm_up) < self._warm_up_size:
                return
            # The first block's inputs (whole ROI box) initialise the model, as many frames
            # as it wants of them; then the block is tracked in order.
            self.tracker.initialize(np.stack([_whole_box(work, j) for j in self._warm_up]))
            frames, self._warm_up = self._warm_up, None
            for j in frames:
                self._track(work, j)
            return
        self._track(work, k)

    def _track(self, work: WindowWork, k: int) -> None:
        found = work.images[k]
        work.images[k] = work.full[k] = None
        if k >= self._skip and found is not None:
            image, x0, y0 = found
            rows, cols = image.shape
            raw = _raw_heights(work, k, x0, y0, rows, cols)
            work.objects[k] = _with_image(self.tracker.track(image, (x0, y0), raw), image, x0, y0)
        if self._snapshot is not None and k + 1 == self._snapshot:
            self._state = self.tracker.state


class BodyCentroidStage(FrameStage):
    """The body centroid and axis of each frame's tracked animal (``body_x``, ``body_y``,
    ``body_axis`` of its object).

    It reads the frame's heights round the animal: in the pass that tracks with a stateless
    tracker (the heights before the tail filter that the spatial filter kept, else its
    thread's scratch image), or, after a sequential tracker, in a pass of its own on the
    threads (the patch kept round the tracker's input). Where the depth hides the animal it
    reads from the frame's raw depth, which it then releases, in the tracking pass (the heights
    stage keeps it), or from the hidden pixels kept for a later pass (``work.hidden``: by
    :class:`HeightsPatchStage` round a sequential tracker's input, by :class:`HeightsStage`
    over the box before a temporal median).

    Parameters
    ----------
    locator : BodyCentroid
        Finds the centroid from the tracked object and the heights round it.
    converter : ArenaHeights
        Which pixels of the raw depth are hidden (:meth:`ArenaHeights.hidden`).
    """

    def __init__(self, locator: BodyCentroid, converter: ArenaHeights) -> None:
        self.locator = locator
        self.converter = converter

    def process(self, work: WindowWork, k: int) -> None:
        """Set the body centroid and axis of frame ``k``'s object (nothing where there is
        none)."""
        smoothed, work.smoothed[k] = work.smoothed[k], None
        depth, work.depth[k] = work.depth[k], None
        kept, work.hidden[k] = work.hidden[k], None
        found = work.objects[k]
        if found is None or found.image is None:
            return

        def heights(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
            return _raw_heights(work, k, x0, y0, y1 - y0, x1 - x0)

        def hidden(y0: int, y1: int, x0: int, x1: int) -> np.ndarray | None:
            if depth is not None:
                return self.converter.hidden(depth, y0, y1, x0, x1)
            return None if kept is None else kept.window(x0, y0, x1, y1)

        found.body_x, found.body_y, found.body_axis = self.locator.locate(
            found, heights, work.box_shape, smoothed, hidden
        )


class HeightsPatchStage(FrameStage):
    """Keeps the heights round the animal, enough for its crop, and nothing more.

    The window's heights are not kept whole unless a later pass needs every pixel of them
    (the temporal median): a frame's heights are gone once it leaves the first pass. The crop,
    made after the chunk's positions are final, reads only the pixels within
    :func:`~depthextractors.extraction.crop.crop_reach` of the centroid, so those are kept in
    ``work.patches``: round the tracked centroid when the tracker runs in the same pass (a
    tenth of the ROI box for an 80x80 crop in a Kinect v2 arena), or round the tracker's input
    region when a sequential tracker runs later (it reads the raw heights there, and finds the
    animal inside it).

    Parameters
    ----------
    reach : int
        Pixels kept on each side of the centroid's pixel (or of the input region).
    around : {"animal", "input"}, default "animal"
        What the patch is kept round.
    converter : ArenaHeights, optional
        With ``around="input"``: also keep where the raw depth hides what lies below it over
        the patch (``work.hidden``, :meth:`ArenaHeights.hidden`), for the body centroid after
        the sequential tracker, and release the raw depth (the heights stage kept it).
    """

    keeps_patches = True

    def __init__(
        self, reach: int, around: str = "animal", converter: ArenaHeights | None = None
    ) -> None:
        if around not in ("animal", "input"):
            raise ValueError(f"around must be 'animal' or 'input', got {around!r}")
        self.reach = int(reach)
        self.around = around
        self.converter = converter

    def process(self, work: WindowWork, k: int) -> None:
        """Keep frame ``k``'s heights round its animal (nothing where there is none)."""
        depth = work.depth[k]
        if self.converter is not None:
            work.depth[k] = None
        if self.around == "animal":
            found = work.objects[k]
            if found is None or not (math.isfinite(found.x) and math.isfinite(found.y)):
                return
            col, row = math.floor(found.x), math.floor(found.y)
            top, bottom, left, right = row, row + 1, col, col + 1
        else:
            found = work.images[k]
            if found is None:
                return
            image, left, top = found
            bottom, right = top + image.shape[0], left + image.shape[1]
        rows, cols = work.box_shape
        y0, y1 = max(0, top - self.reach), min(rows, bottom + self.reach)
        x0, x1 = max(0, left - self.reach), min(cols, right + self.reach)
        if y1 > y0 and x1 > x0:
            work.patches[k] = (work.frame_heights(k)[y0:y1, x0:x1].copy(), x0, y0)
            if self.converter is not None and depth is not None:
                hidden = self.converter.hidden(depth, y0, y1, x0, x1)
                work.hidden[k] = HiddenPixels.of(hidden, x0, y0)


def _raw_heights(work: WindowWork, k: int, x0: int, y0: int, rows: int, cols: int) -> np.ndarray:
    """Frame ``k``'s heights in ``rows`` x ``cols`` pixels from ``(x0, y0)`` of the ROI box:
    from the window's (or this thread's scratch image) before it has a patch, from its patch
    when that covers them, else made again from the recording."""
    y1, x1 = y0 + rows, x0 + cols
    if work.patches[k] is None:
        return work.frame_heights(k)[y0:y1, x0:x1]
    heights = work.patch_heights(k, y0, y1, x0, x1)
    return work.reread_heights(k)[y0:y1, x0:x1] if heights is None else heights


def _with_image(found: Any, image: np.ndarray, x0: int, y0: int) -> Any:
    """The tracked object with the filtered image it was found in (for moseq2's scalars)."""
    if found is not None:
        found.image = image
        found.image_origin = (x0, y0)
    return found


def _set_input(work: WindowWork, k: int, full: np.ndarray) -> None:
    """The tracker's input: ``full`` around its non-zero pixels (one pixel of margin)."""
    region = nonzero_region(full, 1)
    if region is None:
        work.images[k] = None
        return
    y0, y1, x0, x1 = region
    work.images[k] = (full[y0:y1, x0:x1], x0, y0)


def _tight_input(
    image: np.ndarray, x0: int, y0: int, box: tuple[int, int]
) -> tuple[np.ndarray, int, int] | None:
    """:func:`_set_input`'s input from a filtered region ``image`` at ``(x0, y0)`` in a box of
    shape ``box`` (0 outside the region), without pasting it into a whole-box frame."""
    region = nonzero_region(image, 0)
    if region is None:
        return None
    r0, r1, c0, c1 = region
    top, left = max(0, y0 + r0 - 1), max(0, x0 + c0 - 1)
    bottom, right = min(box[0], y0 + r1 + 1), min(box[1], x0 + c1 + 1)
    rows, cols = image.shape
    if top >= y0 and left >= x0 and bottom <= y0 + rows and right <= x0 + cols:
        return image[top - y0 : bottom - y0, left - x0 : right - x0], left, top
    # The one-pixel margin reaches past the region: it is floor (0) there.
    padded = np.zeros((bottom - top, right - left), dtype=image.dtype)
    padded[y0 + r0 - top : y0 + r1 - top, x0 + c0 - left : x0 + c1 - left] = image[r0:r1, c0:c1]
    return padded, left, top


def _whole_box(work: WindowWork, k: int) -> np.ndarray:
    """Frame ``k``'s tracker input as a whole ROI-box image."""
    full = work.full[k]
    if full is not None:
        return full
    full = np.zeros(work.box_shape, dtype=work.frame_dtype)
    if work.images[k] is not None:
        image, x0, y0 = work.images[k]
        full[y0 : y0 + image.shape[0], x0 : x0 + image.shape[1]] = image
    return full
