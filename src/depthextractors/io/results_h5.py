"""moseq2-extract's ``results_00.h5`` / ``results_00.yaml``: the writer and the reader.

Layout written (what moseq2-pca and other downstream tools read)::

    /frames                        (N, rows, cols) uint8   cropped, rotated heights, mm
    /frames_mask                   (N, rows, cols) bool    the tracked animal's pixels (moseq2
                                                           marked every pixel above min_height);
                                   float32 with the EM tracker: log-likelihoods under its model,
                                   clipped below at tracking_model_ll_clip (as moseq2)
    /timestamps                    (N,) float64            frame times, milliseconds
    /scalars/<name>                (N,) float32            the 17 moseq2 scalars, plus
                                                           velocity_2d_mm_per_s,
                                                           velocity_3d_mm_per_s (float32) and
                                                           valid (bool)
    /metadata/uuid                 str
    /metadata/acquisition/<key>    metadata.json (nested dicts as groups; lists of records
                                   as JSON text with attribute encoding=json)
    /metadata/extraction/background (rows, cols) float64, roi (rows, cols) bool,
                        first_frame (rows, cols) int16, true_depth () float64,
                        extract_version bytes, first_frame_idx (1,), last_frame_idx (1,),
                        flips (N,) bool and flip_confidence (N,) float32 (when a flip
                        corrector ran: probability that the orientation is right, NaN
                        where the animal was not found or the corrector gives none),
                        dropped_frame_count (), dropped_after (k,) int64,
                        roi_notes (k,) str, roi_problems (k,) str (arena step),
                        parameters/<name> (every parameter under its moseq2 name)

Every dataset moseq2-extract describes carries a ``description`` attribute. The arena's TIFF
images beside the file are written by :mod:`depthextractors.io.tiff`; plain values are stored
and read back by :mod:`depthextractors.io.hdf5`.

Crash safety: the HDF5 file is written as ``results_00.h5.partial`` and renamed when complete;
``results_00.yaml`` says ``complete: false`` (``status: running``) from the start and is
replaced atomically (temporary file + rename) by ``complete: true`` only after the rename, so a
crash never leaves a complete-looking result. A failure writes ``status: failed`` and the error.

Compression: gzip level 1 on ``/frames`` and ``/frames_mask``, in HDF5 chunks of 16 frames —
chosen by measurement among the filters plain h5py reads without plugins (see
:data:`FRAME_COMPRESSION` and :data:`FRAMES_PER_H5_CHUNK`).

Recorded parameters: ``/metadata/extraction/parameters/<key>`` holds every key of the moseq2
parameter table (:mod:`depthextractors.extraction.parameters`) with its help text as the
``description``; ``/metadata/extraction/strategies`` (JSON) each strategy's class and
parameters; ``/metadata/extraction/job`` (JSON) how the run was executed. ``results_00.yaml``
holds the same (``parameters``, ``strategies``, ``job``), so it can be given back as
``--config-file``, and the arena step's ``roi_notes`` and ``roi_problems``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..extraction.parameters import PARAMETERS
from ..extraction.results import SOFTWARE, ExtractionSetup, ResultChunk, ResultsWriter
from ..extraction.strategy import plain
from .hdf5 import LazyH5Array, decode, group_to_dict, write_value
from .results import ExtractionResults
from .tiff import write_arena_images

__all__ = [
    "FRAME_COMPRESSION",
    "H5ResultsWriter",
    "read_acquisition_metadata",
    "read_recorded_parameters",
    "read_results",
]

#: HDF5 filter settings of the frame datasets (h5py keyword arguments). Measured with
#: ``benchmarks/bench_extract.py --compression`` on 9,000 synthetic crops and on moseq2's real
#: crops: gzip 1 writes about twice as fast as moseq2's gzip 4 and reads faster, for files
#: 13-15% larger (about 600 bytes per 80x80 frame against 12.8 kB raw); lzf writes slightly
#: faster still but makes files 45% larger and reads slower; shuffle changes nothing on 1-byte
#: data.
FRAME_COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 1}
#: Frames per HDF5 chunk of ``/frames`` and ``/frames_mask``. Measured (gzip 1, real crops):
#: 16, 64 and 256 frames write and read whole datasets equally fast and equally small; reading
#: one frame at random takes 0.3, 1.3 and 2.6 ms, so the smallest wins.
FRAMES_PER_H5_CHUNK = 16

RESULTS_NAME = "results_00"

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
}

# Descriptions of the recorded parameters: the parameter table's help, plus what a run adds.
PARAMETER_DESCRIPTIONS: dict[str, str] = {
    **{spec.key: spec.help for spec in PARAMETERS},
    "output_dir": "Output directory to save the results h5 file",
}


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
class _LazyScalars(Mapping):
    def __init__(self, path: Path, names: list[str]) -> None:
        self._path = path
        self._names = names
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(f"no scalar {name!r}; available: {', '.join(self._names)}")
        if name not in self._cache:
            with h5py.File(self._path, "r") as handle:
                self._cache[name] = handle["scalars"][name][()]
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def read_acquisition_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The recording's metadata (``metadata.json`` keys) stored in a results file.

    Parameters
    ----------
    path : path-like
        A ``results_00.h5`` file.

    Returns
    -------
    dict
        ``/metadata/acquisition`` as plain Python values, nested groups as dicts and JSON-encoded
        lists decoded (``{}`` when absent).
    """
    with h5py.File(path, "r") as handle:
        group = handle.get("metadata/acquisition")
        return {} if group is None else group_to_dict(group)


