"""Frames whose tracked object lies far from where the frames round them put the animal, and
the chunk stage that tracks them again there: :class:`RetrackJumpsStage`.

A stateless tracker (:class:`~depthextractors.extraction.tracking.MomentsTracker`, as
moseq2-extract's default) takes the largest object of each frame on its own. Where something
else in the arena is about as large as the animal for a frame or two (spurious depth beside a
reflective wall, an object, a hand; most often with a small animal at a coarse pixel size) it
takes that instead, and the centroid jumps away by far more than the animal can move and back
again. The frames round such a frame agree on where the animal is; the frame is tracked again
with the tracker's input cut to the objects near that place.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import cv2
import numpy as np

from .box_windows import labels_under, of_labels
from .frame_stages import TrackStage
from .stages import ChunkStage, FrameStage, WindowWork, frame_passes

__all__ = [
    "JUMP_LENGTHS",
    "NEIGHBOURS",
    "ROUNDS",
    "RetrackJumpsStage",
    "far_from_neighbours",
    "log_retracked",
    "retracking",
]

logger = logging.getLogger(__name__)

#: Frames on each side whose positions tell where the animal is.
NEIGHBOURS = 3
#: Rounds of judging and tracking again: where most of a frame's neighbours jumped too, the
#: frames put right in one round let it be judged in the next.
ROUNDS = 4
#: How far from where its neighbours put the animal a frame's object must lie to be tracked
#: again, in animal lengths. A mouse running at 0.5 m/s moves about a fifth of its length a
#: frame at 30 frames/s, so the neighbours' median lags the animal by at most about
#: ``0.2 * NEIGHBOURS`` lengths; one and a half lengths leave room for that and for the
#: tracked outline's own changes (a tail, a cable's base). A frame judged far in error is
#: tracked again to the same object: the objects near the expected place are kept, and the
#: animal's is the largest of them.
JUMP_LENGTHS = 1.5


def far_from_neighbours(
    x: np.ndarray, y: np.ndarray, jump_px: float, neighbours: int = NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames lying more than ``jump_px`` from where their neighbours put the animal.

    A frame's expected place is where most of the ``neighbours`` frames on each side put the
    animal: of the neighbours with a position, the one with the most others within
    ``jump_px / 2`` of it (the nearest in time of those with as many), and those others; the
    median (per coordinate) of their positions.
    It is judged only where at least ``neighbours`` of them (half) agree so: a minority of
    the neighbours may have jumped too, each to a place of its own.

    Parameters
    ----------
    x, y : numpy.ndarray
        Positions of consecutive frames, px; NaN where a frame has none.
    jump_px : float
        Distance beyond which a frame is far from its neighbours, px.
    neighbours : int, default NEIGHBOURS
        Frames on each side.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Indices of the far frames (a frame near an end is judged on the neighbours it has),
        and the x and y of their expected places, px.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    count = x.size
    padded_x = np.pad(x, neighbours, constant_values=np.nan)
    padded_y = np.pad(y, neighbours, constant_values=np.nan)
    # Nearest in time first, so that of neighbours agreeing with as many others the nearest
    # is taken (argmax takes the first): the animal moves between frames.
    offsets = [side * step for step in range(1, neighbours + 1) for side in (-1, 1)]
    around_x = np.stack([padded_x[neighbours + o : neighbours + o + count] for o in offsets])
    around_y = np.stack([padded_y[neighbours + o : neighbours + o + count] for o in offsets])
    known = np.isfinite(around_x) & np.isfinite(around_y)
    judged = (known.sum(axis=0) >= neighbours) & np.isfinite(x) & np.isfinite(y)
    if not judged.any():
        return np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0)
    # Only the judged frames: their neighbours hold enough positions for a median.
    around_x, around_y = around_x[:, judged], around_y[:, judged]
    # The neighbours that agree with the most others (those within jump_px / 2 of it) and
    # those others: a minority that jumped elsewhere, each to its own place, is left out.
    with np.errstate(invalid="ignore"):
        apart = np.hypot(
            around_x[:, None] - around_x[None, :], around_y[:, None] - around_y[None, :]
        )
        agree = apart <= jump_px / 2
    best = agree.sum(axis=1).argmax(axis=0)
    group = agree[best, :, np.arange(best.size)].T
    enough = group.sum(axis=0) >= neighbours
    frames, group = np.flatnonzero(judged)[enough], group[:, enough]
    expected_x = np.nanmedian(np.where(group, around_x[:, enough], np.nan), axis=0)
    expected_y = np.nanmedian(np.where(group, around_y[:, enough], np.nan), axis=0)
    far = np.hypot(x[frames] - expected_x, y[frames] - expected_y) > jump_px
    return frames[far], expected_x[far], expected_y[far]


class RetrackJumpsStage(ChunkStage):
    """Tracks again, near where the frames round it put the animal, a frame whose tracked
    object lies far from there (see the module's description).

    A frame's object lying more than ``jump_px`` from where most of its :data:`NEIGHBOURS`
    neighbours on each side put the animal (:func:`far_from_neighbours`) is made again from
    the recording: the first frame pass's stages run on it once more, with the tracker's input
    cut to its objects that reach within ``jump_px / 2`` of that place, of which the tracker
    takes the largest as ever. The new object replaces the old where it lies within
    ``jump_px`` of that place; elsewhere the frame is left as tracked.
    This is done in up to :data:`ROUNDS` rounds, each on the positions the round before left,
    so that frames whose neighbours had mostly jumped too are judged once those are put
    right; a frame is tracked again once at most. Frames of the window's context are judged
    too (later stages read them); what a round decides near the window's edge reaches
    :data:`NEIGHBOURS` frames further in, so the stage reads ``ROUNDS * NEIGHBOURS`` frames
    of context and the results do not depend on the chunk size.

    Parameters
    ----------
    first_pass : sequence of FrameStage
        The first frame pass's stages, in order, which make a frame's heights, filter them,
        track them with a stateless tracker and keep what later stages need.
    jump_px : float
        Distance beyond which an object is far from its neighbours, px (``JUMP_LENGTHS``
        times the animal's length).

    Attributes
    ----------
    retracked : int
        Finished frames whose object was replaced since the last :meth:`reset` (each is
        marked in the window's ``tracked_again``, which the results keep).

    Notes
    -----
    Only with a stateless tracker in the first pass (the session adds the stage then): a
    sequential tracker's state carries a wrong frame into the next, and ``EMTracker`` already
    follows the animal from frame to frame.
    """

    # What a round decides near the window's edge, where frames have fewer neighbours, can
    # reach NEIGHBOURS frames further in each round.
    margin = ROUNDS * NEIGHBOURS

    def __init__(self, first_pass: Sequence[FrameStage], jump_px: float) -> None:
        if not (math.isfinite(jump_px) and jump_px > 0):
            raise ValueError(f"jump_px must be a positive distance in pixels, got {jump_px!r}")
        self.first_pass = list(first_pass)
        self.jump_px = float(jump_px)
        self.retracked = 0

    def reset(self) -> None:
        """Start counting the frames tracked again afresh."""
        self.retracked = 0

    def process(self, work: WindowWork) -> None:
        """Track the window's far frames again, in up to :data:`ROUNDS` rounds."""
        tried: set[int] = set()
        for _ in range(ROUNDS):
            objects = work.objects
            x = np.array([np.nan if o is None else o.x for o in objects], dtype=np.float64)
            y = np.array([np.nan if o is None else o.y for o in objects], dtype=np.float64)
            far, expected_x, expected_y = far_from_neighbours(x, y, self.jump_px)
            new = [
                (k, ex, ey)
                for k, ex, ey in zip(far.tolist(), expected_x, expected_y, strict=True)
                if k not in tried
            ]
            if not new:
                return
            for k, ex, ey in new:
                tried.add(k)
                if not self._retrack(work, k, ex, ey):
                    continue
                if work.tracked_again is None:
                    work.tracked_again = np.zeros(work.window.size, dtype=bool)
                work.tracked_again[k] = True
                self.retracked += work.own.start <= k < work.own.stop

    def _retrack(self, work: WindowWork, k: int, ex: float, ey: float) -> bool:
        """Frame ``k`` again, its tracker input cut to the objects near ``(ex, ey)``: whether
        its object was replaced."""
        before = (work.objects[k], work.patches[k])
        work.objects[k] = work.patches[k] = None
        work.depth[k] = work.reread_depth(k)
        for stage in self.first_pass:
            stage.process(work, k)
            if work.images[k] is not None and work.objects[k] is None:
                work.images[k] = self._near(work.images[k], ex, ey)
        # What the stages keep only for a later one of the same pass.
        work.depth[k] = work.images[k] = work.full[k] = work.smoothed[k] = None
        work.hidden[k] = None
        found = work.objects[k]
        if found is None or math.hypot(found.x - ex, found.y - ey) > self.jump_px:
            work.objects[k], work.patches[k] = before
            return False
        return True

    def _near(
        self, image: tuple[np.ndarray, int, int], ex: float, ey: float
    ) -> tuple[np.ndarray, int, int]:
        """The tracker input ``(image, x0, y0)`` holding only its objects (8-connected
        non-zero pixels) that reach within ``jump_px / 2`` of ``(ex, ey)`` (a copy): the
        tracker then takes the largest of those, however large the others are."""
        pixels, x0, y0 = image
        count, labels = cv2.connectedComponents((pixels > 0).view(np.uint8), connectivity=8)
        rows, cols = np.ogrid[: pixels.shape[0], : pixels.shape[1]]
        near = np.hypot(cols + x0 - ex, rows + y0 - ey) <= self.jump_px / 2
        kept = of_labels(labels, labels_under(labels, count, near))
        return np.where(kept > 0, pixels, 0).astype(pixels.dtype, copy=False), x0, y0


def retracking(frame_stages: Sequence[FrameStage], animal_length_px: float | None) -> list:
    """The :class:`RetrackJumpsStage` of a run, as a list, where it applies; else ``[]``.

    It applies with the animal's length measured and a stateless tracker in the first frame
    pass, which keeps only patches of the heights (no temporal median keeps the window's
    frames): one frame can be made again on its own.

    Parameters
    ----------
    frame_stages : sequence of FrameStage
        The run's frame stages, in order.
    animal_length_px : float or None
        The animal's length, px (``None``: not measured).

    Returns
    -------
    list of ChunkStage
    """
    if not frame_stages or animal_length_px is None or not animal_length_px > 0:
        return []
    first_pass = frame_passes(list(frame_stages))[0]
    if not any(isinstance(stage, TrackStage) for stage in first_pass):
        return []
    if not any(stage.keeps_patches for stage in first_pass):
        return []
    return [RetrackJumpsStage(first_pass, JUMP_LENGTHS * animal_length_px)]


def log_retracked(chunk_stages: Sequence[ChunkStage], frames: int) -> None:
    """Log how many of a run's ``frames`` were tracked again (nothing when none were)."""
    for stage in chunk_stages:
        if isinstance(stage, RetrackJumpsStage) and stage.retracked:
            logger.info(
                "%d of %d frames were tracked again: their largest object lay more than %.1f "
                "px from where the frames round them put the animal (something else as large "
                "as the animal, such as spurious depth beside a reflective wall)",
                stage.retracked, frames, stage.jump_px,
            )  # fmt: skip
