"""Writing an NWB file: the file and its session, subject and camera, the results added to it
on a clock that starts at the session start, and the file written under a temporary name and
renamed when complete."""

from __future__ import annotations

import os
import uuid as uuid_module
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..._version import __version__
from ..results import ExtractionResults
from .behavior import _add_behavior
from .metadata import (
    IncompleteMetadataError,
    checked_metadata,
    dandi_problems,
    load_metadata,
    merge_metadata,
    parse_datetime,
)
from .video import _add_raw_video

_MANUFACTURERS = {
    "kinect": ("Microsoft", "Kinect v2"),
    "azure": ("Microsoft", "Azure Kinect DK"),
    "realsense": ("Intel", "RealSense"),
}

# Where a recording's start time is, in order: metadata.json of Kinect / moseq acquisition, the
# first frame's clock time of a RealSense bag, the container's creation time (Azure .mkv).
_START_TIME_KEYS = ("StartTime", "start_time", "creation_time")


def write_nwb(
    results: ExtractionResults,
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
    """Write extraction results as NWB (see the package docstring for the layout).

    Timestamps are seconds from ``session_start_time``: 0 s is the recording's first frame
    (the camera-clock time of 0 s is kept in ``extraction_metadata`` and added back by
    :func:`read_nwb`).

    Parameters
    ----------
    results : ExtractionResults
        In memory or backed by ``results_00.h5``; frames and masks are streamed (read a buffer
        of :data:`BUFFER_FRAMES` frames at a time), never loaded whole. Results without frames
        (``results.frames is None``) are written without ``processed_depth_video``.
    path_or_nwbfile : path-like or pynwb.NWBFile
        A ``.nwb`` path to write, or an open in-memory ``NWBFile`` to add the results to (the
        caller writes it, and sets its session and subject; the frames are streamed then).
    metadata : mapping or path-like, optional
        NeuroConv-style ``{"NWBFile": {...}, "Subject": {...}}``, or a YAML file of it (see
        :mod:`depthextractors.io.nwb.metadata`): experiment description, experimenters,
        keywords, lab, institution, subject species, strain, genotype, sex, age, date of
        birth...
    subject : pynwb.file.Subject or dict, optional
        The animal: a ``Subject`` used as it is, or a dict of its fields (over ``metadata``'s).
        ``subject_id`` defaults to ``SubjectName`` of metadata.json and ``sex`` to ``"U"``.
    session_start_time : datetime or ISO 8601 str, optional
        With a time zone. Defaults to the recording's: ``StartTime`` of ``metadata.json``, the
        first frame's clock time of a RealSense bag, or the creation time of an Azure ``.mkv``.
    include_raw_video : {None, "external", "embedded"}
        Also store the raw depth video (millimetres) in ``acquisition/depth_video``, losslessly:
        ``"external"`` links an FFV1 ``.avi`` (path relative to the NWB file; any other
        recording is first converted to ``<nwb name>/depth.avi`` beside it, verified frame by
        frame, with its ``depth_ts.txt``), as DANDI accepts; ``"embedded"`` streams the
        extracted frames into the file, compressed. Needs ``extractor``.
    extractor : DepthVideoExtractor, optional
        The recording the results were extracted from (for ``include_raw_video``; its first
        frame is then 0 s exactly).
    allow_incomplete : bool, default False
        Write even when the subject or session lacks a field DANDI requires (a warning then);
        by default that is an :class:`IncompleteMetadataError` naming each field, before
        anything is written.
    overwrite : bool, default False
        Replace an existing file at ``path`` (and a converted video).
    **nwbfile_fields
        Any field of :data:`~depthextractors.io.nwb.metadata.NWBFILE_FIELDS`
        (``session_description``, ``identifier``, ``experimenter``, ``lab``, ``institution``,
        ``keywords``, ``experiment_description``...), over ``metadata``'s.

    Returns
    -------
    pathlib.Path or pynwb.NWBFile
        The file written, or the ``NWBFile`` given.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    IncompleteMetadataError
        If a field DANDI requires is missing or malformed and ``allow_incomplete`` is false.
    ValueError
        If the session start time is unknown, a metadata key is unknown, or
        ``include_raw_video`` has no ``extractor``.
    """
    from pynwb import NWBFile

    _check_raw_video_request(include_raw_video, extractor)
    if isinstance(path_or_nwbfile, NWBFile):
        _warn_ignored(
            metadata=metadata, subject=subject, session_start_time=session_start_time,
            **nwbfile_fields,
        )  # fmt: skip
        nwbfile, path = path_or_nwbfile, None
    else:
        path = _checked_path(Path(path_or_nwbfile), overwrite)
        fields = session_metadata(
            results, metadata, subject=subject, session_start_time=session_start_time,
            **nwbfile_fields,
        )  # fmt: skip
        _check_complete(fields, subject, allow_incomplete)
        nwbfile = _new_nwbfile(fields, subject)
    created: list[Path] = []
    try:
        _add_results(
            results, nwbfile, include_raw_video=include_raw_video, extractor=extractor,
            nwb_path=path, overwrite=overwrite, created=created,
        )  # fmt: skip
        if path is None:
            return nwbfile
        _write_complete(nwbfile, path)
    except BaseException:
        for made in created:
            if made.is_dir():
                made.rmdir()
            else:
                made.unlink(missing_ok=True)
        raise
    return path


def session_metadata(
    results: ExtractionResults,
    metadata: Mapping[str, Mapping[str, Any]] | str | os.PathLike | None = None,
    *,
    subject: Any = None,
    session_start_time: datetime | str | None = None,
    **nwbfile_fields: Any,
) -> dict[str, dict[str, Any]]:
    """The session and subject fields the file will have: the recording's, then ``metadata``,
    then the arguments.

    Parameters
    ----------
    results : ExtractionResults
        Gives the defaults (``metadata.json``: ``SessionName``, ``SubjectName``, ``StartTime``;
        the extraction's uuid).
    metadata, subject, session_start_time, **nwbfile_fields
        As :func:`write_nwb` takes them.

    Returns
    -------
    dict
        ``{"NWBFile": {...}, "Subject": {...}}``, ``session_start_time`` a datetime.
    """
    from pynwb.file import Subject

    if isinstance(metadata, (str, os.PathLike)):
        given = load_metadata(metadata)
    else:
        given = checked_metadata(metadata or {}, "metadata")
    if subject is not None and not isinstance(subject, (Mapping, Subject)):
        raise TypeError(
            "subject must be a pynwb.file.Subject or a dict of its fields (e.g. "
            f"{{'species': 'Mus musculus', 'age': 'P12W'}}), got {type(subject).__name__}"
        )
    arguments = checked_metadata(
        {
            "NWBFile": {**nwbfile_fields, "session_start_time": session_start_time},
            "Subject": dict(subject) if isinstance(subject, Mapping) else {},
        },
        "the arguments",
    )
    fields = merge_metadata(_recording_defaults(results), given, arguments)
    if isinstance(subject, Subject):
        fields["Subject"] = {
            key: getattr(subject, key) for key in ("subject_id", "species", "sex", "age",
                                                   "date_of_birth") if getattr(subject, key)
        }  # fmt: skip
    fields["NWBFile"]["session_start_time"] = _start_time(results, fields["NWBFile"])
    return fields


def _check_raw_video_request(include_raw_video: str | None, extractor: Any) -> None:
    if include_raw_video not in (None, "external", "embedded"):
        raise ValueError(
            f"include_raw_video must be None, 'external' or 'embedded', got {include_raw_video!r}"
        )
    if include_raw_video is not None and extractor is None:
        raise ValueError(
            f"include_raw_video={include_raw_video!r} needs the recording: pass "
            "extractor=<the DepthVideoExtractor the results were extracted from>"
        )


def _warn_ignored(**given: Any) -> None:
    """Warn about session and subject fields given with an ``NWBFile`` (which has its own)."""
    ignored = [name for name, value in given.items() if value is not None]
    if ignored:
        warnings.warn(
            f"{', '.join(ignored)} ignored: the NWBFile given already has its session and "
            "subject; set them on the NWBFile",
            stacklevel=4,
        )


def _checked_path(path: Path, overwrite: bool) -> Path:
    """``path`` checked before anything is written: its name, its directory, an existing file."""
    if path.suffix.lower() != ".nwb":
        warnings.warn(f"NWB files are named *.nwb; writing {path.name} anyway", stacklevel=4)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"the directory of {path} does not exist; create it or choose another path"
        )
    return path


