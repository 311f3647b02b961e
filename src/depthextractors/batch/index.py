"""moseq2-extract's ``generate-index`` and ``aggregate-results``.

- :func:`generate_index` writes ``moseq2-index.yaml``: every completed extraction found under a
  directory (``results_00.h5`` with its ``results_00.yaml``), with its uuid, a group
  (``default``) and the session metadata (``SessionName``, ``SubjectName``, ...), the file
  moseq2-pca and moseq2-model start from::

      files:
      - path: [/data/agg/2026-01-01_00-00-00_session_1_mouse_1_results_00.h5, ....yaml]
        uuid: 4895e640-...
        group: default
        metadata: {SessionName: session_1, SubjectName: mouse_1, StartTime: ...}
      pca_path: ''

- :func:`aggregate_results` copies every completed extraction (``.h5``, ``.yaml``, ``.mp4``)
  into one folder under a name made from its metadata with a format string such as
  ``{start_time}_{session_name}_{subject_name}`` (snake_case or the CamelCase keys of
  ``metadata.json``, e.g. ``{SessionName}_{SubjectName}``), then writes the index of that
  folder to ``moseq2-index.yaml`` in the input directory.

Both are idempotent: results already in the aggregate folder are not copied again.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..io.results_h5 import check_same_run, read_acquisition_metadata
from ..workflow import RESULTS_YAML, results_status

__all__ = [
    "aggregate_results",
    "build_file_name",
    "find_extractions",
    "generate_index",
    "read_acquisition_metadata",
]

_MOVIE_SUFFIX = ".mp4"


def _camel_to_snake(text: str) -> str:
    # As moseq2-extract's camel_to_snake, but no "_" after a space, "_" or "-" ("Open Field"
    # gives "open field", not "open _field").
    text = re.sub(r"([^\s_-])([A-Z][a-z]+)", r"\1_\2", text)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()


def _clean_file_part(text: str) -> str:
    """Characters a file name cannot hold become '-', as moseq2-extract's clean_file_str."""
    out = re.sub(r"[ <>:\"/\\|?*']", "-", text)
    return re.sub(r"-{2,}", "-", out)


def _time_for_file_name(value: str) -> str:
    """``2026-01-01T00:00:00.123+00:00`` -> ``2026-01-01_00-00-00`` (moseq2's rule)."""
    out = value.split(".")[0]
    out = re.sub(r"[+-]\d\d:\d\d$", "", out) if "T" in out else out
    return out.replace(":", "-").replace("T", "_")


def find_extractions(root: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """Completed and incomplete ``*.h5`` results under ``root`` (each with its ``.yaml``).

    Parameters
    ----------
    root : path-like
        Directory searched recursively.

    Returns
    -------
    (complete, incomplete) : lists of pathlib.Path
        The ``.h5`` files whose ``.yaml`` says complete, and those whose ``.yaml`` does not.

    Raises
    ------
    ResultsFileError
        If a complete-looking ``.yaml`` and the ``.h5`` beside it name different extractions.
    """
    complete, incomplete = [], []
    for h5 in sorted(Path(root).rglob("*.h5")):
        status_file = h5.with_suffix(".yaml")
        if not status_file.is_file():
            continue
        if h5.name == "results_00.h5" or status_file.name == RESULTS_YAML:
            done = results_status(h5.parent) == "complete"
        else:
            done = _yaml(status_file).get("complete") is True
        (complete if done and _has_frames(h5) else incomplete).append(h5)
    return complete, incomplete


def _has_frames(path: Path) -> bool:
    """Whether ``path`` holds frames; its status file must name the same extraction.

    Raises
    ------
    ResultsFileError
        If the status file beside it names another uuid (two runs' files mixed).
    """
    try:
        with h5py.File(path, "r") as handle:
            uuid = handle["metadata/uuid"][()] if "metadata/uuid" in handle else None
            has_frames = "frames" in handle
    except OSError:
        warnings.warn(f"{path} is not a readable HDF5 file; left out", stacklevel=3)
        return False
    check_same_run(path, uuid.decode("utf-8") if isinstance(uuid, bytes) else uuid)
    return has_frames


def _yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as stream:
            content = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError):
        return {}
    return content if isinstance(content, dict) else {}


def build_file_name(metadata: dict[str, Any], format_string: str, snake_case: bool = True) -> str:
    """A file name from session metadata and a format string, as moseq2-extract's build_path.

    Keys are available as in ``metadata.json`` (``{SessionName}``) and in snake_case
    (``{session_name}``); ``start_time`` is made file-name safe; with ``snake_case`` the
    values are snake_cased too, as moseq2-extract does.

    Parameters
    ----------
    metadata : dict
        Session metadata (``metadata.json`` keys).
    format_string : str
        A :meth:`str.format` string, e.g. ``"{start_time}_{session_name}_{subject_name}"``.
    snake_case : bool, default True
        Snake-case the values.

    Returns
    -------
    str
        A file-name-safe name (without a suffix).

    Raises
    ------
    KeyError
        If the format names a key the metadata does not have.
    """
    keys: dict[str, str] = {}
    for key, value in metadata.items():
        text = "" if value is None else str(value)
        if _camel_to_snake(key) == "start_time":
            text = _time_for_file_name(text)
        elif snake_case:
            text = _camel_to_snake(text)
        keys[key] = text
        keys[_camel_to_snake(key)] = text
    return _clean_file_part(format_string.format(**keys))


