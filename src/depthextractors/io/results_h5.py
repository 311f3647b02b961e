"""moseq2-extract's ``results_00.h5`` / ``results_00.yaml`` and its scaled TIFF images.

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
                        parameters/<name> (every parameter under its moseq2 name)

Every dataset moseq2-extract describes carries a ``description`` attribute.

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
``--config-file``.
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
import tifffile
import yaml

from ..extraction.parameters import PARAMETERS
from ..extraction.results import SOFTWARE, ExtractionSetup, ResultChunk, ResultsWriter
from .results import ExtractionResults

__all__ = [
    "FRAME_COMPRESSION",
    "H5ResultsWriter",
    "LazyH5Array",
    "read_acquisition_metadata",
    "read_recorded_parameters",
    "read_results",
    "read_scaled_tiff",
    "write_arena_images",
    "write_scaled_tiff",
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
}

# Descriptions of the recorded parameters: the parameter table's help, plus what a run adds.
PARAMETER_DESCRIPTIONS: dict[str, str] = {
    **{spec.key: spec.help for spec in PARAMETERS},
    "output_dir": "Output directory to save the results h5 file",
}


# --------------------------------------------------------------------------------------------
# Scaled TIFF images (moseq2-extract's write_image / read_image convention)
# --------------------------------------------------------------------------------------------
def write_scaled_tiff(
    path: str | os.PathLike,
    image: np.ndarray,
    scale_factor: int | None = None,
    dtype: str = "uint16",
) -> int:
    """Write an image as moseq2-extract's scaled TIFF.

    The image is multiplied by an integer ``scale_factor`` (by default the largest that fits
    ``dtype``: ``int(max / (max(image) + 1e-25))``), stored as ``dtype`` and the factor recorded
    in the TIFF description as JSON ``{"scale_factor": "<int>"}``; readers divide by it.

    Parameters
    ----------
    path : path-like
        Output ``.tiff`` file.
    image : numpy.ndarray
        2-D image (depth in mm, a mask, ...); NaN is written as 0.
    scale_factor : int, optional
        Factor to use instead of the automatic one.
    dtype : str, default "uint16"
        Stored integer type.

    Returns
    -------
    int
        The scale factor used.

    Raises
    ------
    ValueError
        If ``dtype`` is not an integer type.
    OSError
        If the file cannot be written (written to ``<path>.partial``, then renamed).
    """
    array = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
    limit = np.iinfo(dtype).max
    if scale_factor is None:
        peak = float(array.max()) if array.size else 0.0
        scale_factor = max(int(limit / (peak + 1e-25)), 1) if peak > 0 else 1
    scale_factor = int(scale_factor)
    scaled = np.clip(np.rint(array * scale_factor), 0, limit).astype(dtype)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    tifffile.imwrite(
        partial, scaled, description=json.dumps({"scale_factor": str(scale_factor)}), metadata=None
    )
    os.replace(partial, path)
    return scale_factor


def read_scaled_tiff(path: str | os.PathLike) -> np.ndarray:
    """Read a scaled TIFF written by :func:`write_scaled_tiff` or moseq2-extract.

    Parameters
    ----------
    path : path-like
        The ``.tiff`` file.

    Returns
    -------
    numpy.ndarray
        float64 image divided by its scale factor (unscaled when the TIFF has none).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    with tifffile.TiffFile(path) as tif:
        image = tif.asarray()
        description = tif.pages[0].description or ""
    factor = 1.0
    text = description.strip()
    if text.startswith("b'") and text.endswith("'"):
        text = text[2:-1]
    try:
        factor = float(json.loads(text).get("scale_factor", 1))
    except (ValueError, AttributeError):
        factor = 1.0
    return image.astype(np.float64) / factor


