"""moseq2-extract's ``results_00.h5`` / ``results_00.yaml``: the layout, and the reader.

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
                        tracked_again (N,) bool (when frames far from where the
                        frames round them put the animal are tracked again:
                        retrack_jumps),
                        dropped_frame_count (), dropped_after (k,) int64,
                        roi_notes (k,) str, roi_problems (k,) str (arena step),
                        timestamps_source () str (where the frame times come from),
                        parameters/<name> (every parameter under its moseq2 name)

Every dataset moseq2-extract describes carries a ``description`` attribute. The writer is
:class:`~depthextractors.io.results_h5_writer.H5ResultsWriter` (crash safety, one writer per
directory); the arena's TIFF images beside the file are written by
:mod:`depthextractors.io.tiff`; plain values are stored and read back by
:mod:`depthextractors.io.hdf5`.

``results_00.yaml`` and ``results_00.h5`` hold the uuid of the extraction that made them;
:func:`read_results` refuses a pair whose uuids differ, and a file HDF5 cannot read
(:class:`ResultsFileError`, one line saying what to do).

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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..extraction.parameters import PARAMETERS
from ..extraction.results import SOFTWARE
from .hdf5 import LazyH5Array, decode, group_to_dict
from .results import ExtractionResults

__all__ = [
    "FRAME_COMPRESSION",
    "ResultsFileError",
    "check_same_run",
    "read_acquisition_metadata",
    "read_recorded_parameters",
    "read_results",
    "status_uuid",
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
    ResultsFileError
        If the file cannot be read as results, or ``results_00.yaml`` beside it belongs to
        another extraction (another uuid).
    """
    path = _results_file(path)
    try:
        with h5py.File(path, "r") as handle:
            extraction = handle["metadata/extraction"]
            num_frames = handle["frames"].shape[0]
            metadata = _read_metadata(handle, num_frames)
            timestamps_ms = handle["timestamps"][()] if "timestamps" in handle else None
            scalar_names = list(handle["scalars"].keys())
            has_flips = "flips" in extraction
            has_confidence = "flip_confidence" in extraction
            has_tracked_again = "tracked_again" in extraction
    except (OSError, KeyError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ResultsFileError(
            f"{path} cannot be read as extraction results ({reason}); it is damaged or "
            "incomplete: extract the session again"
        ) from None
    check_same_run(path, metadata["uuid"])
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
        tracked_again=(
            LazyH5Array(path, "metadata/extraction/tracked_again") if has_tracked_again else None
        ),
    )


class ResultsFileError(ValueError):
    """Results that cannot be used as they are (damaged, or YAML and HDF5 of two runs)."""


def status_uuid(path: str | os.PathLike) -> str | None:
    """The uuid ``results_00.yaml`` (or another status file) names; None if it names none.

    Parameters
    ----------
    path : path-like
        The status file.

    Returns
    -------
    str or None
        None also when the file is missing or unreadable.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            content = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    uuid = content.get("uuid") if isinstance(content, dict) else None
    return str(uuid) if uuid else None


def check_same_run(h5_path: str | os.PathLike, uuid: str | None) -> None:
    """Refuse results whose status file beside them names another extraction.

    Parameters
    ----------
    h5_path : path-like
        ``results_00.h5`` (its status file is the ``.yaml`` of the same name).
    uuid : str or None
        The uuid stored in the HDF5 file.

    Raises
    ------
    ResultsFileError
        If the status file names another uuid: the two files come from different runs.
    """
    h5_path = Path(h5_path)
    status = h5_path.with_suffix(".yaml")
    named = status_uuid(status)
    if named is not None and uuid and named != uuid:
        raise ResultsFileError(
            f"{status.name} (uuid {named}) and {h5_path.name} (uuid {uuid}) in {h5_path.parent} "
            "come from two different extractions; extract the session again"
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
    if "timestamps_source" in extraction:
        metadata["timestamps_source"] = decode(extraction["timestamps_source"][()])
    if "animal_size" in extraction:
        metadata["animal_size"] = json.loads(decode(extraction["animal_size"][()]))
    return metadata
