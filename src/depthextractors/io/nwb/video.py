"""The raw depth video in ``acquisition/depth_video``, losslessly: a linked FFV1 ``.avi`` (the
recording's own, or a verified conversion of it), or embedded."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..results import ExtractionResults
from .layout import RAW_VIDEO_NAME
from .streaming import _SharedClock, _stream, _timing


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
    *,
    clock: _SharedClock,
    zero: float,
    nwb_path: Path | None,
    overwrite: bool,
    created: list[Path],
) -> None:
    """Add the raw video as ``mode`` says: ``"external"`` (a linked FFV1 ``.avi``) or
    ``"embedded"``; a video converted for it is appended to ``created``."""
    if mode == "external":
        _link_raw_video(nwbfile, extractor, device, zero, nwb_path, overwrite, created)
    else:
        _embed_raw_video(nwbfile, results, extractor, device, clock)


def _linkable_video(
    extractor: Any, nwb_path: Path | None, overwrite: bool, created: list[Path]
) -> tuple[Any, Path]:
    """The recording as an FFV1 ``.avi`` DANDI accepts: its own file when it is one, else a
    lossless copy ``<nwb name>/depth.avi`` beside the NWB file (verified frame by frame).
    Returns the extractor of all the recording's frames (for their times) and the video."""
    from ...extractors import FFV1DepthExtractor
    from ...extractors.writers import write_ffv1_video

    source, file_path = _source_file(extractor)
    if (
        file_path is not None
        and file_path.suffix.lower() == ".avi"
        and isinstance(source, FFV1DepthExtractor)
    ):
        return source, file_path
    if nwb_path is None:
        raise ValueError(
            f"the recording ({type(extractor).__name__}"
            f"{'' if file_path is None else ' of ' + file_path.name}) is not an FFV1 .avi, so "
            "it would be converted to one beside the NWB file, whose location is unknown here: "
            "convert it first (depthextractors convert-raw-to-avi) or use "
            "include_raw_video='embedded'"
        )
    # In a folder named after the NWB file, as `dandi organize` places a file's videos.
    target = nwb_path.with_suffix("") / "depth.avi"
    folder_is_new = not target.parent.exists()
    target.parent.mkdir(exist_ok=True)
    # Before the long encode: the files it writes beside the video, to be removed on failure.
    beside = [target.with_name("depth_ts.txt"), target.with_name("metadata.json")]
    new_beside = [path for path in beside if not path.exists()]
    whole = source if file_path is not None else extractor
    try:
        write_ffv1_video(whole, target, progress=False, overwrite=overwrite)
    except BaseException:
        if folder_is_new and not any(target.parent.iterdir()):
            target.parent.rmdir()
        raise
    # Removed again if the NWB file then fails (never a video that was there before).
    created += [target, *(path for path in new_beside if path.exists())]
    if folder_is_new:
        created.append(target.parent)
    return whole, target


def _link_raw_video(
    nwbfile: Any,
    extractor: Any,
    device: Any,
    zero: float,
    nwb_path: Path | None,
    overwrite: bool,
    created: list[Path],
) -> None:
    """The whole recording as a linked FFV1 ``.avi``, by its path relative to the NWB file."""
    from pynwb.image import ImageSeries

    source, file_path = _linkable_video(extractor, nwb_path, overwrite, created)
    if nwb_path is not None:
        reference = os.path.relpath(file_path.resolve(), nwb_path.parent.resolve())
    else:
        reference = str(file_path)
        # Points at the caller of write_nwb (through _add_raw_video and _add_results).
        warnings.warn(
            f"the raw video is linked by the absolute path {reference}: the NWB file's "
            "location is unknown; NWB Inspector and DANDI want a path relative to it",
            stacklevel=5,
        )
    times = np.asarray(source.get_timestamps(), dtype=np.float64) - zero
    rows, cols = source.get_image_size()
    nwbfile.add_acquisition(
        ImageSeries(
            name=RAW_VIDEO_NAME,
            external_file=[reference],
            starting_frame=[0],
            format="external",
            unit="millimeters",
            dimension=[int(cols), int(rows)],
            description=(
                f"Raw depth video ({cols}x{rows} pixels, millimetres from the camera, 0 = no "
                f"reading), all {times.size} frames of the recording, in the lossless FFV1 "
                f"video {file_path.name} (16-bit grey, gray16le)"
            ),
            device=device,
            **_timing(times),
        )
    )


def _embed_raw_video(
    nwbfile: Any, results: ExtractionResults, extractor: Any, device: Any, clock: _SharedClock
) -> None:
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
    # The same frames as the results: their timestamps linked, or their rate.
    nwbfile.add_acquisition(
        clock.series(
            ImageSeries,
            name=RAW_VIDEO_NAME,
            data=_stream(_ExtractorFrames(clip), buffer_frames=64),
            unit="millimeters",
            format="raw",
            description=(
                f"Raw depth video ({cols}x{rows} pixels, millimetres from the camera, 0 = no "
                f"reading) of the extracted frames {first}..{last}"
            ),
            device=device,
        )
    )