# --------------------------------------------------------------------------------------------
# Lazy reading
# --------------------------------------------------------------------------------------------
class LazyH5Array:
    """An HDF5 dataset read on demand: slicing opens the file, reads the slice, closes it.

    Parameters
    ----------
    path : pathlib.Path
        The HDF5 file.
    name : str
        Dataset path inside it.
    dtype : numpy dtype, optional
        Type the slices are cast to (e.g. ``bool`` for masks stored as uint8); the dataset's own
        type when not given.
    """

    def __init__(self, path: Path, name: str, dtype: Any = None) -> None:
        self.path = Path(path)
        self.name = name
        with h5py.File(self.path, "r") as handle:
            dataset = handle[name]
            self.shape = tuple(dataset.shape)
            self._stored_dtype = dataset.dtype
            self.attrs = dict(dataset.attrs)
        self.dtype = self._stored_dtype if dtype is None else np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        with h5py.File(self.path, "r") as handle:
            data = handle[self.name][key]
        return data if self.dtype == self._stored_dtype else np.asarray(data).astype(self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[()]
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyH5Array({str(self.path)!r}, {self.name!r}, shape={self.shape}, {self.dtype})"


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


def _decode(value: Any) -> Any:
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in ("O", "S"):
            return [_decode(v) for v in value.tolist()]
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _group_to_dict(group: h5py.Group) -> dict[str, Any]:
    contents: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            contents[key] = _group_to_dict(item)
        elif item.attrs.get("encoding") == "json":
            contents[key] = json.loads(_decode(item[()]))
        else:
            contents[key] = _decode(item[()])
    return contents


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
        return {} if group is None else _group_to_dict(group)


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
        return {} if group is None else _group_to_dict(group)


def _software(extraction: h5py.Group) -> str:
    """Who wrote the file: the attribute of ``extract_version``, else told by its contents."""
    named = extraction["extract_version"].attrs.get("software")
    if named is not None:
        return _decode(named)
    # Files of depthextractors from before the attribute always hold the dropped-frame count,
    # which moseq2-extract never writes.
    return SOFTWARE if "dropped_frame_count" in extraction else "moseq2-extract"


def _numeric_array(values: list | tuple) -> np.ndarray | None:
    """``values`` as a numeric array, or None if they are not a rectangle of numbers."""
    try:
        array = np.asarray(values)
    except ValueError:  # ragged
        return None
    return array if array.dtype.kind in "biufc" else None


def _json_default(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


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
    path = Path(path)
    if path.is_dir():
        path = path / f"{RESULTS_NAME}.h5"
    if not path.is_file():
        raise FileNotFoundError(
            f"no extraction results at {path}; run SessionExtraction(...).run(output_dir) first"
        )
    with h5py.File(path, "r") as handle:
        extraction = handle["metadata/extraction"]
        num_frames = handle["frames"].shape[0]
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
            "uuid": _decode(handle["metadata/uuid"][()]),
            "true_depth": float(extraction["true_depth"][()]),
            "roi": extraction["roi"][()],
            "background": extraction["background"][()],
            "first_frame": extraction["first_frame"][()],
            "first_frame_idx": first_index,
            "last_frame_idx": last_index,
            "version": _decode(extraction["extract_version"][()]),
            "software": _software(extraction),
            "parameters": _group_to_dict(extraction["parameters"]),
            "acquisition": _group_to_dict(handle["metadata/acquisition"])
            if "metadata/acquisition" in handle
            else {},
        }
        if "roi_plane" in extraction:
            metadata["roi_plane"] = tuple(float(v) for v in extraction["roi_plane"][()])
        for name in ("strategies", "job"):
            if name in extraction:
                metadata[name] = json.loads(_decode(extraction[name][()]))
        if "dropped_frame_count" in extraction:
            metadata["dropped_frame_count"] = int(extraction["dropped_frame_count"][()])
            metadata["dropped_after"] = extraction["dropped_after"][()]
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


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _to_yaml(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_yaml(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_yaml(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_to_yaml(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


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
            yaml.safe_dump(_to_yaml(content), stream, sort_keys=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _write_value(group: h5py.Group, name: str, value: Any, description: str | None) -> None:
    if value is None:
        dataset = group.create_dataset(name, data=h5py.Empty(h5py.string_dtype()))
    elif isinstance(value, str):
        dataset = group.create_dataset(name, data=value, dtype=h5py.string_dtype())
    elif isinstance(value, dict):
        sub = group.create_group(name)
        for key, item in value.items():
            _write_value(sub, str(key), item, None)
        return
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            dataset = group.create_dataset(
                name, data=[v.encode("utf-8") for v in value], dtype=h5py.string_dtype()
            )
        elif any(v is None for v in value):
            dataset = group.create_dataset(
                name, data=[str(v) for v in value], dtype=h5py.string_dtype()
            )
        else:
            array = _numeric_array(value)
            if array is None:
                # Records or ragged lists (an Azure calibration's cameras) have no HDF5 array
                # type: kept as JSON text, marked so that reading gives the list back.
                dataset = group.create_dataset(
                    name, data=json.dumps(value, default=_json_default), dtype=h5py.string_dtype()
                )
                dataset.attrs["encoding"] = "json"
            else:
                dataset = group.create_dataset(name, data=array)
    else:
        dataset = group.create_dataset(name, data=np.asarray(value))
    if description is not None:
        dataset.attrs["description"] = description


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
        handle = h5py.File(self.partial_path, "w")
        self._file = handle
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
        handle.create_dataset("metadata/uuid", data=setup.uuid, dtype=h5py.string_dtype())
        acquisition = handle.create_group("metadata/acquisition")
        for key, value in setup.acquisition.items():
            if value is None:
                acquisition.create_dataset(key, dtype="f")
            else:
                _write_value(acquisition, key, value, None)
        extraction = handle.create_group("metadata/extraction")

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
        if setup.has_flips:
            put("flips", np.zeros(n, dtype=bool))
            put("flip_confidence", np.full(n, np.nan, dtype=np.float32))
        parameters = extraction.create_group("parameters")
        for key, value in self._parameters().items():
            _write_value(parameters, key, value, PARAMETER_DESCRIPTIONS.get(key, ""))
        for name, record in (("strategies", setup.strategies), ("job", setup.job)):
            dataset = extraction.create_dataset(
                name, data=json.dumps(_to_yaml(record)), dtype=h5py.string_dtype()
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


def write_arena_images(
    output_dir: str | os.PathLike,
    background: np.ndarray,
    roi: np.ndarray,
    first_frame: np.ndarray,
) -> None:
    """``bground.tiff``, ``roi.tiff`` and ``first_frame.tiff`` as moseq2-extract writes them.

    Parameters
    ----------
    output_dir : path-like
        Directory to write to (created if missing).
    background : numpy.ndarray
        ``(rows, cols)`` background depth, mm.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask (stored as uint8, scaled).
    first_frame : numpy.ndarray
        ``(rows, cols)`` raw depth of the first frame, mm.

    Raises
    ------
    OSError
        If a file cannot be written.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_scaled_tiff(output_dir / "bground.tiff", background)
    write_scaled_tiff(output_dir / "roi.tiff", np.asarray(roi, dtype=np.uint8))
    write_scaled_tiff(output_dir / "first_frame.tiff", first_frame)
