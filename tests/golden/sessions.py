"""The fixed sessions of the golden test: how each is made and how it is extracted.

The golden test guards refactoring: ``make_golden.py`` extracts these sessions once and stores
what every dataset of ``results_00.h5`` held; ``tests/test_golden.py`` extracts them again and
compares. The sessions cover the input formats (raw, FFV1 ``.avi``, ``.tar.gz``, Azure
``.mkv``), dropped frames, a hand, a tethered animal with the EM tracker, the temporal and
Hampel filters with frame trimming and chunk overlap, the plane background and 16-bit crops.

Each extraction runs through the command line (``depthextractors extract``) with a config file
that sets every parameter it depends on explicitly, so a change of defaults does not change the
golden results; only a change of what a parameter does.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

#: Parameters every golden extraction sets (moseq2 keys), whatever the defaults become.
BASE_PARAMETERS: dict[str, Any] = {
    "bg_roi_depth_range": [650, 750],
    "manual_set_depth_range": False,
    "bg_roi_dilate": [10, 10],
    "bg_roi_shape": "ellipse",
    "bg_roi_index": 0,
    "bg_roi_fill_holes": True,
    "bg_roi_gradient_filter": False,
    "bg_roi_erode": [1, 1],
    "erode_iterations": 0,
    "dilate_iterations": 0,
    "noise_tolerance": 30,
    "bg_roi_seed": 0,
    "use_plane_bground": False,
    "crop_size": [80, 80],
    "min_height": 10,
    "max_height": 100,
    "detected_true_depth": "auto",
    "use_cc": True,
    "use_tracking_model": False,
    "cable_filter_iters": 0,
    "tail_filter_iters": 1,
    "tail_filter_size": [9, 9],
    "tail_filter_shape": "ellipse",
    "spatial_filter_size": 3,
    "temporal_filter_size": 0,
    "chunk_overlap": 0,
    "frame_dtype": "uint8",
    "centroid_hampel_span": 0,
    "centroid_hampel_sig": 3,
    "angle_hampel_span": 0,
    "angle_hampel_sig": 3,
    "frame_trim": [0, 0],
    "flip_corrector": "motion",
    "write_movie": False,
    "write_report": False,
}

#: Datasets that name the run rather than its results, or record its parameters (whose layout
#: may change: the redesign records each strategy and the job options): compared nowhere.
RUN_SPECIFIC = (
    "metadata/uuid",
    "metadata/extraction/extract_version",
    "metadata/extraction/strategies",
    "metadata/extraction/job",
)
PARAMETERS_GROUP = "metadata/extraction/parameters"


@dataclass(frozen=True)
class GoldenSession:
    """One golden session: generator arguments, input format and extraction parameters."""

    name: str
    generator: dict[str, Any]
    fmt: str  # "raw", "avi", "tar.gz" or "mkv"
    parameters: dict[str, Any] = field(default_factory=dict)


def _tether() -> Any:
    from depthextractors.testing import Tether

    return Tether()


GOLDEN_SESSIONS: tuple[GoldenSession, ...] = (
    GoldenSession(
        "kinect_raw",
        {"num_frames": 160, "dropped_frames": 3, "hand_frames": 12, "seed": 20},
        "raw",
        {"chunk_size": 50},
    ),
    GoldenSession(
        "kinect_avi_temporal_hampel",
        {"num_frames": 150, "seed": 12, "arena": "square"},
        "avi",
        {
            "chunk_size": 40,
            "chunk_overlap": 3,
            "temporal_filter_size": 3,
            "centroid_hampel_span": 5,
            "angle_hampel_span": 7,
            "frame_trim": [4, 6],
        },
    ),
    GoldenSession(
        "kinect_tar_plane_background",
        {"num_frames": 140, "dropped_frames": 2, "seed": 13, "floor_tilt_deg": (3.0, -2.0)},
        "tar.gz",
        {"chunk_size": 64, "use_plane_bground": True, "dilate_iterations": 1},
    ),
    GoldenSession(
        "kinect_tethered_em",
        {"num_frames": 120, "seed": 14, "tether": "default"},
        "raw",
        {"chunk_size": 50, "use_tracking_model": True, "tail_filter_iters": 0},
    ),
    GoldenSession(
        "azure_mkv_uint16",
        {"num_frames": 100, "seed": 21, "camera": "azure_nfov_unbinned", "arena": "square"},
        "mkv",
        {
            "chunk_size": 30,
            "frame_dtype": "uint16",
            "max_height": 300,
            "crop_size": [96, 96],
            "flip_corrector": "none",
        },
    ),
)


def make_input(session: GoldenSession, directory: Path) -> Path:
    """Write the session's recording under ``directory``; return what ``extract`` is given."""
    from depthextractors.testing import generate_synthetic_session

    arguments = dict(session.generator)
    if arguments.get("tether") == "default":
        arguments["tether"] = _tether()
    raw_dir = directory / "raw"
    generated = generate_synthetic_session(raw_dir, **arguments)
    if session.fmt == "raw":
        return generated.depth_path
    if session.fmt == "avi":
        from depthextractors.extractors.writers import convert_raw_to_avi

        # Beside depth_ts.txt and metadata.json, which the .avi reader takes as moseq2 does.
        return convert_raw_to_avi(generated.depth_path, raw_dir / "depth.avi", progress=False)
    if session.fmt == "tar.gz":
        archive = directory / "session.tar.gz"
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
            for name in ("depth.dat", "depth_ts.txt", "metadata.json"):
                tar.add(raw_dir / name, arcname=name)
        return archive
    if session.fmt == "mkv":
        from depthextractors.extractors import RawDepthExtractor
        from depthextractors.testing.matroska import write_azure_like_mkv

        video = RawDepthExtractor(generated.depth_path)
        frames = video.get_video(0, video.get_num_frames())
        times_us = np.rint(video.get_timestamps() * 1e6).astype(np.int64)
        target = directory / "mkv" / "recording.mkv"
        target.parent.mkdir(parents=True)
        return write_azure_like_mkv(
            target, frames, depth_times_us=times_us, capture_times_us=times_us
        )
    raise ValueError(f"unknown golden input format {session.fmt!r}")


