"""A session's output directory: where it is, and what the results in it are worth.

Where (the same for ``extract``, ``find-roi`` and ``batch-extract``, and moseq2-extract's place
for a session directory holding one recording):

- :func:`default_output_dir`: ``proc`` beside the recording — for a directory's main
  recording (its only one, or its ``depth.*`` file); another recording of the same directory
  gets ``<stem>/proc``, so two recordings never share an output directory; an archive
  ``name.tar.gz`` gets ``name/proc`` beside it;
- :func:`resolve_output_dir`: an output directory given as a relative path is taken relative to
  the recording's place, as moseq2-extract 1.4.0 does (unless it already leads into the
  recording's directory from the current one); an absolute path is taken as it is.

What (:func:`results_status`, :func:`reason_to_extract_again`): complete results are left
alone by ``skip_completed`` only if they can be read, their two files belong to the same run
and they were made with the parameters asked for now.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "LOG_NAME",
    "RECORDING_EXTENSIONS",
    "REPORT_NAME",
    "RESULTS_H5",
    "RESULTS_YAML",
    "default_output_dir",
    "main_recording",
    "reason_to_extract_again",
    "recording_suffix",
    "resolve_output_dir",
    "results_status",
]

RESULTS_YAML = "results_00.yaml"
RESULTS_H5 = "results_00.h5"
REPORT_NAME = "report.html"
LOG_NAME = "extract.log"
#: Recording file types of sessions (``batch-extract`` looks for these by default).
RECORDING_EXTENSIONS = (".dat", ".avi", ".mkv", ".bag", ".tar.gz", ".tgz")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
#: Files that are never a depth recording (infrared, colour, results, unfinished writes).
NOT_RECORDINGS = ("ir", "rgb", "color", "colour", "results", ".")


# ---------------------------------------------------------------------------------- where
def recording_suffix(name: str, extensions: tuple[str, ...] = RECORDING_EXTENSIONS) -> str | None:
    """The longest of ``extensions`` that ``name`` ends with (lower case), or None."""
    lowered = name.lower()
    matches = [ext for ext in extensions if lowered.endswith(ext)]
    return max(matches, key=len) if matches else None


def main_recording(names: list[str]) -> str | None:
    """A directory's session recording among its recording files (archives apart).

    Its only one; else the preferred ``depth.*`` file (raw before its conversions, as
    ``open_depth_video`` chooses); else none (each recording is a session of its own).
    """
    depth_named = [n for n in names if n.lower().startswith("depth")]
    if len(names) == 1:
        return names[0]
    if not depth_named:
        return None
    from .extractors import registered_formats

    preference = {".dat": 0, ".avi": 10, ".mkv": 20, ".bag": 30}
    formats = tuple(registered_formats())
    return min(
        depth_named, key=lambda n: (preference.get(recording_suffix(n, formats) or "", 99), n)
    )


def _readable_extensions() -> tuple[str, ...]:
    from .extractors import registered_formats

    return tuple(dict.fromkeys((*RECORDING_EXTENSIONS, *registered_formats())))


def _recordings_beside(path: Path) -> list[str]:
    """The plain (not archive) recording files of ``path``'s directory."""
    extensions = _readable_extensions()
    try:
        names = [p.name for p in path.parent.iterdir() if p.is_file()]
    except OSError:
        return [path.name]
    return sorted(
        name for name in names
        if recording_suffix(name, extensions) and not recording_suffix(name, ARCHIVE_SUFFIXES)
        and not name.lower().startswith(NOT_RECORDINGS)
    )  # fmt: skip


def _results_place(input_file: Path) -> Path:
    """The directory whose ``proc`` holds the results of ``input_file`` by default."""
    if input_file.is_dir():
        return input_file
    suffix = recording_suffix(input_file.name, ARCHIVE_SUFFIXES)
    if suffix:
        return input_file.parent / input_file.name[: -len(suffix)]
    if input_file.name.lower().startswith("depth"):
        return input_file.parent  # the session's recording or one of its conversions
    recordings = _recordings_beside(input_file)
    if input_file.name not in recordings or main_recording(recordings) == input_file.name:
        return input_file.parent
    suffix = recording_suffix(input_file.name, _readable_extensions()) or input_file.suffix
    return input_file.parent / (input_file.name[: -len(suffix)] or input_file.name)


def default_output_dir(input_file: str | os.PathLike) -> Path:
    """Where a session's results go by default: ``proc`` beside the recording.

    ``proc`` beside the directory's main recording (its only one, or its ``depth.*`` file);
    ``<stem>/proc`` for another recording of the same directory, so two recordings never
    share results; ``name/proc`` beside an archive ``name.tar.gz``; ``<directory>/proc`` for a
    session directory.

    Parameters
    ----------
    input_file : path-like
        The recording (or its session directory).

    Returns
    -------
    pathlib.Path
    """
    return _results_place(Path(input_file)) / "proc"


