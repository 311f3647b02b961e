"""Where extraction results go: the writer protocol, the results object, the in-memory writer.

:class:`~depthextractors.extraction.session.SessionExtraction` streams its results through a
:class:`ResultsWriter`: ``begin(setup)`` once with everything known before the first frame
(sizes, background, ROI, parameters), ``write(chunk)`` for each block of finished frames in
order, then ``finish()``, which returns an :class:`ExtractionResults`, or ``abort(error)`` if
anything failed.

Import direction: ``extraction`` must not import ``io`` (``io`` writes what ``extraction``
produces). So this module only defines the protocol and an in-memory writer; the HDF5 writer of
``results_00.h5`` lives in :mod:`depthextractors.io.results_h5`, which registers itself here as
the :class:`OutputBackend` for output directories when :mod:`depthextractors.io` is imported
(``import depthextractors`` does that, so users never notice). Without a registered backend, an
extraction to a directory raises and says what to import.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

# The name results record as the software that made them (moseq2-extract files name theirs).
SOFTWARE = "depthextractors"

__all__ = [
    "ExtractionResults",
    "ExtractionSetup",
    "InMemoryResultsWriter",
    "NWBBackend",
    "OutputBackend",
    "ResultChunk",
    "ResultsWriter",
    "get_nwb_backend",
    "get_output_backend",
    "set_nwb_backend",
    "set_output_backend",
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
        Every parameter under its moseq2-extract name (plus new ones).
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
        movie; None otherwise.
    """

    start: int
    frames: np.ndarray
    masks: np.ndarray
    scalars: dict[str, np.ndarray]
    flips: np.ndarray | None = None
    flip_confidence: np.ndarray | None = None
    arena_heights: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@runtime_checkable
class ResultsWriter(Protocol):
    """Receives an extraction's results as they are produced.

    A writer that also needs the arena itself (the preview movie does) gives itself an
    ``arena_heights_step`` attribute, a positive ``int``: every chunk then carries
    :attr:`ResultChunk.arena_heights`, every ``arena_heights_step``-th row and column of the
    heights the extraction computed anyway, so the recording is never read twice. Writers
    without the attribute get ``None`` there and cost nothing.
    """

    def begin(self, setup: ExtractionSetup) -> None:
        """Prepare for ``setup.num_frames`` frames.

        Parameters
        ----------
        setup : ExtractionSetup
            Sizes, background, ROI and parameters, known before the first frame.
        """

    def write(self, chunk: ResultChunk) -> None:
        """Store one block of frames (blocks arrive in order and do not overlap).

        Parameters
        ----------
        chunk : ResultChunk
            Frames ``chunk.start`` to ``chunk.start + len(chunk)`` of the results.
        """

    def finish(self) -> ExtractionResults:
        """Complete the output and return the results.

        Returns
        -------
        ExtractionResults
            The results as written.
        """

    def abort(self, error: BaseException) -> None:
        """Give up after ``error``; must leave nothing that looks complete.

        Parameters
        ----------
        error : BaseException
            What made the extraction fail.
        """


