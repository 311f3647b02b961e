"""The results of an extraction as users hold them: :class:`ExtractionResults`.

Arrays are numpy arrays (results kept in memory by :class:`InMemoryResultsWriter`) or lazy
array-likes backed by ``results_00.h5`` that read only what is sliced
(:func:`~depthextractors.io.results_h5.read_results`). The same object writes and reads NWB.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..extraction.results import SOFTWARE, ExtractionSetup, ResultChunk, ResultsWriter

__all__ = ["ExtractionResults", "InMemoryResultsWriter"]

_IN_MEMORY_WARNING_BYTES = 256e6


class ExtractionResults:
    """The results of an extraction: crops, masks, scalars and metadata.

    Arrays are numpy arrays (in-memory results) or lazy array-likes backed by
    ``results_00.h5`` that read only what is sliced (``results.frames[0:100]``).

    Parameters
    ----------
    frames : array-like or None
        ``(frames, crop_rows, crop_cols)`` cropped, rotated heights, mm, nose east. None for
        results that have scalars only (an NWB file without frames, such as the Datta-lab
        files on DANDI): the frame count is then the timestamps'.
    frames_mask : array-like or None
        Same shape, bool: the animal's pixels (None when ``frames`` is).
    scalars : mapping of str to array-like
        Per-frame scalars (see :mod:`depthextractors.extraction.scalars`).
    timestamps : numpy.ndarray
        Frame times, **seconds** (``results_00.h5`` stores milliseconds, as moseq2-extract).
    metadata : dict
        ``uuid``, ``true_depth``, ``roi``, ``background``, ``first_frame``, ``parameters``,
        ``acquisition``, ``first_frame_idx``, ``last_frame_idx``, ``dropped_frame_count``,
        ``dropped_after``, ``version``, ``roi_plane`` (when the arena strategy fitted a floor
        plane), ``roi_notes`` and ``roi_problems`` (lists of sentences: what the arena step did
        beyond moseq2-extract's steps, and why the arena looks implausible; absent from files
        of earlier versions and of moseq2-extract), ``timestamps_source`` (where the frame
        times come from; ``"made up from the frame rate"`` when the recording had none),
        ``animal_size`` (the animal measured before the extraction, a dict; absent when too
        few frames showed one).
    flips : array-like or None
        bool per frame when a flip corrector ran.
    path : pathlib.Path or None
        ``results_00.h5`` when the results are on disk.
    flip_confidence : array-like or None
        float32 per frame when a flip corrector ran: its probability that the orientation
        chosen is right (0.5 = a coin toss, 1 = certain; NaN where the animal was not found or
        the corrector gives no confidence).
    tracked_again : array-like or None
        bool per frame when frames far from where the frames round them put the animal were
        tracked again (``retrack_jumps``): true where the frame's object was replaced. None
        when the run did not track frames again (``retrack_jumps: false``, ``EMTracker``, a
        temporal median, the animal's length not measured) and in files of earlier versions
        and of moseq2-extract.
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
        tracked_again: Any = None,
    ) -> None:
        self.frames = frames
        self.frames_mask = frames_mask
        self.scalars = scalars
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        self.metadata = metadata
        self.flips = flips
        self.flip_confidence = flip_confidence
        self.tracked_again = tracked_again
        self.path = path

    def __len__(self) -> int:
        if self.frames is None:
            return int(self.timestamps.size)
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
        # The Datta-lab NWB files have the centroid in millimetres only.
        name = "centroid_x_px" if "centroid_x_px" in self.scalars else "centroid_x_mm"
        return np.isfinite(np.asarray(self.scalars[name][:], dtype=float))

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
        metadata: Mapping[str, Mapping[str, Any]] | str | os.PathLike | None = None,
        subject: Any = None,
        session_start_time: datetime | str | None = None,
        include_raw_video: Literal["external", "embedded"] | None = None,
        extractor: Any = None,
        allow_incomplete: bool = False,
        overwrite: bool = False,
        **nwbfile_fields: Any,
    ) -> Path | Any:
        """Write the results as DANDI-ready NWB (core types; needs pynwb).

        The arguments are :func:`~depthextractors.io.nwb.write_nwb`'s: ``metadata`` (a
        NeuroConv-style ``{"NWBFile": {...}, "Subject": {...}}`` dict or YAML file), ``subject``
        (a dict or ``pynwb.file.Subject``), ``session_start_time``, ``include_raw_video``
        (``"external"``: a linked FFV1 ``.avi``; ``"embedded"``) with ``extractor``,
        ``allow_incomplete``, ``overwrite`` and any NWBFile field (``experimenter``, ``lab``,
        ``keywords``, ``experiment_description``...). Timestamps are seconds from the session
        start; frames are streamed; the file is written as ``<name>.partial`` and renamed when
        complete.

        Returns
        -------
        pathlib.Path or pynwb.NWBFile
            The file written, or the ``NWBFile`` given.

        Raises
        ------
        depthextractors.io.nwb.IncompleteMetadataError
            If the subject lacks a field DANDI requires (species, age or date of birth...) and
            ``allow_incomplete`` is false.
        """
        from .nwb import write_nwb

        return write_nwb(
            self,
            path_or_nwbfile,
            metadata=metadata,
            subject=subject,
            session_start_time=session_start_time,
            include_raw_video=include_raw_video,
            extractor=extractor,
            allow_incomplete=allow_incomplete,
            overwrite=overwrite,
            **nwbfile_fields,
        )

    @classmethod
    def from_nwb(cls, path: str | os.PathLike) -> ExtractionResults:
        """Read results written by :meth:`to_nwb` (frames and masks stay on disk, lazily), or a
        Datta-lab NWB file of scalars only (``frames`` is None then).

        Parameters
        ----------
        path : path-like
            The ``.nwb`` file.

        Returns
        -------
        ExtractionResults
        """
        from .nwb import read_nwb

        return read_nwb(Path(path))


class InMemoryResultsWriter(ResultsWriter):
    """Keeps the results in numpy arrays (for short clips; the whole session is held).

    A session whose crops would take more than 256 MB is warned about in :meth:`begin`.
    """

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
        held = n * rows * cols * (np.dtype(setup.frame_dtype).itemsize + 1)
        if held > _IN_MEMORY_WARNING_BYTES:
            warnings.warn(
                f"keeping the results of {n} frames in memory takes {held / 1e6:.0f} MB; write "
                "them to results_00.h5 with H5ResultsWriter(output_dir) instead",
                stacklevel=3,
            )
        self._frames = np.zeros((n, rows, cols), dtype=setup.frame_dtype)
        self._masks = np.zeros((n, rows, cols), dtype=setup.mask_dtype)
        self._scalars: dict[str, np.ndarray] = {}
        self._flips = np.zeros(n, dtype=bool) if setup.has_flips else None
        self._confidence = np.full(n, np.nan, dtype=np.float32) if setup.has_flips else None
        self._tracked_again = np.zeros(n, dtype=bool) if setup.tracks_again else None

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
        if self._tracked_again is not None and chunk.tracked_again is not None:
            self._tracked_again[chunk.start : stop] = chunk.tracked_again

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
            "strategies": setup.strategies,
            "job": setup.job,
            "roi_notes": list(setup.roi_notes),
            "roi_problems": list(setup.roi_problems),
            "timestamps_source": setup.timestamps_source,
        }
        if setup.animal_size is not None:
            metadata["animal_size"] = dict(setup.animal_size)
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
            tracked_again=self._tracked_again,
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