def resolve_output_dir(input_file: str | os.PathLike, output_dir: str | os.PathLike | None) -> Path:
    """The output directory of a recording, with a relative one placed as moseq2-extract does.

    A relative ``output_dir`` is taken from the recording's place (where ``proc`` would be),
    so ``extract`` and ``batch-extract`` put a session's results in the same directory; a
    relative path that already leads into the recording's directory from the current one
    (``sess/out`` for ``sess/depth.dat``) is taken as it is, as moseq2-extract 1.4.0 does; an
    absolute path is taken as it is.

    Parameters
    ----------
    input_file : path-like
        The recording (or its session directory).
    output_dir : path-like or None
        As given; None for :func:`default_output_dir`.

    Returns
    -------
    pathlib.Path
    """
    input_file = Path(input_file)
    if output_dir is None:
        return default_output_dir(input_file)
    output_dir = Path(output_dir)
    if output_dir.is_absolute():
        return output_dir
    recording_dir = (input_file if input_file.is_dir() else input_file.parent).resolve()
    as_given = output_dir.resolve()
    if as_given == recording_dir or recording_dir in as_given.parents:
        return output_dir
    return _results_place(input_file) / output_dir


# ---------------------------------------------------------------------------------- what
def _read_status(status_file: Path) -> dict[str, Any] | None:
    try:
        with open(status_file, encoding="utf-8") as stream:
            status = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return status if isinstance(status, dict) else None


def results_status(output_dir: str | os.PathLike) -> str:
    """State of an output directory: ``missing``, ``running``, ``failed`` or ``complete``.

    ``complete`` needs ``results_00.yaml`` with ``complete: true`` and ``results_00.h5``
    beside it; an unreadable status file counts as ``failed`` (restart it).

    Parameters
    ----------
    output_dir : path-like
        A session's output directory.

    Returns
    -------
    str
    """
    output_dir = Path(output_dir)
    status_file = output_dir / RESULTS_YAML
    if not status_file.is_file():
        return "missing"
    status = _read_status(status_file)
    if status is None:
        return "failed"
    if status.get("complete") is True:
        return "complete" if (output_dir / RESULTS_H5).is_file() else "failed"
    # moseq2-extract writes complete: false while it runs and no status key.
    return "failed" if status.get("status") == "failed" else "running"


def reason_to_extract_again(output_dir: str | os.PathLike, config: Any) -> str | None:
    """Why complete results must not be kept as they are, in a few words; None if they can.

    Parameters
    ----------
    output_dir : path-like
        An output directory whose :func:`results_status` is ``complete``.
    config : ExtractionConfig
        The parameters asked for now.

    Returns
    -------
    str or None
        ``"results_00.h5 cannot be read (...)"``, ``"results_00.yaml and results_00.h5 come
        from different extractions"`` or ``"they were made with other parameters (min_height
        10 -> 12)"``; None when the results are readable, of one run and of these parameters.
    """
    import h5py

    from .io.results_h5 import status_uuid

    output_dir = Path(output_dir)
    try:
        with h5py.File(output_dir / RESULTS_H5, "r") as handle:
            stored = handle["metadata/uuid"][()]
            handle["frames"].shape  # noqa: B018 - a results file without frames is damaged
    except (OSError, KeyError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"{RESULTS_H5} cannot be read ({first})"
    stored = stored.decode("utf-8") if isinstance(stored, bytes) else str(stored)
    named = status_uuid(output_dir / RESULTS_YAML)
    if named is not None and named != stored:
        return f"{RESULTS_YAML} and {RESULTS_H5} come from different extractions"
    status = _read_status(output_dir / RESULTS_YAML) or {}
    changed = _changed_parameters(config, status.get("parameters"))
    if changed:
        shown = ", ".join(changed[:4]) + (", ..." if len(changed) > 4 else "")
        return f"they were made with other parameters ({shown})"
    return None


def _changed_parameters(config: Any, recorded: Any) -> list[str]:
    """``"key old -> new"`` for every parameter that changes the results and differs."""
    from .config import ConfigError, ExtractionConfig

    if not isinstance(recorded, dict):
        return ["none recorded"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            old = ExtractionConfig.from_dict(recorded, source="recorded parameters")
        except ConfigError as error:
            return [str(error)]
    new_values, old_values = _comparable(config), _comparable(old)
    return [
        f"{key} {_text(old_values.get(key))} -> {_text(value)}"
        for key, value in new_values.items()
        if key in old_values and old_values[key] != value
    ]


def _comparable(config: Any) -> dict[str, Any]:
    """The values of ``config`` that decide the results, as the recorded parameters hold them.

    Keys whose recorded value is what the run decided (the camera, the ranking weights, an
    automatic depth range), job options (``chunk_size``) and arguments of strategies the
    configuration does not use are left out.
    """
    from .config import option_specs
    from .extraction.parameters import WORKFLOW, parameter_spec

    def default(key: str) -> Any:
        return parameter_spec(key).default

    manual = bool(config["manual_set_depth_range"]) or tuple(config["bg_roi_depth_range"]) != tuple(
        default("bg_roi_depth_range")
    )
    corrector = "classifier" if config["flip_classifier"] else config["flip_corrector"]
    values: dict[str, Any] = {}
    for spec in option_specs():
        key = spec.key
        if spec.group == WORKFLOW or spec.role == "job" or key == "camera_type":
            continue
        if key == "bg_roi_depth_range" and not manual:
            continue
        if key == "bg_roi_weights" and tuple(config[key]) == tuple(default(key)):
            continue
        owner = spec.owner or ""
        if owner.startswith("em_tracking") and not config["use_tracking_model"]:
            continue
        if owner.startswith("flips.Classifier") and corrector != "classifier":
            continue
        if spec.role == "flip_corrector" and not owner and corrector != "motion":
            continue
        values[key] = config[key]
    values["manual_set_depth_range"] = manual
    values["flip_corrector"] = corrector
    return values


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)