class ExtractionResults:
    """The results of an extraction: crops, masks, scalars and metadata.

    Arrays are numpy arrays (in-memory results) or lazy array-likes backed by
    ``results_00.h5`` that read only what is sliced (``results.frames[0:100]``).

    Parameters
    ----------
    frames : array-like
        ``(frames, crop_rows, crop_cols)`` cropped, rotated heights, mm, nose east.
    frames_mask : array-like
        Same shape, bool: the animal's pixels.
    scalars : mapping of str to array-like
        Per-frame scalars (see :mod:`depthextractors.extraction.scalars`).
    timestamps : numpy.ndarray
        Frame times, **seconds** (``results_00.h5`` stores milliseconds, as moseq2-extract).
    metadata : dict
        ``uuid``, ``true_depth``, ``roi``, ``background``, ``first_frame``, ``parameters``,
        ``acquisition``, ``first_frame_idx``, ``last_frame_idx``, ``dropped_frame_count``,
        ``dropped_after``, ``version``, ``roi_plane`` (when the arena strategy fitted a floor
        plane).
    flips : array-like or None
        bool per frame when a flip corrector ran.
    path : pathlib.Path or None
        ``results_00.h5`` when the results are on disk.
    flip_confidence : array-like or None
        float32 per frame when a flip corrector ran: its probability that the orientation
        chosen is right (0.5 = a coin toss, 1 = certain; NaN where the animal was not found or
        the corrector gives no confidence).
    """

    def __init__(
        self,
        frames: Any,
        frames_mask: Any,
        scalars: Mapping[str, Any],
        timestamps: np.ndarray,
        metadata: dict[str, Any],
        flips: Any = None,
        path: Path | None = None,
        flip_confidence: Any = None,
    ) -> None:
        self.frames = frames
        self.frames_mask = frames_mask
        self.scalars = scalars
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        self.metadata = metadata
        self.flips = flips
        self.flip_confidence = flip_confidence
        self.path = path

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path is not None else " (in memory)"
        return f"ExtractionResults({len(self)} frames{where})"

    @property
    def uuid(self) -> str | None:
        """Identifier of the extraction."""
        return self.metadata.get("uuid")

    @property
    def valid(self) -> np.ndarray:
        """bool per frame: whether the animal was found.

        moseq2-extract's files have no ``valid`` scalar; there a frame is valid where its
        centroid is a number (moseq2-extract writes NaN features where it found no animal).
        """
        if "valid" in self.scalars:
            return np.asarray(self.scalars["valid"][:], dtype=bool)
        return np.isfinite(np.asarray(self.scalars["centroid_x_px"][:], dtype=float))

    @property
    def true_depth(self) -> float:
        """Floor depth, millimetres."""
        return float(self.metadata["true_depth"])

    @property
    def roi(self) -> np.ndarray:
        """Arena mask, ``(rows, cols)`` bool."""
        return np.asarray(self.metadata["roi"], dtype=bool)

    @property
    def background(self) -> np.ndarray:
        """Background depth, ``(rows, cols)`` millimetres."""
        return np.asarray(self.metadata["background"])

    @property
    def parameters(self) -> dict[str, Any]:
        """Extraction parameters under their moseq2-extract names."""
        return dict(self.metadata.get("parameters", {}))

    @property
    def dropped_frame_count(self) -> int:
        """Frames missing from the recording, from gaps in the timestamps."""
        return int(self.metadata.get("dropped_frame_count", 0))

    @property
    def dropped_after(self) -> np.ndarray:
        """Indices of frames followed by a timestamp gap."""
        return np.asarray(self.metadata.get("dropped_after", np.zeros(0, dtype=np.int64)))

    def to_nwb(
        self,
        path_or_nwbfile: str | os.PathLike | Any,
        *,
        subject: Any = None,
        session_description: str | None = None,
        session_start_time: datetime | str | None = None,
        identifier: str | None = None,
        experimenter: str | list[str] | None = None,
        lab: str | None = None,
        institution: str | None = None,
        include_raw_video: Literal["external", "embedded"] | None = None,
        extractor: Any = None,
        overwrite: bool = False,
    ) -> Path | Any:
        """Write the results as NWB (core types; see :mod:`depthextractors.io.nwb`).

        Frames and masks are streamed a buffer at a time, never loaded whole. The file is
        written as ``<name>.partial`` and renamed when complete.

        Parameters
        ----------
        path_or_nwbfile : path-like or pynwb.NWBFile
            ``.nwb`` file to write, or an in-memory ``NWBFile`` to add the results to.
        subject : pynwb.file.Subject or dict, optional
            The animal; a dict completes ``subject_id`` (``SubjectName`` of metadata.json) and
            ``sex`` ("U"). Give ``species`` and ``age``: DANDI and NWB Inspector require them.
        session_description : str, optional
            Defaults to a sentence naming ``SessionName`` of metadata.json.
        session_start_time : datetime or ISO 8601 str, optional
            Defaults to the recording's: ``StartTime`` of metadata.json, a RealSense bag's first
            frame, or an Azure ``.mkv``'s creation time.
        identifier : str, optional
            Defaults to the extraction's uuid.
        experimenter, lab, institution : optional
            NWB file fields.
        include_raw_video : {None, "external", "embedded"}
            Also store the raw depth video (millimetres): linked by a path relative to the NWB
            file, or embedded (streamed, compressed). Needs ``extractor``.
        extractor : DepthVideoExtractor, optional
            The recording the results came from (for ``include_raw_video``).
        overwrite : bool, default False
            Replace an existing file.

        Returns
        -------
        pathlib.Path or pynwb.NWBFile
            The file written, or the ``NWBFile`` given.
        """
        return get_nwb_backend().write(
            self,
            path_or_nwbfile,
            subject=subject,
            session_description=session_description,
            session_start_time=session_start_time,
            identifier=identifier,
            experimenter=experimenter,
            lab=lab,
            institution=institution,
            include_raw_video=include_raw_video,
            extractor=extractor,
            overwrite=overwrite,
        )

    @classmethod
    def from_nwb(cls, path: str | os.PathLike) -> ExtractionResults:
        """Read results written by :meth:`to_nwb` (frames and masks stay on disk, lazily).

        Parameters
        ----------
        path : path-like
            The ``.nwb`` file.

        Returns
        -------
        ExtractionResults
        """
        return get_nwb_backend().read(Path(path))