def _index_entry(h5: Path, status_file: Path, fallback: int) -> dict[str, Any]:
    status = _yaml(status_file)
    metadata: dict[str, Any] = {
        "SessionName": f"default_{fallback}",
        "SubjectName": f"default_{fallback}",
    }
    stored = status.get("metadata")
    if not isinstance(stored, dict) or not stored:
        stored = read_acquisition_metadata(h5)
    if stored:
        metadata.update({str(k): v for k, v in stored.items()})
    else:
        warnings.warn(f"no session metadata for {h5}; listed as {metadata}", stacklevel=3)
    uuid = status.get("uuid")
    if not uuid:
        with h5py.File(h5, "r") as handle:
            uuid = handle["metadata/uuid"][()] if "metadata/uuid" in handle else ""
        if isinstance(uuid, bytes):
            uuid = uuid.decode("utf-8", "replace")
    return {
        "path": [str(h5.resolve()), str(status_file.resolve())],
        "uuid": str(uuid),
        "group": "default",
        "metadata": metadata,
    }


def generate_index(
    input_dir: str | os.PathLike, output_file: str | os.PathLike
) -> tuple[Path, int]:
    """Write ``moseq2-index.yaml`` for every completed extraction under ``input_dir``.

    Parameters
    ----------
    input_dir : path-like
        Directory searched recursively for ``*.h5`` results with a ``.yaml`` beside them.
    output_file : path-like
        The index to write.

    Returns
    -------
    (path, count)
        The index and the number of sessions in it (each uuid once).
    """
    complete, incomplete = find_extractions(input_dir)
    for h5 in incomplete:
        warnings.warn(f"{h5} is not a complete extraction; left out of the index", stacklevel=2)
    files, seen = [], set()
    for k, h5 in enumerate(complete):
        entry = _index_entry(h5, h5.with_suffix(".yaml"), k)
        if entry["uuid"] in seen:
            continue  # the same extraction copied twice (e.g. in proc and aggregate_results)
        seen.add(entry["uuid"])
        files.append(entry)
    output_file = Path(output_file)
    output_file.parent.mkdir(parents=True, exist_ok=True)
    with open(output_file, "w", encoding="utf-8") as stream:
        yaml.safe_dump({"files": files, "pca_path": ""}, stream, sort_keys=False)
    return output_file, len(files)


def _mean_height(h5: Path, frames: int = 1000) -> float:
    with h5py.File(h5, "r") as handle:
        data = handle["frames"][: min(handle["frames"].shape[0], frames)]
    return float(np.nanmean(data)) if data.size else 0.0


def aggregate_results(
    input_dir: str | os.PathLike,
    format_string: str = "{start_time}_{session_name}_{subject_name}",
    output_dir: str | os.PathLike | None = None,
    mouse_threshold: float = 0.0,
    snake_case: bool = True,
) -> tuple[list[Path], Path]:
    """Copy every completed extraction into one folder and index it (moseq2's aggregate).

    Parameters
    ----------
    input_dir : path-like
        Directory searched recursively for completed results.
    format_string : str
        File name pattern from the session metadata; ``_results_00`` is appended as
        moseq2-extract does. A session whose metadata lacks a key gets ``session_000``, ...
    output_dir : path-like, optional
        The aggregate folder; ``aggregate_results`` in ``input_dir`` by default.
    mouse_threshold : float, default 0
        Leave out sessions whose mean crop height over the first 1,000 frames is not above
        this (mm): extractions without an animal.
    snake_case : bool, default True
        snake_case the metadata values in names, as moseq2-extract.

    Returns
    -------
    (copied, index)
        The ``.h5`` files now in the aggregate folder (copied now or before) and the index
        written to ``input_dir / "moseq2-index.yaml"``.
    """
    input_dir = Path(input_dir)
    output_dir = Path(output_dir) if output_dir is not None else input_dir / "aggregate_results"
    output_dir.mkdir(parents=True, exist_ok=True)
    complete, _ = find_extractions(input_dir)
    aggregate = output_dir.resolve()
    fallback = 0
    copied: list[Path] = []
    used: dict[str, str] = {}
    for h5 in complete:
        if aggregate in h5.resolve().parents:
            continue  # already an aggregated copy
        status = _yaml(h5.with_suffix(".yaml"))
        uuid = str(status.get("uuid", ""))
        if mouse_threshold and _mean_height(h5) <= mouse_threshold:
            warnings.warn(
                f"{h5}: mean height not above mouse_threshold={mouse_threshold:g}; left out",
                stacklevel=2,
            )
            continue
        metadata = read_acquisition_metadata(h5)
        try:
            stem = build_file_name(metadata, f"{format_string}_{h5.stem}", snake_case)
        except (KeyError, IndexError, ValueError) as error:
            stem = f"session_{fallback:03d}_{h5.stem}"
            fallback += 1
            warnings.warn(
                f"{h5}: cannot fill {format_string!r} ({error}); named {stem}", stacklevel=2
            )
        if stem in used and used[stem] != uuid:
            stem = f"{stem}_{uuid[:8]}"  # two sessions with the same metadata: keep both
        used[stem] = uuid
        target = output_dir / f"{stem}.h5"
        if not target.exists():
            partial = target.with_name(f".{target.name}.partial")
            shutil.copyfile(h5, partial)
            os.replace(partial, target)
            movie = h5.with_suffix(_MOVIE_SUFFIX)
            if movie.is_file():
                shutil.copyfile(movie, target.with_suffix(_MOVIE_SUFFIX))
            status.pop("extraction_metadata", None)
            with open(target.with_suffix(".yaml"), "w", encoding="utf-8") as stream:
                yaml.safe_dump(status, stream, sort_keys=False)
        copied.append(target)
    index, _ = generate_index(output_dir, input_dir / "moseq2-index.yaml")
    return copied, index
