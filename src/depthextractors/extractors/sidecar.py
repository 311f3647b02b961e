"""A recording's side files, read once for every format: metadata, frame rate and size.

Also the check every format makes of the path it is given (:func:`check_recording_path`).

moseq acquisition writes ``metadata.json`` (and ``depth_ts.txt``, read by
:mod:`.timestamp_files`) beside the depth data. Raw files, FFV1 videos and session archives read
it here, whether saved as UTF-8 (with or without the byte-order mark Windows tools add) or
UTF-16. The frame rate follows the same rules everywhere: given, else from the recording's
times, else :data:`~depthextractors.cameras.DEFAULT_SAMPLING_FREQUENCY` with a warning.
Warnings take a ``stacklevel`` counted as the caller would pass it to :func:`warnings.warn`, so
they point at the user's call whatever the depth of helpers.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cameras import (
    CAMERA_PRESETS,
    DEFAULT_SAMPLING_FREQUENCY,
    CameraModel,
    detect_camera,
    get_camera,
)

__all__ = [
    "check_not_infrared",
    "check_recording_path",
    "check_sampling_frequency",
    "decode_text",
    "parse_session_metadata",
    "rate_from_times",
    "read_session_metadata",
    "resolve_camera",
    "resolve_frame_size",
    "resolve_sampling_frequency",
    "sidecar_path",
    "warn_default_rate",
]

logger = logging.getLogger(__name__)

# Byte-order marks, longest first (UTF-32's little-endian mark begins with UTF-16's).
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# ------------------------------------------------------------------------------ where they are
def check_recording_path(file_path: str | os.PathLike, what: str, instead: str) -> Path:
    """``file_path`` as a path, refusing one that does not exist or is a directory.

    Parameters
    ----------
    file_path : path-like
        The recording, as the user gave it.
    what : str
        What is missing, for the message (``"no <what> at <path>"``).
    instead : str
        What to do when it is a directory (``"<path> is a directory; <instead>"``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError, IsADirectoryError
    """
    path = Path(file_path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; {instead}")
    return path


def check_not_infrared(path: Path, allow_ir: bool) -> None:
    """Refuse a file named ``ir.*`` (an infrared recording) unless ``allow_ir``.

    moseq acquisition saves the infrared stream beside the depth in the same format
    (``ir.dat`` beside ``depth.dat``), so a wrong file name alone would give infrared
    intensities read as millimetres.

    Parameters
    ----------
    path : pathlib.Path
        The recording given.
    allow_ir : bool
        Read it anyway (an explicit request).

    Raises
    ------
    ValueError
        If the name is ``ir``, ``ir_*`` or ``ir-*`` (any suffix, any case) and not ``allow_ir``.
    """
    stem = path.name.split(".", 1)[0].casefold()
    if allow_ir or not (stem == "ir" or stem.startswith(("ir_", "ir-"))):
        return
    raise ValueError(
        f"{path} is named as an infrared recording, not depth: moseq acquisition saves the IR "
        "stream beside the depth in the same format, so its intensities would be read as "
        "millimetres. Pass the depth file (depth.*), or allow_ir=True to read it anyway"
    )


def sidecar_path(data_path: Path, path: str | os.PathLike | None, default_name: str) -> Path | None:
    """Where a side file of a recording is: ``path`` as given, or ``default_name`` beside it.

    Parameters
    ----------
    data_path : pathlib.Path
        The recording.
    path : path-like, "auto" or None
        ``"auto"`` looks for ``default_name`` in the recording's folder (``None`` if absent);
        ``None`` means no side file; anything else is used as given.
    default_name : str
        File name to look for with ``"auto"`` (e.g. ``"metadata.json"``).
    """
    if path is None:
        return None
    if isinstance(path, str) and path == "auto":
        candidate = data_path.with_name(default_name)
        return candidate if candidate.is_file() else None
    return Path(path)


# ------------------------------------------------------------------------------ metadata.json
def decode_text(data: bytes) -> str:
    """The text of a side file saved as UTF-8 (with or without a byte-order mark) or UTF-16.

    Windows tools write a byte-order mark (Notepad, PowerShell's ``Out-File``) and some write
    UTF-16; without a mark, UTF-16 shows as a zero byte beside every ASCII character. Bytes
    that are not valid in the encoding become U+FFFD, so a damaged file still decodes and the
    damage shows where it is.

    Parameters
    ----------
    data : bytes
        The file's contents.

    Returns
    -------
    str
    """
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return data.decode(encoding, "replace")
    if len(data) >= 2 and (data[0] == 0) != (data[1] == 0):
        return data.decode("utf-16-be" if data[0] == 0 else "utf-16-le", "replace")
    return data.decode("utf-8", "replace")


def read_session_metadata(path: Path | None, stacklevel: int = 2) -> dict[str, Any]:
    """The JSON object in a session's ``metadata.json``; ``{}`` (with a warning) if unreadable.

    Parameters
    ----------
    path : pathlib.Path or None
        The ``metadata.json`` file (UTF-8, with or without a byte-order mark, or UTF-16);
        ``None`` gives ``{}``.
    stacklevel : int, default 2
        As the caller would pass it to :func:`warnings.warn`.

    Returns
    -------
    dict
    """
    if path is None:
        return {}
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        warnings.warn(f"could not read session metadata {path}: {error}", stacklevel=stacklevel + 1)
        return {}
    return parse_session_metadata(data, path, stacklevel + 1)


def parse_session_metadata(data: str | bytes, source: Any, stacklevel: int = 2) -> dict[str, Any]:
    """The JSON object in the text (or bytes, see :func:`decode_text`) of a ``metadata.json``.

    Parameters
    ----------
    data : str or bytes
        The file's contents.
    source : object
        What the file is called in messages.
    stacklevel : int, default 2
        As the caller would pass it to :func:`warnings.warn`.

    Returns
    -------
    dict
        ``{}`` (with a warning) if the contents are not a JSON object.
    """
    text = decode_text(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        warnings.warn(
            f"could not read session metadata {source}: {error}", stacklevel=stacklevel + 1
        )
        return {}
    if not isinstance(metadata, dict):
        warnings.warn(
            f"session metadata {source} is not a JSON object; ignored", stacklevel=stacklevel + 1
        )
        return {}
    return metadata


# ------------------------------------------------------------------------------ frame rate
def check_sampling_frequency(sampling_frequency: float | None) -> float | None:
    """A frame rate given by the user, as a float; None stays None.

    Raises
    ------
    ValueError
        If it is not a positive, finite number of Hz.
    """
    if sampling_frequency is None:
        return None
    value = float(sampling_frequency)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"sampling_frequency must be a positive number of Hz, got {value}")
    return value


def rate_from_times(times: np.ndarray | None, seconds_per_unit: float = 1.0) -> float | None:
    """Frames per second from the median interval of ``times``; None if that is not positive.

    Parameters
    ----------
    times : numpy.ndarray or None
        Frame times (None, or fewer than two, give None).
    seconds_per_unit : float, default 1.0
        Seconds per unit of ``times`` (a stream's time base for pts).

    Returns
    -------
    float or None
        Hz.
    """
    if times is None or times.size < 2:
        return None
    interval = float(np.median(np.diff(times))) * seconds_per_unit
    return 1.0 / interval if interval > 0 else None


def warn_default_rate(reason: str, stacklevel: int = 2) -> float:
    """Warn that the default frame rate is assumed (``"<reason>; assuming 30 Hz"``); return it."""
    warnings.warn(
        f"{reason}; assuming {DEFAULT_SAMPLING_FREQUENCY:g} Hz", stacklevel=stacklevel + 1
    )
    return DEFAULT_SAMPLING_FREQUENCY


def resolve_sampling_frequency(
    sampling_frequency: float | None, times_s: np.ndarray | None, source: Any, stacklevel: int = 2
) -> float:
    """The frame rate of a session: given, else from its times, else the default with a warning.

    Parameters
    ----------
    sampling_frequency : float or None
        Given by the user, Hz (checked).
    times_s : numpy.ndarray or None
        Frame times, seconds.
    source : object
        What the recording is called in the warning.
    stacklevel : int, default 2
        As the caller would pass it to :func:`warnings.warn`.

    Returns
    -------
    float
        Hz.
    """
    if sampling_frequency is not None:
        return check_sampling_frequency(sampling_frequency)
    rate = rate_from_times(times_s)
    if rate is not None:
        return rate
    return warn_default_rate(
        f"{source}: no sampling_frequency given and no usable timestamps", stacklevel + 1
    )


# ------------------------------------------------------------------------------ camera
def resolve_camera(
    camera: str | CameraModel, image_size: tuple[int, int], *named: Any
) -> CameraModel:
    """The camera of a recording whose frames are ``image_size``.

    ``"auto"`` takes the first preset that ``named`` names (``CameraType`` in the session's
    ``metadata.json``, which this project's writers and generator record; a container tag)
    when its frames are that size, and otherwise detects the camera from the size alone. The
    size does not always tell: the RealSense D415's and D435's 1280x720 frames cover fields of
    view 1.5 times apart, and so pixel sizes 1.5 times apart (what the animal's size is
    measured with).

    Parameters
    ----------
    camera : str or CameraModel
        As the extractors take it ("auto", a family, a preset name or a model).
    image_size : tuple of int
        ``(rows, cols)`` of the frames.
    *named : object
        Preset names the recording gives, most trusted first (``None`` and anything that is
        not a preset of that size are passed over).

    Returns
    -------
    CameraModel
    """
    if isinstance(camera, str) and camera == "auto":
        for name in named:
            preset = CAMERA_PRESETS.get(name) if isinstance(name, str) else None
            if preset is not None and preset.image_size == tuple(image_size):
                return preset
    return get_camera(camera, image_size)


# ------------------------------------------------------------------------------ frame size
def resolve_frame_size(
    source: str,
    camera: str | CameraModel,
    frame_size: tuple[int, int] | None,
    depth_bytes: int,
    itemsize: int,
    metadata: Callable[[], dict[str, Any]],
) -> tuple[int, int]:
    """The ``(rows, cols)`` of a headerless depth stream, as raw sessions find it.

    In order: ``frame_size`` (a (width, height) of a known camera is warned about), a camera
    preset, ``DepthResolution`` [width, height] in the session metadata, then the file size:
    Kinect v2 when it fits or when no preset does (moseq2-extract's assumption, so the caller's
    whole-frame check names the byte counts), else the only preset that divides it.

    Parameters
    ----------
    source : str
        What to name in messages (the file, or the archive member).
    camera : str or CameraModel
        As the extractors take it ("auto", a family, a preset name or a model).
    frame_size : tuple of int or None
        ``(rows, cols)`` given by the user.
    depth_bytes : int
        Size of the depth data, bytes.
    itemsize : int
        Bytes per sample (2).
    metadata : callable
        Returns the session metadata; called only when the size has to come from it.

    Returns
    -------
    tuple of int
        ``(rows, cols)`` in pixels.

    Raises
    ------
    ValueError
        If ``frame_size`` is malformed, or several presets fit and nothing else tells.
    """
    if frame_size is not None:
        return _given_frame_size(frame_size)
    if isinstance(camera, CameraModel):
        return camera.image_size
    if isinstance(camera, str) and camera in CAMERA_PRESETS:
        return CAMERA_PRESETS[camera].image_size
    resolution = metadata().get("DepthResolution")
    if resolution is not None:
        try:
            width, height = (int(v) for v in resolution)
        except (TypeError, ValueError):
            warnings.warn(
                f"DepthResolution in {source}'s metadata.json should be [width, height], got "
                f"{resolution!r}; ignored",
                stacklevel=3,
            )
        else:
            return height, width
    return _frame_size_from_bytes(
        source, None if camera == "auto" else camera, depth_bytes, itemsize
    )


def _given_frame_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    """``frame_size`` checked, with a warning when it looks like a (width, height)."""
    size = tuple(int(v) for v in frame_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"frame_size must be (rows, cols) of positive ints, got {frame_size}")
    swapped = detect_camera(size[::-1])
    if swapped.name != "unknown" and detect_camera(size).name == "unknown":
        warnings.warn(
            f"frame_size is (rows, cols); {size} looks like the (width, height) of "
            f"{swapped.name}, whose frames are {swapped.image_size} (rows, cols)",
            stacklevel=4,
        )
    return size


def _frame_size_from_bytes(
    source: str, family: str | None, depth_bytes: int, itemsize: int
) -> tuple[int, int]:
    """The frame size of the camera presets (of ``family``) that divide ``depth_bytes``."""
    candidates = list(
        dict.fromkeys(
            preset.image_size
            for preset in CAMERA_PRESETS.values()
            if family in (None, preset.family)
            and depth_bytes % (preset.rows * preset.cols * itemsize) == 0
        )
    )
    kinect = CAMERA_PRESETS["kinect_v2"].image_size
    if family in (None, "kinect") and (kinect in candidates or not candidates):
        return kinect
    if len(candidates) == 1:
        logger.info("%s: frame size %s inferred from the file size", source, candidates[0])
        return candidates[0]
    raise ValueError(
        f"cannot tell the frame size of {source} ({depth_bytes} bytes): "
        + (
            f"it is a whole number of frames for several cameras {candidates}"
            if candidates
            else "it is not a whole number of frames of any known camera"
        )
        + "; pass frame_size=(rows, cols) or camera=<preset>, or put metadata.json with "
        "DepthResolution [width, height] beside it"
    )