class InMemoryResultsWriter:
    """Keeps the results in numpy arrays (for short clips; the whole session is held)."""

    def __init__(self) -> None:
        self._setup: ExtractionSetup | None = None

    def begin(self, setup: ExtractionSetup) -> None:
        """Allocate zeroed arrays for ``setup.num_frames`` frames.

        Parameters
        ----------
        setup : ExtractionSetup
            Sizes and dtypes of the arrays, and the metadata returned by :meth:`finish`.
        """
        self._setup = setup
        n = setup.num_frames
        rows, cols = setup.crop_size
        self._frames = np.zeros((n, rows, cols), dtype=setup.frame_dtype)
        self._masks = np.zeros((n, rows, cols), dtype=setup.mask_dtype)
        self._scalars: dict[str, np.ndarray] = {}
        self._flips = np.zeros(n, dtype=bool) if setup.has_flips else None
        self._confidence = np.full(n, np.nan, dtype=np.float32) if setup.has_flips else None

    def write(self, chunk: ResultChunk) -> None:
        """Copy one block of frames, masks, scalars and flips into the arrays.

        Parameters
        ----------
        chunk : ResultChunk
            Frames ``chunk.start`` to ``chunk.start + len(chunk)``; must fit in the
            ``num_frames`` given to :meth:`begin`.
        """
        stop = chunk.start + len(chunk)
        self._frames[chunk.start : stop] = chunk.frames
        self._masks[chunk.start : stop] = chunk.masks
        for name, values in chunk.scalars.items():
            if name not in self._scalars:
                self._scalars[name] = np.zeros(self._setup.num_frames, dtype=values.dtype)
            self._scalars[name][chunk.start : stop] = values
        if self._flips is not None and chunk.flips is not None:
            self._flips[chunk.start : stop] = chunk.flips
        if self._confidence is not None and chunk.flip_confidence is not None:
            self._confidence[chunk.start : stop] = chunk.flip_confidence

    def finish(self) -> ExtractionResults:
        """Return the results held in memory.

        Returns
        -------
        ExtractionResults
            numpy arrays (frames not written stay 0), timestamps in seconds, and the
            metadata of the setup; ``path`` is None.
        """
        setup = self._setup
        metadata = {
            "uuid": setup.uuid,
            "true_depth": setup.true_depth,
            "roi": setup.roi,
            "background": setup.background,
            "first_frame": setup.first_frame,
            "parameters": setup.parameters,
            "acquisition": setup.acquisition,
            "first_frame_idx": setup.first_frame_idx,
            "last_frame_idx": setup.last_frame_idx,
            "dropped_frame_count": setup.dropped_frame_count,
            "dropped_after": setup.dropped_after,
            "version": setup.version,
            "software": SOFTWARE,
        }
        if setup.roi_plane is not None:
            metadata["roi_plane"] = setup.roi_plane
        return ExtractionResults(
            self._frames,
            self._masks,
            self._scalars,
            setup.timestamps_s,
            metadata,
            flips=self._flips,
            flip_confidence=self._confidence,
        )

    def abort(self, error: BaseException) -> None:
        """Drop the arrays held so far.

        Parameters
        ----------
        error : BaseException
            What made the extraction fail (not used).
        """
        self._frames = self._masks = None
        self._scalars = {}