def _write_complete(nwbfile: Any, path: Path) -> None:
    """Write ``nwbfile`` to ``<path>.partial`` and rename it to ``path`` once complete."""
    from pynwb import NWBHDF5IO

    partial = path.with_name(path.name + ".partial")
    try:
        with warnings.catch_warnings():
            # pynwb warns that the temporary name does not end in .nwb; the final one does.
            warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
            with NWBHDF5IO(partial, "w") as io:
                io.write(nwbfile)
        os.replace(partial, path)
    except BaseException:
        if partial.exists():
            partial.unlink()
        raise


def _recording_defaults(results: ExtractionResults) -> dict[str, dict[str, Any]]:
    """Session and subject fields from the recording's metadata and the extraction."""
    acquisition = dict(results.metadata.get("acquisition") or {})
    session_name = acquisition.get("SessionName")
    uuid = results.metadata.get("uuid")
    subject_name = acquisition.get("SubjectName")
    return {
        "NWBFile": {
            "session_description": (
                f"Depth recording of session {session_name} extracted with depthextractors (MoSeq)"
                if session_name
                else "Depth recording extracted with depthextractors (MoSeq)"
            ),
            "identifier": str(uuid or uuid_module.uuid4()),
            "session_id": str(session_name or uuid or "").replace("/", "_") or None,
        },
        "Subject": {
            "subject_id": str(subject_name).replace("/", "_") if subject_name else None,
            "sex": "U",
        },
    }


