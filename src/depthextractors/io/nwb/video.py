"""The raw depth video in ``acquisition/depth_video``: linked as an external file or embedded."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..results import ExtractionResults
from .layout import MODULE_NAME, RAW_VIDEO_NAME, VIDEO_NAME
from .streaming import _stream, _timing


class _ExtractorFrames:
    """Adapts a depth extractor to the slicing the chunk iterator needs (frames axis first)."""

    def __init__(self, extractor: Any) -> None:
        rows, cols = extractor.get_image_size()
        self._extractor = extractor
        self.shape = (int(extractor.get_num_frames()), int(rows), int(cols))
        self.dtype = np.dtype(extractor.get_dtype())

    def __getitem__(self, selection: tuple[slice, ...]) -> np.ndarray:
        frames = selection[0]
        video = self._extractor.get_video(frames.start, frames.stop)
        return video[(slice(None), *selection[1:])]


def _source_file(extractor: Any) -> tuple[Any, Path | None]:
    source = extractor
    while source is not None:
        path = getattr(source, "file_path", None)
        if path is not None:
            return source, Path(path)
        source = getattr(source, "parent", None)
    return extractor, None


def _add_raw_video(
    nwbfile: Any,
    results: ExtractionResults,
    mode: str,
    extractor: Any,
    device: Any,
    nwb_dir: Path | None,
) -> None:
    """Add the raw video as ``mode`` says: ``"external"`` (linked) or ``"embedded"``."""
    if mode == "external":
        _link_raw_video(nwbfile, extractor, device, nwb_dir)
    else:
        _embed_raw_video(nwbfile, results, extractor, device)


def _link_raw_video(nwbfile: Any, extractor: Any, device: Any, nwb_dir: Path | None) -> None:
    """The whole recording file, linked by its path relative to the NWB file's directory."""
    from pynwb.image import ImageSeries

    source, file_path = _source_file(extractor)
    if file_path is None:
        raise ValueError(
            f"{type(extractor).__name__} reads no file, so the raw video cannot be linked "
            "as an external file; use include_raw_video='embedded'"
        )
    if nwb_dir is not None:
        reference = os.path.relpath(file_path.resolve(), nwb_dir.resolve())
    else:
        reference = str(file_path)
        # Points at the caller of write_nwb (through _add_raw_video and _add_results).
        warnings.warn(
            f"the raw video is linked by the absolute path {reference}: the NWB file's "
            "location is unknown; NWB Inspector and DANDI want a path relative to it",
            stacklevel=5,
        )
    times = np.asarray(source.get_timestamps(), dtype=np.float64)
    rows, cols = source.get_image_size()
    timing = _timing(times)
    nwbfile.add_acquisition(
        ImageSeries(
            name=RAW_VIDEO_NAME,
            external_file=[reference],
            starting_frame=[0],
            format="external",
            unit="millimeters",
            dimension=[int(cols), int(rows)],
            description=(
                f"Raw depth video ({cols}x{rows} pixels, millimetres from the camera) in "
                f"the recording file {file_path.name}, all {times.size} frames"
            ),
            device=device,
            **timing,
        )
    )


def _embed_raw_video(nwbfile: Any, results: ExtractionResults, extractor: Any, device: Any) -> None:
    """The extracted frame range of the recording, streamed and compressed into the file."""
    from pynwb.image import ImageSeries

    first = int(results.metadata.get("first_frame_idx", 0))
    last = int(results.metadata.get("last_frame_idx", first + len(results)))
    if last - first != len(results):
        raise ValueError(
            f"the results cover frames {first}..{last} but hold {len(results)} frames; the raw "
            "video cannot be aligned with them"
        )
    clip = extractor.frame_slice(first, last)
    rows, cols = clip.get_image_size()
    video = nwbfile.processing[MODULE_NAME][VIDEO_NAME]
    # The same frames as the crops: their timestamps linked, or their rate.
    timing: dict[str, Any] = (
        {"timestamps": video}
        if video.timestamps is not None
        else {"starting_time": video.starting_time, "rate": video.rate}
    )
    nwbfile.add_acquisition(
        ImageSeries(
            name=RAW_VIDEO_NAME,
            data=_stream(_ExtractorFrames(clip), buffer_frames=64),
            unit="millimeters",
            format="raw",
            description=(
                f"Raw depth video ({cols}x{rows} pixels, millimetres from the camera, 0 = no "
                f"reading) of the extracted frames {first}..{last}"
            ),
            device=device,
            **timing,
        )
    )
