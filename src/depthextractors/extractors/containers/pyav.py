"""Video containers read through PyAV and kept open between reads.

What the readers of ``.avi`` / ``.mkv`` files share: opening a container with messages that name
the file, the Matroska size check that notices a file cut short, locked reads on the one open
container of a reader and closing it, and the hook through which a recorder's own layout in a
generic container (an Azure Kinect ``.mkv``) keeps readers of plain videos off its files.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..base import DEPTH_DTYPE
from ..errors import CorruptRecordingError
from ..sidecar import check_recording_path
from .matroska import DamagedMatroska, check_header, declared_size

__all__ = [
    "OpenContainerLifecycle",
    "RecorderLayout",
    "check_declared_size",
    "open_video_container",
    "recorder_layout_claims",
    "recorder_layout_refusal",
    "register_recorder_layout",
    "sniff_container",
]


def open_video_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading with PyAV, turning libav errors into messages naming the file.

    A Matroska file's header is checked first (its structure and CRC-32s): libav would read
    past damage in it.

    Parameters
    ----------
    path : pathlib.Path
        The video file.

    Returns
    -------
    av.container.InputContainer

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is empty or is not a container libav can read.
    CorruptRecordingError
        If the header is damaged: a Matroska header whose structure or CRC-32 fails
        (:func:`~.matroska.check_header`), or text tags that are not UTF-8.
    """
    check_recording_path(
        path,
        "video file",
        "pass the video file inside it, or use open_depth_video(directory) to find it",
    )
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): it holds no video; re-copy or re-record it")
    try:
        check_header(path)
    except DamagedMatroska as damage:
        raise CorruptRecordingError(
            f"{path} is corrupt: {damage}. Copy it again from its source"
        ) from damage
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        raise ValueError(
            f"{path} is not a video file libav can read ({error}); expected a depth video "
            "(FFV1 .avi/.mkv or an Azure Kinect .mkv). The file may be truncated at its start, "
            "damaged, or not a video at all"
        ) from error
    except UnicodeDecodeError as error:
        # libav read text tags that are not UTF-8: damage in the header.
        raise CorruptRecordingError(
            f"{path} is corrupt: its header holds text that is not valid UTF-8 ({error}). Copy "
            "it again from its source"
        ) from error


def sniff_container(
    path: str | os.PathLike, test: Callable[[av.container.InputContainer], bool]
) -> bool:
    """``test(container)`` on the file at ``path`` opened with PyAV; False if it cannot be opened.

    For the ``sniff`` classmethods by which :func:`~depthextractors.extractors.open_depth_video`
    tells apart the formats that share a suffix.
    """
    try:
        with av.open(str(path), mode="r") as container:
            return test(container)
    except (av.error.FFmpegError, OSError):
        return False


def check_declared_size(path: Path, allow_truncated: bool, stacklevel: int) -> None:
    """Refuse (or, with ``allow_truncated``, warn about) a file shorter than its header says.

    Parameters
    ----------
    path : pathlib.Path
        The video file; only Matroska files declare their size, others pass.
    allow_truncated : bool
        Warn instead of raising.
    stacklevel : int
        Where the warning points, counted from the caller (as ``warnings.warn`` counts it).

    Raises
    ------
    ValueError
        If the file holds fewer bytes than its Matroska Segment declares and
        ``allow_truncated`` is False.
    """
    declared = declared_size(path)
    actual = path.stat().st_size
    if declared is None or actual >= declared:
        return
    message = (
        f"{path} holds {actual} bytes but its Matroska header says {declared}: "
        "the file is truncated (a copy that did not finish, or a recording cut short)"
    )
    if not allow_truncated:
        raise ValueError(
            message + ". Re-copy the file, or pass allow_truncated=True to read the whole "
            "frames that are there"
        )
    warnings.warn(message + "; reading the whole frames that are there", stacklevel=stacklevel + 1)


@dataclass(frozen=True)
class RecorderLayout:
    """A recorder's own layout inside a generic video container, recognised from its header.

    Attributes
    ----------
    claims : callable
        ``claims(container) -> bool``: the file is the recorder's, so a reader of plain videos
        says no when asked whether it reads it (``sniff``).
    refusal : callable
        ``refusal(container, path) -> str or None``: why a reader of plain videos must not read
        the file as one (the message of the ``ValueError`` it raises), or None if it may.
    """

    claims: Callable[[av.container.InputContainer], bool]
    refusal: Callable[[av.container.InputContainer, Path], str | None]


_RECORDER_LAYOUTS: list[RecorderLayout] = []


def register_recorder_layout(layout: RecorderLayout) -> None:
    """Make readers of plain videos consult ``layout`` (done by the recorder's extractor module)."""
    _RECORDER_LAYOUTS.append(layout)


def recorder_layout_claims(container: av.container.InputContainer) -> bool:
    """Whether a registered recorder layout claims the open ``container``."""
    return any(layout.claims(container) for layout in _RECORDER_LAYOUTS)


def recorder_layout_refusal(container: av.container.InputContainer, path: Path) -> str | None:
    """The first registered recorder layout's reason not to read ``container`` as a plain video."""
    for layout in _RECORDER_LAYOUTS:
        reason = layout.refusal(container, path)
        if reason is not None:
            return reason
    return None


class OpenContainerLifecycle:
    """Locked reads and closing for readers that keep a file open between reads.

    A reader sets ``_container`` (the open container, or None), ``_lock`` (an RLock) and
    ``_image_size`` (rows, cols), and lists in ``_DECODER_STATE`` the attributes that belong to
    the open container; they are cleared when it closes (the next read reopens the file).
    """

    _DECODER_STATE: tuple[str, ...] = ()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _read_locked(
        self, start_frame: int, end_frame: int, fill: Callable[[np.ndarray, int], None]
    ) -> np.ndarray:
        """Frames ``start_frame`` to ``end_frame`` filled by ``fill(video, start_frame)``.

        One open container per reader: reads from several threads take turns. After any
        failure the container's position is unknown, so it is closed (reopened next time).
        """
        rows, cols = self._image_size
        video = np.empty((end_frame - start_frame, rows, cols), dtype=DEPTH_DTYPE)
        if video.shape[0] == 0:
            return video
        with self._lock:
            try:
                fill(video, start_frame)
            except BaseException:
                self.close()
                raise
        return video

    def close(self) -> None:
        """Close the open container (it is reopened on the next read)."""
        container = self.__dict__.get("_container")
        self.__dict__.update(dict.fromkeys(("_container", *self._DECODER_STATE)))
        if container is not None:
            container.close()
