"""Writing ``results_00.h5`` and ``results_00.yaml`` (layout: :mod:`.results_h5`).

:class:`H5ResultsWriter` is the results writer an extraction is run with. What it guarantees:

- **One writer per directory.** It writes only while it holds the directory's
  :class:`~depthextractors.io.output_dir.OutputLock` (its own, or the one the workflow took
  before touching anything); a second extraction into the directory stops at once with one
  line naming the first.
- **Nothing complete-looking before the end.** ``results_00.yaml`` says ``complete: false``
  (``status: running``) from the start; the HDF5 file is written under a name unique to the
  run (``results_00.h5.<uuid>.partial``), read back and checked to hold this run's uuid, then
  renamed; only then is the YAML replaced atomically by ``complete: true`` — and only if it
  still names this run. A failure deletes the partial file and writes ``status: failed`` with
  the error.
- **File-system errors in one line.** A full disk or any other failed write ends in
  :class:`~depthextractors.io.output_dir.OutputWriteError` naming the file, the error and, for
  space, how much the results need and how much is free — never a crash of the interpreter: a
  file HDF5 could not flush is closed onto ``os.devnull`` before it is deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..extraction.results import SOFTWARE, ExtractionSetup, ResultChunk, ResultsWriter
from ..extraction.strategy import plain
from .hdf5 import write_value
from .output_dir import (
    OutputBusyError,
    OutputLock,
    check_writable,
    format_bytes,
    output_error,
    partial_path,
    write_yaml_atomic,
)
from .results import ExtractionResults
from .results_h5 import (
    FRAME_COMPRESSION,
    FRAMES_PER_H5_CHUNK,
    PARAMETER_DESCRIPTIONS,
    RESULTS_NAME,
    read_results,
    status_uuid,
)
from .tiff import write_arena_images

__all__ = ["H5ResultsWriter"]

logger = logging.getLogger(__name__)

_DESCRIPTIONS = {
    "frames": "3D Numpy array of depth frames (nframes x w x h, in mm)",
    "frames_mask": "Boolean mask, false=not mouse, true=mouse",
    "frames_mask_log_likelihood": (
        "Log-likelihood values from the tracking model (nframes x w x h)"
    ),
    "timestamps": "Depth video timestamps (ms)",
    "metadata/extraction/flips": "Output from flip corrector, false=no flip, true=flip",
    "metadata/extraction/flip_confidence": (
        "Flip corrector's probability that the orientation chosen is right (0.5 = chance, "
        "1 = certain; NaN where the animal was not found or the corrector gives none)"
    ),
    "metadata/extraction/tracked_again": (
        "Frames whose tracked object lay far from where the frames round them put the animal, "
        "tracked again near there (retrack_jumps): false=as first tracked, true=tracked again"
    ),
    "metadata/extraction/true_depth": "Detected true depth of arena floor in mm",
    "metadata/extraction/roi": "ROI mask",
    "metadata/extraction/first_frame": "First frame of depth dataset",
    "metadata/extraction/first_frame_idx": "First frame index of this dataset",
    "metadata/extraction/last_frame_idx": "Last frame index of this dataset",
    "metadata/extraction/background": "Computed background image",
    "metadata/extraction/extract_version": "Version of depthextractors",
    "metadata/extraction/dropped_frame_count": (
        "Number of frames missing from the recording, from gaps in the timestamps"
    ),
    "metadata/extraction/dropped_after": (
        "Indices (into the extracted frames) of frames followed by a timestamp gap"
    ),
    "metadata/extraction/roi_plane": (
        "Floor plane (a, b, c, d) with a*x + b*y + c*depth + d = 0, x and y in pixels, depth in mm"
    ),
    "metadata/extraction/strategies": (
        "Each strategy's class and parameters by role, and the session's own parameters (JSON)"
    ),
    "metadata/extraction/job": "How the extraction ran: threads and chunk size (JSON)",
    "metadata/extraction/roi_notes": "What the arena step did beyond moseq2-extract's steps",
    "metadata/extraction/roi_problems": "Why the arena looks implausible (empty: it does not)",
    "metadata/extraction/animal_size": (
        "The animal measured on sampled frames before the extraction: width and length (px), "
        "back and tallest height (mm), share of frames showing a tether (JSON; absent: none)"
    ),
    "metadata/extraction/timestamps_source": (
        "Where the frame times come from ('made up from the frame rate': the recording had none)"
    ),
}


class H5ResultsWriter(ResultsWriter):
    """Writes ``results_00.h5``, ``results_00.yaml`` and the arena's TIFFs in a directory,
    crash-safely, as the directory's only writer.

    The directory is created and checked writable when the writer is made, before any work.

    Parameters
    ----------
    output_dir : path-like
        Directory (created if missing).
    frame_compression : dict, optional
        h5py filter keywords for ``/frames`` and ``/frames_mask``; :data:`FRAME_COMPRESSION`
        by default.
    frames_per_chunk : int, default 16
        Frames per HDF5 chunk of ``/frames`` and ``/frames_mask``.
    lock : OutputLock, optional
        The directory's lock, already held by the caller (who releases it). Without one, the
        writer takes the lock in :meth:`begin` and gives it up when done.

    Raises
    ------
    OutputBusyError
        From :meth:`begin`, if another extraction holds the directory.
    OutputWriteError
        From any method, if a file cannot be written (one line: the file, the error, and the
        space needed and free when the disk is full).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        frame_compression: dict[str, Any] | None = None,
        frames_per_chunk: int = FRAMES_PER_H5_CHUNK,
        lock: OutputLock | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.frame_compression = dict(
            FRAME_COMPRESSION if frame_compression is None else frame_compression
        )
        self.frames_per_chunk = int(frames_per_chunk)
        check_writable(self.output_dir)
        self.h5_path = self.output_dir / f"{RESULTS_NAME}.h5"
        self.yaml_path = self.output_dir / f"{RESULTS_NAME}.yaml"
        self.partial_path: Path | None = None
        self._lock = lock
        self._own_lock = lock is None
        self._file: h5py.File | None = None
        self._raw: _FailSafeFile | None = None
        self._datasets: dict[str, h5py.Dataset] = {}
        self._setup: ExtractionSetup | None = None

    def _status(self, status: str, error: str | None = None) -> dict[str, Any]:
        setup = self._setup
        content: dict[str, Any] = {
            "status": status,
            "complete": status == "complete",
            "skip": False,
            "uuid": setup.uuid,
            "version": setup.version,
            "parameters": self._parameters(),
            "strategies": setup.strategies,
            "job": setup.job,
            "metadata": setup.acquisition,
            "frames": {
                "first_frame_idx": setup.first_frame_idx,
                "last_frame_idx": setup.last_frame_idx,
                "extracted": setup.num_frames,
            },
            "dropped_frames": {
                "count": setup.dropped_frame_count,
                "after": setup.dropped_after,
            },
            "roi_notes": list(setup.roi_notes),
            "roi_problems": list(setup.roi_problems),
            "timestamps_source": setup.timestamps_source,
            "animal_size": setup.animal_size,
        }
        if error is not None:
            content["error"] = error
        return content

    def _parameters(self) -> dict[str, Any]:
        return {**self._setup.parameters, "output_dir": str(self.output_dir)}

    def _needed(self) -> str:
        """The space the results need, in words (for a full disk's message)."""
        setup = self._setup
        rows, cols = setup.crop_size
        per_frame = rows * cols * (np.dtype(setup.frame_dtype).itemsize + 4) + 4 * 32
        image = int(np.asarray(setup.background).size) * 16
        return (
            f"up to {format_bytes(setup.num_frames * per_frame + image)} "
            f"({setup.num_frames:,} frames of {rows} x {cols} pixels before compression)"
        )

    def begin(self, setup: ExtractionSetup) -> None:
        """Take the directory, write the arena's TIFFs and create the partial HDF5 file.

        ``results_00.yaml`` is written with status ``running`` and an older
        ``results_00.h5`` (and partial files of runs that died) is removed first, so a crash
        never leaves a stale complete result.

        Parameters
        ----------
        setup : ExtractionSetup
            Sizes, background, ROI and parameters; timestamps are stored in milliseconds.

        Raises
        ------
        OutputBusyError
            If another extraction holds the directory.
        OutputWriteError
            If the directory or the files cannot be written.
        """
        self._setup = setup
        if self._own_lock:
            self._lock = OutputLock(self.output_dir).acquire()
        elif self._lock is None or not self._lock.held:
            raise RuntimeError("H5ResultsWriter was given a lock that is not held")
        self.partial_path = partial_path(self.h5_path, setup.uuid[:8])
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            write_yaml_atomic(self.yaml_path, self._status("running"))
            write_arena_images(self.output_dir, setup.background, setup.roi, setup.first_frame)
            # An older result is being replaced: it must not outlive this run's incomplete
            # status. Partial files are of runs that died (this one holds the lock).
            for stale in (self.h5_path, *self.output_dir.glob(f"{RESULTS_NAME}.h5*.partial")):
                stale.unlink(missing_ok=True)
            self._raw = _FailSafeFile(self.partial_path)
            self._file = h5py.File(self._raw, "w")
            self._create_per_frame_datasets(self._file, setup)
            self._write_session_metadata(self._file, setup)
            self._write_extraction_metadata(self._file.create_group("metadata/extraction"), setup)
            # Held open until the file is closed, so that they are written then, at one place.
            names = ("frames", "frames_mask", "metadata/extraction/flips",
                     "metadata/extraction/flip_confidence",
                     "metadata/extraction/tracked_again")  # fmt: skip
            self._datasets = {
                name.rpartition("/")[2]: self._file[name] for name in names if name in self._file
            }
            for name in self._file["scalars"]:
                self._datasets[f"scalars/{name}"] = self._file["scalars"][name]
            self._raw.check()
        except BaseException as error:
            failure = self._raw.error if self._raw is not None and self._raw.error else error
            self._give_up(failure)
            raise self._converted(failure, self.h5_path) from None

    def _create_per_frame_datasets(self, handle: h5py.File, setup: ExtractionSetup) -> None:
        """``/frames``, ``/frames_mask`` and ``/scalars/*`` sized for the session (filled by
        :meth:`write`), and ``/timestamps`` (milliseconds)."""
        n = setup.num_frames
        rows, cols = setup.crop_size
        chunk = (max(1, min(self.frames_per_chunk, n)), rows, cols)
        frames = handle.create_dataset(
            "frames", (n, rows, cols), setup.frame_dtype, chunks=chunk if n else None,
            **(self.frame_compression if n else {}),
        )  # fmt: skip
        frames.attrs["description"] = _DESCRIPTIONS["frames"]
        log_likelihood = np.dtype(setup.mask_dtype) != np.dtype(bool)
        masks = handle.create_dataset(
            "frames_mask", (n, rows, cols), np.float32 if log_likelihood else bool,
            chunks=chunk if n else None, **(self.frame_compression if n else {}),
        )  # fmt: skip
        masks.attrs["description"] = _DESCRIPTIONS[
            "frames_mask_log_likelihood" if log_likelihood else "frames_mask"
        ]
        timestamps = handle.create_dataset(
            "timestamps", data=np.asarray(setup.timestamps_s, dtype=np.float64) * 1000.0
        )
        timestamps.attrs["description"] = _DESCRIPTIONS["timestamps"]
        scalars = handle.create_group("scalars")
        for name in setup.scalar_names:
            dtype = bool if name == "valid" else np.float32
            dataset = scalars.create_dataset(name, (n,), dtype)
            dataset.attrs["description"] = setup.scalar_descriptions.get(name, "")

    @staticmethod
    def _write_session_metadata(handle: h5py.File, setup: ExtractionSetup) -> None:
        """``/metadata/uuid`` and the recording's metadata, ``/metadata/acquisition``."""
        handle.create_dataset("metadata/uuid", data=setup.uuid, dtype=h5py.string_dtype())
        acquisition = handle.create_group("metadata/acquisition")
        for key, value in setup.acquisition.items():
            if value is None:
                acquisition.create_dataset(key, dtype="f")
            else:
                write_value(acquisition, key, value, None)

    def _write_extraction_metadata(self, extraction: h5py.Group, setup: ExtractionSetup) -> None:
        """The arena, the frame range, the dropped frames, the flips (filled by :meth:`write`)
        and the recorded parameters, strategies and job under ``/metadata/extraction``."""

        def put(name: str, data: Any, **kwargs: Any) -> None:
            dataset = extraction.create_dataset(name, data=data, **kwargs)
            dataset.attrs["description"] = _DESCRIPTIONS[f"metadata/extraction/{name}"]

        put("true_depth", np.float64(setup.true_depth))
        put("roi", np.asarray(setup.roi, dtype=bool), compression="gzip", compression_opts=1)
        first = np.asarray(setup.first_frame)
        if first.size and int(first.max()) <= np.iinfo(np.int16).max:
            first = first.astype(np.int16)
        put("first_frame", first, compression="gzip", compression_opts=1)
        put("first_frame_idx", np.array([setup.first_frame_idx], dtype=np.int64))
        put("last_frame_idx", np.array([setup.last_frame_idx], dtype=np.int64))
        put(
            "background",
            np.asarray(setup.background, dtype=np.float64),
            compression="gzip",
            compression_opts=1,
        )
        put("extract_version", np.bytes_(setup.version))
        # moseq2-extract writes the same dataset with its own version: say whose it is.
        extraction["extract_version"].attrs["software"] = SOFTWARE
        put("dropped_frame_count", np.int64(setup.dropped_frame_count))
        put("dropped_after", np.asarray(setup.dropped_after, dtype=np.int64))
        if setup.roi_plane is not None:
            put("roi_plane", np.asarray(setup.roi_plane, dtype=np.float64))
        put("timestamps_source", setup.timestamps_source, dtype=h5py.string_dtype())
        if setup.animal_size is not None:
            put("animal_size", json.dumps(setup.animal_size), dtype=h5py.string_dtype())
        for name in ("roi_notes", "roi_problems"):
            texts = [text.encode("utf-8") for text in getattr(setup, name)]
            put(name, np.array(texts, dtype=object), dtype=h5py.string_dtype(), shape=(len(texts),))
        if setup.has_flips:
            put("flips", np.zeros(setup.num_frames, dtype=bool))
            put("flip_confidence", np.full(setup.num_frames, np.nan, dtype=np.float32))
        if setup.tracks_again:
            put("tracked_again", np.zeros(setup.num_frames, dtype=bool))
        parameters = extraction.create_group("parameters")
        for key, value in self._parameters().items():
            write_value(parameters, key, value, PARAMETER_DESCRIPTIONS.get(key, ""))
        for name, record in (("strategies", setup.strategies), ("job", setup.job)):
            dataset = extraction.create_dataset(
                name, data=json.dumps(plain(record)), dtype=h5py.string_dtype()
            )
            dataset.attrs["encoding"] = "json"
            dataset.attrs["description"] = _DESCRIPTIONS[f"metadata/extraction/{name}"]

    def write(self, chunk: ResultChunk) -> None:
        """Write one block of frames, masks, scalars and flips into the partial file.

        Parameters
        ----------
        chunk : ResultChunk
            Frames ``chunk.start`` to ``chunk.start + len(chunk)``; scalars the setup did not
            name are ignored.

        Raises
        ------
        OutputWriteError
            If the file cannot be written (the caller then calls :meth:`abort`).
        """
        stop = chunk.start + len(chunk)
        values = {
            "frames": chunk.frames, "frames_mask": chunk.masks, "flips": chunk.flips,
            "flip_confidence": chunk.flip_confidence, "tracked_again": chunk.tracked_again,
            **{f"scalars/{name}": v for name, v in chunk.scalars.items()},
        }  # fmt: skip
        try:
            for name, value in values.items():
                dataset = self._datasets.get(name)
                if dataset is not None and value is not None:
                    dataset[chunk.start : stop] = value
            self._raw.check()
        except (OSError, RuntimeError) as error:
            raise self._converted(self._raw.error or error, self.h5_path) from None

    def finish(self) -> ExtractionResults:
        """Close the file, check it, rename it to ``results_00.h5`` and mark the YAML complete.

        Returns
        -------
        ExtractionResults
            The results, read back lazily (:func:`read_results`).

        Raises
        ------
        OutputWriteError
            If the file cannot be completed (a full disk); nothing complete is left.
        OutputBusyError
            If ``results_00.yaml`` was replaced by another run meanwhile (this run's results
            are then discarded and the other run's status left alone).
        """
        uuid = self._setup.uuid
        renamed = False
        try:
            self._close()
            stored = _stored_uuid(self.partial_path)
            if stored != uuid:
                raise RuntimeError(
                    f"{self.partial_path} holds uuid {stored}, not this run's {uuid}"
                )
            named = status_uuid(self.yaml_path)
            if named != uuid:
                raise OutputBusyError(
                    f"{self.yaml_path} was replaced by another extraction (uuid {named}) while "
                    f"this one (uuid {uuid}) ran; this run's results were discarded"
                )
            os.replace(self.partial_path, self.h5_path)
            renamed = True
            write_yaml_atomic(self.yaml_path, self._status("complete"))
        except BaseException as error:
            if renamed:
                self.h5_path.unlink(missing_ok=True)
            self._give_up(error, mark_failed=status_uuid(self.yaml_path) == uuid)
            target = self.yaml_path if renamed else self.h5_path
            raise self._converted(error, target) from None
        self._release()
        return read_results(self.h5_path)

    def abort(self, error: BaseException) -> None:
        """Delete the partial file, mark the YAML ``failed`` and give the directory up.

        Parameters
        ----------
        error : BaseException
            Recorded (type and message) as ``error`` in ``results_00.yaml``.
        """
        self._give_up(error)

    # ------------------------------------------------------------------ failures
    def _close(self) -> None:
        """Close the HDF5 file, then raise the first write that failed, if any.

        HDF5 never sees a failed write (:class:`_FailSafeFile` keeps it), so closing a file
        that could not be written never leaves the library in a broken state.
        """
        handle, self._file, self._datasets = self._file, None, {}
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            if handle is not None:
                handle.close()
        finally:
            raw.close()
        raw.check()

    def _give_up(self, error: BaseException, mark_failed: bool = True) -> None:
        """Close and delete the partial file, mark the status failed, give the lock up."""
        with contextlib.suppress(BaseException):
            self._close()
        if self.partial_path is not None:
            with contextlib.suppress(OSError):
                self.partial_path.unlink(missing_ok=True)
        if self._setup is not None and mark_failed:
            message = f"{type(error).__name__}: {error}"
            try:
                write_yaml_atomic(self.yaml_path, self._status("failed", message))
            except OSError as failure:
                logger.warning(
                    "%s could not be marked failed (%s); it says 'running', which is never "
                    "taken for complete results", self.yaml_path, failure.strerror or failure,
                )  # fmt: skip
        self._release()

    def _release(self) -> None:
        if self._own_lock and self._lock is not None:
            self._lock.release()
            self._lock = None

    def _converted(self, error: BaseException, path: Path) -> BaseException:
        """An ``OSError`` (or HDF5's RuntimeError of a failed write) as one line."""
        if isinstance(error, OSError) or (
            isinstance(error, RuntimeError) and "write failed" in str(error)
        ):
            return output_error(error, path, self._needed() if self._setup else None)
        return error