def _start_time(results: ExtractionResults, fields: Mapping[str, Any]) -> datetime:
    """The session start time given, or the recording's (ValueError when there is none)."""
    if fields.get("session_start_time") is not None:
        return fields["session_start_time"]
    acquisition = dict(results.metadata.get("acquisition") or {})
    found = next((acquisition[key] for key in _START_TIME_KEYS if acquisition.get(key)), None)
    start = parse_datetime(found)
    if start is not None:
        return start
    problem = (
        "the session start time is unknown (the recording's metadata has none)"
        if found is None
        else f"the recording's start time {found!r} is not an ISO 8601 date and time"
    )
    raise ValueError(
        f"{problem}; pass session_start_time=datetime(..., tzinfo=...) or an ISO 8601 "
        "string such as '2024-05-01T10:30:00+02:00' (--session-start-time on the command line, "
        "NWBFile.session_start_time in the metadata YAML)"
    )


def _check_complete(fields: Mapping[str, Any], subject: Any, allow_incomplete: bool) -> None:
    """Refuse (or with ``allow_incomplete`` warn about) what DANDI would refuse."""
    problems = dandi_problems(fields)
    if not problems:
        return
    text = "; ".join(problems)
    if not allow_incomplete:
        raise IncompleteMetadataError(
            f"the NWB file would not pass DANDI's checks: {text}. Give each as the option or "
            "as the key of the metadata YAML (or metadata= dict), or pass --allow-incomplete "
            "(allow_incomplete=True) to write it anyway"
        )
    warnings.warn(f"the NWB file will not pass DANDI's checks: {text}", stacklevel=4)


def _new_nwbfile(fields: Mapping[str, Mapping[str, Any]], subject: Any) -> Any:
    from pynwb import NWBFile
    from pynwb.file import Subject

    if not isinstance(subject, Subject):
        subject = Subject(**fields["Subject"])
    return NWBFile(
        **fields["NWBFile"],
        subject=subject,
        was_generated_by=[["depthextractors", str(__version__)]],
        source_script="depthextractors (https://github.com/depthextractors/depthextractors)",
        source_script_file_name="depthextractors/io/nwb/writing.py",
    )


