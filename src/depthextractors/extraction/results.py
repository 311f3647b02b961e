"""What an extraction hands to its writers: the setup, the chunks, the writer contract.

:class:`~depthextractors.extraction.session.SessionExtraction` streams its results through
the :class:`ResultsWriter` objects it is given: ``begin(setup)`` once with everything known
before the first frame (sizes, background, ROI, parameters), ``write(chunk)`` for each block of
finished frames in order, then ``finish()``, whose return value ``run()`` returns, or
``abort(error)`` if anything failed.

The writers themselves (``results_00.h5``, in memory, the preview movie) live in
:mod:`depthextractors.io`, above this layer: the extraction never imports them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The name results record as the software that made them (moseq2-extract files name theirs).
SOFTWARE = "depthextractors"

__all__ = [
    "SOFTWARE",
    "ExtractionSetup",
    "ResultChunk",
    "ResultsWriter",
    "ResultsWriterGroup",
    "as_results_writer",
    "declared_arena_heights_step",
]


@dataclass
class ExtractionSetup:
    """Everything about an extraction known before its first frame is processed.

    Attributes
    ----------
    num_frames : int
        Frames that will be written.
    crop_size : (int, int)
        ``(rows, cols)`` of each crop.
    frame_dtype : numpy.dtype
        dtype of the cropped height frames (uint8 as moseq2-extract, or uint16).
    timestamps_s : numpy.ndarray
        ``(num_frames,)`` frame times, seconds.
    background : numpy.ndarray
        ``(rows, cols)`` background depth, millimetres.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask.
    first_frame : numpy.ndarray
        ``(rows, cols)`` raw depth of the session's first frame, millimetres.
    true_depth : float
        Floor depth, millimetres.
    first_frame_idx, last_frame_idx : int
        Range ``[first, last)`` of source frames extracted.
    parameters : dict
        Every parameter under its moseq2-extract name (plus new ones), as ``--config-file``
        takes them back.
    strategies : dict
        Each strategy's ``{"class", "params"}`` (:meth:`Strategy.describe`) by its role
        (``background``, ``roi``, ``filters``, ``tracker``, ``centroid_hampel``,
        ``angle_hampel``, ``flip_corrector``) plus the session's own arguments (``session``).
    job : dict
        How the run was executed (``n_jobs``, ``chunk_size``): recorded apart, since the
        results do not depend on it.
    acquisition : dict
        Session metadata (``metadata.json``).
    uuid : str
        Identifier of this extraction.
    version : str
        depthextractors version that made it.
    has_flips : bool
        Whether a flip corrector runs (``flips`` are written).
    scalar_names : tuple of str
        Scalars each chunk carries.
    scalar_descriptions : dict
        Description of each scalar.
    dropped_frame_count : int
        Frames missing from the recording (from timestamp gaps).
    dropped_after : numpy.ndarray
        Indices (into the written frames) of frames followed by a gap.
    roi_plane : tuple of float or None
        ``(a, b, c, d)`` of the floor plane when the ROI strategy fitted one.
    mask_dtype : numpy.dtype
        dtype of the masks: bool, or float32 log-likelihoods (:class:`EMTracker`).
    roi_notes : tuple of str
        What the arena step did beyond moseq2-extract's steps (:attr:`ArenaROI.notes
        <depthextractors.extraction.ArenaROI.notes>`), one sentence each.
    roi_problems : tuple of str
        Why the arena looks implausible (:attr:`ArenaROI.problems
        <depthextractors.extraction.ArenaROI.problems>`); empty when it does not.
    timestamps_source : str
        Where the frame times come from (:attr:`DepthVideoExtractor.timestamps_source
        <depthextractors.extractors.DepthVideoExtractor.timestamps_source>`): ``"depth_ts.txt"``,
        ``"container"``, ``"given"``, ``"set with set_times"`` or ``"made up from the frame
        rate"`` (the recording had no usable times); empty when unknown.
    animal_size : dict or None
        The animal measured before the extraction (:class:`~depthextractors.extraction.
        animal_size.AnimalSize` as a dict: width and length in pixels, heights in mm, the share
        of sampled frames showing a tether); None when too few frames showed one.
    tracks_again : bool
        Whether frames whose tracked object lay far from where the frames round them put the
        animal are tracked again (``retrack_jumps``; ``tracked_again`` is written).
    """

    num_frames: int
    crop_size: tuple[int, int]
    frame_dtype: np.dtype
    timestamps_s: np.ndarray
    background: np.ndarray
    roi: np.ndarray
    first_frame: np.ndarray
    true_depth: float
    first_frame_idx: int
    last_frame_idx: int
    parameters: dict[str, Any]
    strategies: dict[str, Any]
    job: dict[str, Any]
    acquisition: dict[str, Any]
    uuid: str
    version: str
    has_flips: bool
    scalar_names: tuple[str, ...]
    scalar_descriptions: dict[str, str]
    dropped_frame_count: int = 0
    dropped_after: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    roi_plane: tuple[float, float, float, float] | None = None
    mask_dtype: np.dtype = field(default_factory=lambda: np.dtype(bool))
    roi_notes: tuple[str, ...] = ()
    roi_problems: tuple[str, ...] = ()
    timestamps_source: str = ""
    animal_size: dict[str, Any] | None = None
    tracks_again: bool = False


@dataclass
class ResultChunk:
    """A block of finished frames, in order.

    Attributes
    ----------
    start : int
        Index of the first frame in the written results (0 = ``first_frame_idx``).
    frames : numpy.ndarray
        ``(n, crop_rows, crop_cols)`` cropped, rotated heights (mm).
    masks : numpy.ndarray
        ``(n, crop_rows, crop_cols)`` bool animal masks (float32 log-likelihoods with the EM
        tracker).
    scalars : dict of str to numpy.ndarray
        ``(n,)`` per scalar.
    flips : numpy.ndarray or None
        ``(n,)`` bool, where the flip corrector turned the animal round.
    flip_confidence : numpy.ndarray or None
        ``(n,)`` float32, the corrector's probability that each frame's orientation is right
        (NaN where it gives none or the animal was not found).
    arena_heights : numpy.ndarray or None
        ``(n, rows, cols)`` heights above the floor (mm, the crops' dtype) in the ROI's bounding
        box, every ``arena_heights_step``-th row and column, as the tracker saw them (0 outside
        ``[min_height, max_height]``, outside the arena and where the depth is invalid). Only
        made for a writer that asks for them (see :class:`ResultsWriter`), such as the preview
        movie; None otherwise. Their memory is reused for later chunks once
        :meth:`ResultsWriter.write` has returned: a writer that keeps them past it copies them.
    tracked_again : numpy.ndarray or None
        ``(n,)`` bool, the frames tracked again near where the frames round them put the animal
        (:class:`~depthextractors.extraction.jumps.RetrackJumpsStage`); None when no frame is
        tracked again in this run.
    """

    start: int
    frames: np.ndarray
    masks: np.ndarray
    scalars: dict[str, np.ndarray]
    flips: np.ndarray | None = None
    flip_confidence: np.ndarray | None = None
    arena_heights: np.ndarray | None = None
    tracked_again: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


class ResultsWriter(ABC):
    """Receives an extraction's results as they are produced: the writer contract.

    A new writer implements :meth:`write`; the other methods do nothing by default. The session
    calls :meth:`begin` once, :meth:`write` for each chunk in order (chunks never overlap, on a
    thread of their own but one at a time), then :meth:`finish` (whose return value
    ``SessionExtraction.run`` returns) or, if anything failed, :meth:`abort`.

    Products: a writer that also needs the arena itself (the preview movie does) declares it
    with :attr:`arena_heights_step`, read once after :meth:`begin`; every chunk then carries
    :attr:`ResultChunk.arena_heights`, every ``arena_heights_step``-th row and column of the
    heights the extraction computed anyway, so the recording is never read twice.

    A chunk's arrays belong to the writer only while :meth:`write` runs: the extraction may
    reuse their memory for later chunks, so a writer that keeps any of them past it (a queue
    for a thread of its own, a list of chunks) copies them.
    """

    #: Every chunk carries the arena heights at this pixel step (``None``: none wanted).
    arena_heights_step: int | None = None

    def begin(self, setup: ExtractionSetup) -> None:
        """Prepare for ``setup.num_frames`` frames (nothing by default).

        Parameters
        ----------
        setup : ExtractionSetup
            Sizes, background, ROI and parameters, known before the first frame.
        """

    @abstractmethod
    def write(self, chunk: ResultChunk) -> None:
        """Store one block of frames (blocks arrive in order and do not overlap).

        Parameters
        ----------
        chunk : ResultChunk
            Frames ``chunk.start`` to ``chunk.start + len(chunk)`` of the results.
        """

    def finish(self) -> Any:
        """Complete the output (nothing by default).

        Returns
        -------
        object
            What ``SessionExtraction.run`` returns for this writer (``None`` by default).
        """
        return None

    def abort(self, error: BaseException) -> None:
        """Give up after ``error``; must leave nothing that looks complete (nothing by default).

        Parameters
        ----------
        error : BaseException
            What made the extraction fail.
        """


class ResultsWriterGroup(ResultsWriter):
    """Several writers fed the same chunks; :meth:`finish` returns the first one's result.

    The first writer is the main one (``results_00.h5``): the others get each chunk and are
    finished before it, so when the main output says it is complete, the others are too.

    Parameters
    ----------
    writers : sequence of ResultsWriter
        The writers, the main one first.

    Raises
    ------
    TypeError
        If one of them is not a :class:`ResultsWriter`.
    ValueError
        If none is given, or two want the arena heights at different steps.
    """

    def __init__(self, writers: Sequence[ResultsWriter]) -> None:
        self.writers = tuple(writers)
        if not self.writers:
            raise ValueError("give at least one results writer")
        for writer in self.writers:
            if not isinstance(writer, ResultsWriter):
                raise TypeError(
                    f"writers must be ResultsWriter objects (subclass "
                    f"depthextractors.extraction.ResultsWriter), got {type(writer).__name__}"
                )

    @property
    def arena_heights_step(self) -> int | None:  # type: ignore[override]
        """The step the writers want the arena heights at (one step for all of them)."""
        steps = {w.arena_heights_step for w in self.writers} - {None}
        if len(steps) > 1:
            raise ValueError(
                f"the writers want the arena heights at different steps {sorted(steps)}; "
                "give them one step"
            )
        return steps.pop() if steps else None

    def begin(self, setup: ExtractionSetup) -> None:
        for writer in self.writers:
            writer.begin(setup)

    def write(self, chunk: ResultChunk) -> None:
        # The others first: a preview movie queues its frames, then the main writer's
        # compression runs while the movie encodes.
        for writer in (*self.writers[1:], self.writers[0]):
            writer.write(chunk)

    def finish(self) -> Any:
        for writer in self.writers[1:]:
            writer.finish()
        return self.writers[0].finish()

    def abort(self, error: BaseException) -> None:
        for writer in self.writers:
            writer.abort(error)


def declared_arena_heights_step(writer: ResultsWriter) -> int | None:
    """The arena heights' pixel step the writer declared (None: none wanted), checked."""
    step = writer.arena_heights_step
    if step is None:
        return None
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(
            f"{type(writer).__name__}.arena_heights_step must be a positive whole number of "
            f"pixels (or None for no arena heights), got {step!r}"
        )
    return int(step)


def as_results_writer(writers: Any) -> ResultsWriter:
    """A writer as it is, several as one :class:`ResultsWriterGroup` (the first one's result).

    Raises
    ------
    TypeError
        If ``writers`` is neither a writer nor a sequence of them.
    """
    if isinstance(writers, ResultsWriter):
        return writers
    if isinstance(writers, (str, bytes)) or not isinstance(writers, Sequence):
        raise TypeError(
            "run() takes a results writer (e.g. depthextractors.H5ResultsWriter(output_dir) or "
            f"InMemoryResultsWriter()) or a list of them, got {type(writers).__name__}"
        )
    return ResultsWriterGroup(list(writers))