def input_digest(path: Path) -> str:
    """sha256 of the recording's frames as read back (format-independent)."""
    from depthextractors import open_depth_video

    video = open_depth_video(path)
    digest = hashlib.sha256()
    for chunk in video.iter_chunks(200):
        digest.update(np.ascontiguousarray(chunk.frames).tobytes())
    digest.update(np.asarray(video.get_timestamps(), dtype=np.float64).tobytes())
    return digest.hexdigest()


def extract(session: GoldenSession, recording: Path, output_dir: Path) -> Path:
    """Extract ``recording`` with the session's parameters through the command line."""
    from click.testing import CliRunner

    from depthextractors.cli import main

    config = output_dir.parent / f"{session.name}_config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({**BASE_PARAMETERS, **session.parameters}))
    result = CliRunner().invoke(
        main,
        ["extract", str(recording), "--output-dir", str(output_dir), "--config-file",
         str(config), "--n-jobs", "2"],
    )  # fmt: skip
    if result.exit_code != 0:
        raise RuntimeError(f"golden extraction {session.name} failed:\n{result.output}")
    return output_dir / "results_00.h5"


def read_datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a results file that the golden test compares, by its HDF5 path."""
    datasets: dict[str, np.ndarray] = {}

    def visit(name: str, item: Any) -> None:
        if not isinstance(item, h5py.Dataset) or name in RUN_SPECIFIC:
            return
        if name.startswith(PARAMETERS_GROUP + "/"):
            return
        value = item[()]
        if isinstance(value, bytes):
            value = np.array(value.decode("utf-8"))
        datasets[name] = np.asarray(value)

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return datasets


def digest(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    text_like = array.dtype.kind in "OU"
    data = repr(array.tolist()).encode("utf-8") if text_like else array.tobytes()
    text = f"{array.dtype.str}{array.shape}".encode()
    return hashlib.sha256(text + data).hexdigest()


def summarise(datasets: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the golden file keeps per dataset: its digest, and per-frame sums for big arrays."""
    out: dict[str, Any] = {}
    for name, array in sorted(datasets.items()):
        entry: dict[str, Any] = {
            "digest": digest(array),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
        }
        if array.ndim == 3:
            # Per-frame sums say which frames differ when a digest does not match.
            entry["frame_sums"] = np.asarray(array, dtype=np.float64).sum(axis=(1, 2)).tolist()
        elif array.ndim == 1 and array.dtype.kind in "biuf" and array.size <= 1000:
            entry["values"] = np.asarray(array, dtype=np.float64).tolist()
        out[name] = entry
    return out


def dump(summary: dict[str, Any]) -> str:
    """YAML text of a golden summary (NaN written as .nan)."""
    stream = io.StringIO()
    yaml.safe_dump(summary, stream, sort_keys=True, width=100)
    return stream.getvalue()