def _add_results(
    results: ExtractionResults,
    nwbfile: Any,
    *,
    include_raw_video: str | None,
    extractor: Any,
    nwb_path: Path | None,
    overwrite: bool,
    created: list[Path],
) -> None:
    """Add the camera, the behavior module and, if asked, the raw video to ``nwbfile``, on the
    session's clock (seconds from its start). Files made on the way are appended to
    ``created``."""
    timestamps = _checked_timestamps(results)
    zero = _time_zero(results, extractor)
    metadata = results.metadata
    camera_name = str(
        (metadata.get("parameters") or {}).get("camera_type")
        or (metadata.get("acquisition") or {}).get("CameraType")
        or "depth_camera"
    )
    device = _camera_device(nwbfile, camera_name)
    clock = _add_behavior(results, nwbfile, timestamps - zero, device, zero)
    if include_raw_video is not None:
        _add_raw_video(
            nwbfile, results, include_raw_video, extractor, device,
            clock=clock, zero=zero, nwb_path=nwb_path, overwrite=overwrite, created=created,
        )  # fmt: skip


def _time_zero(results: ExtractionResults, extractor: Any) -> float:
    """The camera-clock time (s) of 0 s in the file: the recording's first frame.

    That frame's time is the recording's own with ``extractor``; without it, it is the first
    extracted frame's, less the frames skipped before it (``first_frame_idx``) at the median
    frame interval.
    """
    if extractor is not None:
        return float(np.asarray(extractor.get_timestamps()[:1], dtype=np.float64)[0])
    times = np.asarray(results.timestamps, dtype=np.float64)
    skipped = int(results.metadata.get("first_frame_idx") or 0)
    if skipped == 0 or times.size < 2:
        return float(times[0])
    return float(times[0] - skipped * np.median(np.diff(times)))


def _checked_timestamps(results: ExtractionResults) -> np.ndarray:
    """The results' timestamps (seconds), checked: one per frame, finite and ascending."""
    num_frames = len(results)
    timestamps = np.asarray(results.timestamps, dtype=np.float64)
    if timestamps.shape != (num_frames,):
        raise ValueError(
            f"the results have {num_frames} frames but {timestamps.size} timestamps; they must "
            "match one to one"
        )
    if num_frames == 0:
        raise ValueError("the results have no frames; there is nothing to export")
    if not np.all(np.isfinite(timestamps)) or np.any(np.diff(timestamps) < 0):
        raise ValueError(
            "the timestamps are not all finite and ascending; NWB needs one time per frame in "
            "ascending order (set the extractor's times with set_times before extracting)"
        )
    return timestamps


def _camera_device(nwbfile: Any, camera_name: str) -> Any:
    from pynwb.device import Device, DeviceModel

    if camera_name in nwbfile.devices:
        return nwbfile.devices[camera_name]
    from ...cameras import CAMERA_PRESETS

    preset = CAMERA_PRESETS.get(camera_name)
    family = preset.family if preset is not None else "unknown"
    manufacturer, model_name = _MANUFACTURERS.get(family, ("unknown", camera_name))
    description = f"Depth camera filming the arena from above ({camera_name})"
    if preset is not None:
        rows, cols = preset.image_size
        description += f"; depth frames {cols}x{rows} pixels"
        if preset.field_of_view is not None:
            description += (
                f", field of view {preset.field_of_view[0]:g} x {preset.field_of_view[1]:g} degrees"
            )
    model = None
    if manufacturer != "unknown":
        model_key = f"{model_name} model"
        if model_key in nwbfile.device_models:
            model = nwbfile.device_models[model_key]
        else:
            model = DeviceModel(
                name=model_key,
                manufacturer=manufacturer,
                description=f"{manufacturer} {model_name}",
            )
            nwbfile.add_device_model(model)
    device = Device(name=camera_name, description=description, model=model)
    nwbfile.add_device(device)
    return device