class _FailSafeFile:
    """The partial HDF5 file as HDF5 writes it: the first failed write is kept, not returned.

    HDF5 writes its cached data when objects and files are closed, including from the
    garbage collector; a write failing there (a full disk) leaves the library in a state that
    crashes the interpreter. Through this file object (h5py's ``fileobj`` driver, as fast as
    its default here) a failed write is remembered in :attr:`error` and later writes are
    dropped; the writer raises the error itself (:meth:`check`) and deletes the file.

    Parameters
    ----------
    path : pathlib.Path
        The file to create.
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by the writer
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if self.error is None:
            try:
                view = memoryview(data).cast("B")
                while view:
                    view = view[self._file.write(view) :]
            except OSError as error:
                self.error = error
        return size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = self._file.readinto(view) or 0
        if self.error is not None and count < len(view):
            view[count:] = bytes(len(view) - count)  # what was dropped reads back as zeros
            count = len(view)
        return count

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self._file.truncate(size)
            except OSError as error:
                self.error = error
        return self._file.tell() if size is None else size

    def flush(self) -> None:
        """Nothing to flush: writes go straight to the file."""

    def close(self) -> None:
        self._file.close()

    def check(self) -> None:
        """Raise the first write that failed."""
        if self.error is not None:
            raise self.error


def _stored_uuid(path: Path) -> str:
    """The uuid a results file holds (reading it back also shows that it is readable)."""
    with h5py.File(path, "r") as handle:
        value = handle["metadata/uuid"][()]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
