"""How the Azure Kinect recorder lays out a Matroska file, recognised from its header.

Its tracks are titled (``COLOR``, ``DEPTH``, ``IR``, ``IMU``) and it tags the file with
``K4A_*`` tags. Importing this module registers that layout with the readers of plain videos
(:func:`~.containers.pyav.register_recorder_layout`), so the FFV1 reader, which also opens
``.mkv`` files, never takes a recorder's file for a plain depth video.
"""

from __future__ import annotations

from pathlib import Path

import av

from .containers.pyav import RecorderLayout, register_recorder_layout

__all__ = ["find_titled_video_stream", "is_azure_recording"]


def find_titled_video_stream(
    container: av.container.InputContainer, title: str
) -> av.video.stream.VideoStream | None:
    """The video stream whose ``title`` tag is ``title`` (case-insensitive), or ``None``.

    Parameters
    ----------
    container : av.container.InputContainer
        An open container.
    title : str
        Track title, e.g. ``"DEPTH"`` or ``"IR"``.

    Returns
    -------
    av.video.stream.VideoStream or None
    """
    wanted = title.casefold()
    for stream in container.streams.video:
        if str(stream.metadata.get("title", "")).casefold() == wanted:
            return stream
    return None


def _has_azure_tags(container: av.container.InputContainer) -> bool:
    return any(str(key).upper().startswith("K4A_") for key in container.metadata)


def is_azure_recording(container: av.container.InputContainer) -> bool:
    """Azure tags, or a video track titled DEPTH: a recording to read as Azure's."""
    return _has_azure_tags(container) or find_titled_video_stream(container, "DEPTH") is not None


def _claims(container: av.container.InputContainer) -> bool:
    """Azure tags, or any track titled depth: not a plain depth video."""
    titles = {str(s.metadata.get("title", "")).casefold() for s in container.streams}
    return "depth" in titles or _has_azure_tags(container)


def _refusal(container: av.container.InputContainer, path: Path) -> str | None:
    """Why a reader of plain videos must not read an Azure recording's first video track."""
    if not _has_azure_tags(container):
        return None
    titles = [str(s.metadata.get("title", "(untitled)")) for s in container.streams.video]
    return (
        f"{path} is an Azure Kinect recording without a DEPTH track (video "
        f"tracks: {titles}); it holds no depth. Record with the depth camera on, or "
        "read another track with AzureDepthExtractor(path, track=...)"
    )


# The FFV1 reader, which also opens .mkv files, asks this before taking one as a plain video.
register_recorder_layout(RecorderLayout(claims=_claims, refusal=_refusal))