class OutputBackend(Protocol):
    """Writes extraction outputs to a directory (registered by :mod:`depthextractors.io`)."""

    def check_writable(self, output_dir: Path) -> None:
        """Raise before any work if results cannot be written in ``output_dir``.

        Parameters
        ----------
        output_dir : pathlib.Path
            Directory the results will be written to.

        Raises
        ------
        OSError
            If the directory cannot be created or written to.
        """

    def results_writer(self, output_dir: Path) -> ResultsWriter:
        """A writer of ``results_00.h5`` / ``results_00.yaml`` in ``output_dir``.

        Parameters
        ----------
        output_dir : pathlib.Path
            Directory the results are written to.

        Returns
        -------
        ResultsWriter
            A writer not yet begun.
        """

    def write_arena_images(
        self,
        output_dir: Path,
        background: np.ndarray,
        roi: np.ndarray,
        first_frame: np.ndarray,
    ) -> None:
        """Write ``bground.tiff``, ``roi.tiff`` and ``first_frame.tiff``.

        Parameters
        ----------
        output_dir : pathlib.Path
            Directory to write the images to.
        background : numpy.ndarray
            ``(rows, cols)`` background depth, mm.
        roi : numpy.ndarray
            ``(rows, cols)`` bool arena mask.
        first_frame : numpy.ndarray
            ``(rows, cols)`` raw depth of the first frame, mm.
        """

    def read_results(self, path: Path) -> ExtractionResults:
        """Open results written to ``path`` (``results_00.h5`` or its directory).

        Parameters
        ----------
        path : pathlib.Path
            ``results_00.h5`` or the directory holding it.

        Returns
        -------
        ExtractionResults
            Results whose arrays are read lazily from the file.
        """


_backend_lock = threading.Lock()
_backend: OutputBackend | None = None


def set_output_backend(backend: OutputBackend | None) -> OutputBackend | None:
    """Register the backend used for output directories; returns the previous one.

    Parameters
    ----------
    backend : OutputBackend or None
        The backend to use; ``None`` unregisters it (output directories then raise).

    Returns
    -------
    OutputBackend or None
        The backend registered before, so that it can be restored.
    """
    global _backend
    with _backend_lock:
        previous, _backend = _backend, backend
    return previous


def get_output_backend() -> OutputBackend:
    """The registered output backend.

    Raises
    ------
    RuntimeError
        If none is registered (``depthextractors.io`` was never imported).
    """
    if _backend is None:
        raise RuntimeError(
            "no results writer is registered for output directories; `import depthextractors` "
            "(or `import depthextractors.io`) registers the HDF5 writer, or pass "
            "output_dir=None to keep the results in memory"
        )
    return _backend


class NWBBackend(Protocol):
    """Writes and reads NWB files (registered by :mod:`depthextractors.io.nwb`)."""

    def write(self, results: ExtractionResults, path_or_nwbfile: Any, **options: Any) -> Any:
        """Write ``results`` to an NWB path or add them to an ``NWBFile``.

        Parameters
        ----------
        results : ExtractionResults
            The results to write.
        path_or_nwbfile : path-like or pynwb.NWBFile
            ``.nwb`` file to write, or an in-memory ``NWBFile`` to add the results to.
        **options
            The keyword arguments of :meth:`ExtractionResults.to_nwb`.

        Returns
        -------
        pathlib.Path or pynwb.NWBFile
            The file written, or the ``NWBFile`` given.
        """

    def read(self, path: Path) -> ExtractionResults:
        """Read results from an NWB file.

        Parameters
        ----------
        path : pathlib.Path
            The ``.nwb`` file.

        Returns
        -------
        ExtractionResults
            Results whose frames and masks stay on disk, read lazily.
        """


_nwb_backend: NWBBackend | None = None


def set_nwb_backend(backend: NWBBackend | None) -> NWBBackend | None:
    """Register the NWB backend used by ``to_nwb`` / ``from_nwb``; returns the previous one.

    Parameters
    ----------
    backend : NWBBackend or None
        The backend to use; ``None`` unregisters it.

    Returns
    -------
    NWBBackend or None
        The backend registered before, so that it can be restored.
    """
    global _nwb_backend
    with _backend_lock:
        previous, _nwb_backend = _nwb_backend, backend
    return previous


def get_nwb_backend() -> NWBBackend:
    """The registered NWB backend.

    Raises
    ------
    RuntimeError
        If none is registered (``depthextractors.io.nwb`` was never imported).
    """
    if _nwb_backend is None:
        raise RuntimeError(
            "no NWB writer is registered; `import depthextractors.io.nwb` registers it (install "
            "pynwb with `pip install depthextractors[nwb]`)"
        )
    return _nwb_backend
