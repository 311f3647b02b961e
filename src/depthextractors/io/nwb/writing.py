"""Writing an NWB file: the file and its session, subject and camera, the results added to it,
and the file written under a temporary name and renamed when complete."""

from __future__ import annotations

import os
import re
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
from .video import _add_raw_video

_MANUFACTURERS = {
    "kinect": ("Microsoft", "Kinect v2"),
    "azure": ("Microsoft", "Azure Kinect DK"),
    "realsense": ("Intel", "RealSense"),
}

_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")
# Where a recording's start time is, in order: metadata.json of Kinect / moseq acquisition, the
# first frame's clock time of a RealSense bag, the container's creation time (Azure .mkv).
_START_TIME_KEYS = ("StartTime", "start_time", "creation_time")


def write_nwb(
    results: ExtractionResults,
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
    """Write extraction results as NWB (see the module docstring for the layout).

    Parameters
    ----------
    results : ExtractionResults
        In memory or backed by ``results_00.h5``; frames and masks are streamed (read a buffer
        of :data:`BUFFER_FRAMES` frames at a time), never loaded whole.
    path_or_nwbfile : path-like or pynwb.NWBFile
        A ``.nwb`` path to write, or an open in-memory ``NWBFile`` to add the results to (the
        caller writes it; the frames are streamed then).
    subject : pynwb.file.Subject or dict, optional
        The animal. A dict of ``Subject`` fields completes the defaults from ``metadata.json``
        (``subject_id`` = ``SubjectName``, ``sex`` = ``"U"``). Species and age are not in
        ``metadata.json``; without them a warning says the file will not pass NWB Inspector.
    session_description : str, optional
        Defaults to a sentence naming ``SessionName``.
    session_start_time : datetime or ISO 8601 str, optional
        Defaults to the recording's: ``StartTime`` of ``metadata.json``, the first frame's clock
        time of a RealSense bag, or the creation time of an Azure ``.mkv``.
    identifier : str, optional
        Defaults to the extraction's uuid.
    experimenter, lab, institution : optional
        NWB file fields.
    include_raw_video : {None, "external", "embedded"}
        Also store the raw depth video (millimetres) in ``acquisition/depth_video``: as a link
        to the recording file (path relative to the NWB file) or embedded, streamed and
        compressed, for the extracted frame range. Needs ``extractor``.
    extractor : DepthVideoExtractor, optional
        The recording the results were extracted from (for ``include_raw_video``).
    overwrite : bool, default False
        Replace an existing file at ``path``.

    Returns
    -------
    pathlib.Path or pynwb.NWBFile
        The file written, or the ``NWBFile`` given.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If the session start time is unknown, or ``include_raw_video`` has no ``extractor``.
    """
    from pynwb import NWBFile

    _check_raw_video_request(include_raw_video, extractor)
    if isinstance(path_or_nwbfile, NWBFile):
        _warn_ignored(
            subject=subject, session_description=session_description,
            session_start_time=session_start_time, identifier=identifier,
            experimenter=experimenter, lab=lab, institution=institution,
        )  # fmt: skip
        nwbfile, path = path_or_nwbfile, None
    else:
        path = _checked_path(Path(path_or_nwbfile), overwrite)
        nwbfile = _new_nwbfile(
            results, subject=subject, session_description=session_description,
            session_start_time=session_start_time, identifier=identifier,
            experimenter=experimenter, lab=lab, institution=institution,
        )  # fmt: skip
    _add_results(
        results, nwbfile, include_raw_video=include_raw_video, extractor=extractor,
        nwb_dir=None if path is None else path.parent,
    )  # fmt: skip
    if path is None:
        return nwbfile
    _write_complete(nwbfile, path)
    return path


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


def _new_nwbfile(
    results: ExtractionResults,
    *,
    subject: Any,
    session_description: str | None,
    session_start_time: datetime | str | None,
    identifier: str | None,
    experimenter: str | list[str] | None,
    lab: str | None,
    institution: str | None,
) -> Any:
    from pynwb import NWBFile

    acquisition = dict(results.metadata.get("acquisition") or {})
    found = session_start_time or next(
        (acquisition[key] for key in _START_TIME_KEYS if acquisition.get(key)), None
    )
    start = _parse_start_time(found)
    if start is None:
        if session_start_time is not None:
            problem = f"session_start_time {session_start_time!r} is not an ISO 8601 date and time"
        elif found is None:
            problem = "the session start time is unknown (the recording's metadata has none)"
        else:
            problem = f"the recording's start time {found!r} is not an ISO 8601 date and time"
        raise ValueError(
            f"{problem}; pass session_start_time=datetime(..., tzinfo=...) or an ISO 8601 "
            "string such as '2024-05-01T10:30:00+02:00' (--session-start-time on the command line)"
        )
    session_name = acquisition.get("SessionName")
    if session_description is None:
        session_description = (
            f"Depth recording of session {session_name} extracted with depthextractors (MoSeq)"
            if session_name
            else "Depth recording extracted with depthextractors (MoSeq)"
        )
    uuid = results.metadata.get("uuid")
    kwargs: dict[str, Any] = {
        "session_description": str(session_description),
        "identifier": str(identifier or uuid or uuid_module.uuid4()),
        "session_start_time": start,
        "session_id": str(session_name or uuid or "").replace("/", "_") or None,
        "subject": _subject(acquisition, subject),
        "was_generated_by": [["depthextractors", str(__version__)]],
        "source_script": "depthextractors (https://github.com/depthextractors/depthextractors)",
        "source_script_file_name": "depthextractors/io/nwb/writing.py",
    }
    if experimenter is not None:
        kwargs["experimenter"] = experimenter
    if lab is not None:
        kwargs["lab"] = lab
    if institution is not None:
        kwargs["institution"] = institution
    return NWBFile(**{k: v for k, v in kwargs.items() if v is not None})


def _add_results(
    results: ExtractionResults,
    nwbfile: Any,
    *,
    include_raw_video: str | None,
    extractor: Any,
    nwb_dir: Path | None,
) -> None:
    """Add the camera, the behavior module and, if asked, the raw video to ``nwbfile``."""
    timestamps = _checked_timestamps(results)
    metadata = results.metadata
    camera_name = str(
        (metadata.get("parameters") or {}).get("camera_type")
        or (metadata.get("acquisition") or {}).get("CameraType")
        or "depth_camera"
    )
    device = _camera_device(nwbfile, camera_name)
    _add_behavior(results, nwbfile, timestamps, device)
    if include_raw_video is not None:
        _add_raw_video(nwbfile, results, include_raw_video, extractor, device, nwb_dir)


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


def _parse_start_time(value: Any) -> datetime | None:
    """metadata.json's ``StartTime`` (e.g. ``2017-01-25T10:42:07.1734698-05:00``) as datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    # .NET writes 7 fractional digits and Python before 3.11 reads at most 6, nor "Z".
    text = _ISO_FRACTION.sub(r"\1", text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


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


def _subject(acquisition: Mapping[str, Any], subject: Any) -> Any:
    from pynwb.file import Subject

    if isinstance(subject, Subject):
        return subject
    fields: dict[str, Any] = {"sex": "U"}
    if acquisition.get("SubjectName"):
        fields["subject_id"] = str(acquisition["SubjectName"]).replace("/", "_")
    if subject is not None:
        if not isinstance(subject, Mapping):
            raise TypeError(
                "subject must be a pynwb.file.Subject or a dict of its fields (e.g. "
                f"{{'species': 'Mus musculus', 'age': 'P12W'}}), got {type(subject).__name__}"
            )
        fields.update(subject)
    missing = [
        name
        for name in ("subject_id", "species", "age")
        if not fields.get(name) and not (name == "age" and fields.get("date_of_birth"))
    ]
    if missing:
        warnings.warn(
            f"the subject has no {', '.join(missing)} (metadata.json gives only SubjectName); "
            "DANDI and NWB Inspector require them: pass e.g. subject={'subject_id': 'mouse-01', "
            "'species': 'Mus musculus', 'age': 'P12W', 'sex': 'M'} (--subject-id, --species, "
            "--age, --sex on the command line)",
            stacklevel=4,
        )
    return Subject(**fields)