def read_recorded_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The parameters an extraction recorded (``/metadata/extraction/parameters``).

    Parameters
    ----------
    path : path-like
        A ``results_00.h5`` file (this project's or moseq2-extract's).

    Returns
    -------
    dict
        Key to plain Python value.
    """
    with h5py.File(path, "r") as handle:
        group = handle.get("metadata/extraction/parameters")
        return {} if group is None else group_to_dict(group)


def _software(extraction: h5py.Group) -> str:
    """Who wrote the file: the attribute of ``extract_version``, else told by its contents."""
    named = extraction["extract_version"].attrs.get("software")
    if named is not None:
        return decode(named)
    # Files of depthextractors from before the attribute always hold the dropped-frame count,
    # which moseq2-extract never writes.
    return SOFTWARE if "dropped_frame_count" in extraction else "moseq2-extract"


def read_results(path: str | os.PathLike) -> ExtractionResults:
    """Open ``results_00.h5`` (or the directory holding it) as :class:`ExtractionResults`.

    Frames, masks and scalars are read lazily; metadata is read at once.

    Parameters
    ----------
    path : path-like
        ``results_00.h5`` or the directory holding it (moseq2-extract files work too).

    Returns
    -------
    ExtractionResults
        Timestamps in seconds (the file stores milliseconds; NaN when it has none).

    Raises
    ------
    FileNotFoundError
        If there is no results file at ``path``.
    """
    path = _results_file(path)
    with h5py.File(path, "r") as handle:
        extraction = handle["metadata/extraction"]
        num_frames = handle["frames"].shape[0]
        metadata = _read_metadata(handle, num_frames)
        timestamps_ms = handle["timestamps"][()] if "timestamps" in handle else None
        scalar_names = list(handle["scalars"].keys())
        has_flips = "flips" in extraction
        has_confidence = "flip_confidence" in extraction
    timestamps = (
        np.asarray(timestamps_ms, dtype=np.float64) / 1000.0
        if timestamps_ms is not None
        else np.full(num_frames, np.nan)
    )
    return ExtractionResults(
        frames=LazyH5Array(path, "frames"),
        frames_mask=LazyH5Array(path, "frames_mask"),
        scalars=_LazyScalars(path, scalar_names),
        timestamps=timestamps,
        metadata=metadata,
        flips=LazyH5Array(path, "metadata/extraction/flips") if has_flips else None,
        path=path,
        flip_confidence=(
            LazyH5Array(path, "metadata/extraction/flip_confidence") if has_confidence else None
        ),
    )


def _results_file(path: str | os.PathLike) -> Path:
    """``results_00.h5`` at ``path`` or in the directory ``path``; it must exist."""
    path = Path(path)
    if path.is_dir():
        path = path / f"{RESULTS_NAME}.h5"
    if not path.is_file():
        raise FileNotFoundError(
            f"no extraction results at {path}; run SessionExtraction(...).run(output_dir) first"
        )
    return path


def _read_metadata(handle: h5py.File, num_frames: int) -> dict[str, Any]:
    """Everything of a results file but the per-frame data, as plain values and arrays."""
    extraction = handle["metadata/extraction"]
    # Older moseq2-extract files (0.1.x) lack the frame range: it is then the whole file.
    first_index = (
        int(np.ravel(extraction["first_frame_idx"][()])[0])
        if "first_frame_idx" in extraction
        else 0
    )
    last_index = (
        int(np.ravel(extraction["last_frame_idx"][()])[0])
        if "last_frame_idx" in extraction
        else first_index + num_frames
    )
    metadata: dict[str, Any] = {
        "uuid": decode(handle["metadata/uuid"][()]),
        "true_depth": float(extraction["true_depth"][()]),
        "roi": extraction["roi"][()],
        "background": extraction["background"][()],
        "first_frame": extraction["first_frame"][()],
        "first_frame_idx": first_index,
        "last_frame_idx": last_index,
        "version": decode(extraction["extract_version"][()]),
        "software": _software(extraction),
        "parameters": group_to_dict(extraction["parameters"]),
        "acquisition": group_to_dict(handle["metadata/acquisition"])
        if "metadata/acquisition" in handle
        else {},
    }
    if "roi_plane" in extraction:
        metadata["roi_plane"] = tuple(float(v) for v in extraction["roi_plane"][()])
    for name in ("strategies", "job"):
        if name in extraction:
            metadata[name] = json.loads(decode(extraction[name][()]))
    if "dropped_frame_count" in extraction:
        metadata["dropped_frame_count"] = int(extraction["dropped_frame_count"][()])
        metadata["dropped_after"] = extraction["dropped_after"][()]
    for name in ("roi_notes", "roi_problems"):
        if name in extraction:
            metadata[name] = decode(extraction[name][()])
    return metadata


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def write_yaml_atomic(path: Path, content: dict[str, Any]) -> None:
    """Write YAML to a temporary file in the same directory and rename it over ``path``.

    Readers therefore see either the old file or the complete new one.

    Parameters
    ----------
    path : pathlib.Path
        File to write; its directory must exist.
    content : dict
        Mapping to write; numpy arrays and scalars, tuples and paths become plain YAML.

    Raises
    ------
    OSError
        If the file cannot be written (the temporary file is removed).
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp creates the file private (0600); give it the permissions a plain open would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yaml.safe_dump(plain(content), stream, sort_keys=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class H5ResultsWriter(ResultsWriter):
    """Writes ``results_00.h5``, ``results_00.yaml`` and the arena's TIFFs in a directory,
    crash-safely.

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
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        frame_compression: dict[str, Any] | None = None,
        frames_per_chunk: int = FRAMES_PER_H5_CHUNK,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.frame_compression = dict(
            FRAME_COMPRESSION if frame_compression is None else frame_compression
        )
        self.frames_per_chunk = int(frames_per_chunk)
        check_writable(self.output_dir)
        self.h5_path = self.output_dir / f"{RESULTS_NAME}.h5"
        self.partial_path = self.output_dir / f"{RESULTS_NAME}.h5.partial"
        self.yaml_path = self.output_dir / f"{RESULTS_NAME}.yaml"
        self._file: h5py.File | None = None
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
        }
        if error is not None:
            content["error"] = error
        return content

    def _parameters(self) -> dict[str, Any]:
        return {**self._setup.parameters, "output_dir": str(self.output_dir)}

    def begin(self, setup: ExtractionSetup) -> None:
        """Write the arena's TIFFs and create ``results_00.h5.partial`` sized for the session.

        ``results_00.yaml`` is written with status ``running`` and an older
        ``results_00.h5`` is removed first, so a crash never leaves a stale complete result.

        Parameters
        ----------
        setup : ExtractionSetup
            Sizes, background, ROI and parameters; timestamps are stored in milliseconds.

        Raises
        ------
        OSError
            If the directory or the files cannot be written.
        """
        self._setup = setup
        self.output_dir.mkdir(parents=True, exist_ok=True)
        write_yaml_atomic(self.yaml_path, self._status("running"))
        write_arena_images(self.output_dir, setup.background, setup.roi, setup.first_frame)
        # An older result is being replaced: it must not outlive this run's incomplete status.
        for stale in (self.h5_path, self.partial_path):
            if stale.exists():
                stale.unlink()
        self._file = h5py.File(self.partial_path, "w")
        self._create_per_frame_datasets(self._file, setup)
        self._write_session_metadata(self._file, setup)
        self._write_extraction_metadata(self._file.create_group("metadata/extraction"), setup)

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
        for name in ("roi_notes", "roi_problems"):
            texts = [text.encode("utf-8") for text in getattr(setup, name)]
            put(name, np.array(texts, dtype=object), dtype=h5py.string_dtype(), shape=(len(texts),))
        if setup.has_flips:
            put("flips", np.zeros(setup.num_frames, dtype=bool))
            put("flip_confidence", np.full(setup.num_frames, np.nan, dtype=np.float32))
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
        """
        handle = self._file
        stop = chunk.start + len(chunk)
        handle["frames"][chunk.start : stop] = chunk.frames
        handle["frames_mask"][chunk.start : stop] = chunk.masks
        scalars = handle["scalars"]
        for name, values in chunk.scalars.items():
            if name in scalars:
                scalars[name][chunk.start : stop] = values
        if chunk.flips is not None and "metadata/extraction/flips" in handle:
            handle["metadata/extraction/flips"][chunk.start : stop] = chunk.flips
        if chunk.flip_confidence is not None and "metadata/extraction/flip_confidence" in handle:
            handle["metadata/extraction/flip_confidence"][chunk.start : stop] = (
                chunk.flip_confidence
            )

    def finish(self) -> ExtractionResults:
        """Close the file, rename it to ``results_00.h5`` and mark the YAML ``complete``.

        Returns
        -------
        ExtractionResults
            The results, read back lazily (:func:`read_results`).
        """
        self._file.close()
        self._file = None
        os.replace(self.partial_path, self.h5_path)
        write_yaml_atomic(self.yaml_path, self._status("complete"))
        return read_results(self.h5_path)

    def abort(self, error: BaseException) -> None:
        """Close and delete the partial file and mark the YAML ``failed``.

        Parameters
        ----------
        error : BaseException
            Recorded (type and message) as ``error`` in ``results_00.yaml``.
        """
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
        if self.partial_path.exists():
            self.partial_path.unlink()
        if self._setup is not None:
            message = f"{type(error).__name__}: {error}"
            write_yaml_atomic(self.yaml_path, self._status("failed", message))


def check_writable(output_dir: str | os.PathLike) -> None:
    """Create ``output_dir`` if needed and check a file can be created in it.

    Parameters
    ----------
    output_dir : path-like
        Directory the results will be written to.

    Raises
    ------
    NotADirectoryError
        If ``output_dir`` is an existing file.
    PermissionError
        If the directory cannot be created or written to (naming the reason), before any work
        starts.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(
            f"output directory {output_dir} is an existing file; pass a directory path"
        )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=output_dir)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise PermissionError(
            f"cannot write extraction results to {output_dir}: {error.strerror or error}. "
            "Choose a directory you can write to (output_dir=...)."
        ) from error
