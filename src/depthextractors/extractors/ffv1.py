"""Lossless 16-bit depth videos (FFV1 ``gray16le`` in ``.avi``, ``.mkv`` or ``.nut``) via PyAV.

moseq2-extract's ``convert-raw-to-avi`` writes depth as FFV1 ``gray16le`` in an AVI container with
a keyframe every ``g`` frames. This reader needs no ffmpeg binary: PyAV demuxes and decodes in
process. Frames are found by their presentation timestamps (pts, in the stream's time base),
never by ``frame / fps`` seconds, so random access is frame-exact whatever the container.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..cameras import CameraModel
from .base import TIMESTAMPS_FROM_CONTAINER, TIMESTAMPS_MADE_UP, DepthVideoExtractor
from .containers.ffv1_index import count_packets, file_is_complete, index_from_entries
from .containers.ffv1_slices import ffv1_slices_intact
from .containers.matroska import DamagedMatroska
from .containers.matroska_blocks import ClusterChecker, track_blocks
from .containers.pyav import (
    OpenContainerLifecycle,
    check_declared_size,
    open_video_container,
    recorder_layout_claims,
    recorder_layout_refusal,
    sniff_container,
)
from .errors import CorruptRecordingError
from .sidecar import (
    check_not_infrared,
    rate_from_times,
    read_session_metadata,
    resolve_camera,
    sidecar_path,
    warn_default_rate,
)
from .timestamp_files import load_timestamps

__all__ = ["FFV1DepthExtractor"]

GREY16_PIXEL_FORMATS = ("gray16le", "gray16be")
# Packets looked at to tell whether a video was written with FFV1 slice CRCs: one damaged
# packet must not switch the checks off for the whole file.
_CRC_PROBE_PACKETS = 8


def _is_plain_video(container: av.container.InputContainer) -> bool:
    return bool(container.streams.video) and not recorder_layout_claims(container)


class FFV1DepthExtractor(OpenContainerLifecycle, DepthVideoExtractor):
    """A 16-bit grey depth video (FFV1 ``gray16le``, as moseq2's ``convert-raw-to-avi`` writes).

    Opening reads the container's index (or, where it has none or it disagrees with the header,
    counts the packets without decoding them); no frame is decoded until asked for. Consecutive
    :meth:`get_video` calls continue decoding where the last one stopped; a jump seeks to the
    nearest keyframe at or before the wanted frame and decodes forward to it.

    Damage is refused, never shown: a file cut short raises on opening (unless
    ``allow_truncated``), a packet that cannot be decoded raises naming the frame, and for FFV1
    written with slice CRCs (moseq2's ``convert-raw-to-avi`` and :func:`write_ffv1_video` write
    them) every frame's CRCs are checked before decoding, because the decoder itself only
    logs a mismatch and conceals it with pixels of the previous frame.

    Parameters
    ----------
    file_path : path-like
        The video (``.avi``, ``.mkv``, ``.nut``).
    camera : str or CameraModel, default "auto"
        ``"auto"`` takes ``CameraType`` from ``metadata.json`` beside the file, else a
        ``camera`` tag of the container, else detects the camera from the frame size; or a family
        name, a preset name, or a :class:`~depthextractors.cameras.CameraModel`.
    timestamps_path : path-like, "auto" or None, default "auto"
        Timestamp file (first column, milliseconds), as moseq writes ``depth_ts.txt``. ``"auto"``
        uses ``<stem>_ts.txt`` beside the video (``depth_ts.txt`` for ``depth.avi``) when present
        and of the right length; otherwise times come from the stream's pts.
    metadata_path : path-like, "auto" or None, default "auto"
        Session metadata JSON; ``"auto"`` uses ``metadata.json`` beside the file when present.
    threads : int, default 0
        Decoder threads; 0 lets libav choose (about one per core).
    allow_truncated : bool, default False
        When the header promises more frames than the file holds (a recording cut short), read
        the frames that are there, with a warning, instead of raising.
    check_slice_crcs : bool, default True
        Verify the FFV1 slice CRCs of every frame before decoding it (about a tenth of the
        decoding time); turn off only for files already verified.
    track : str, optional
        Title of the video stream to read. By default the stream titled as depth (a title
        containing "depth"), else the first video stream if it has no title; a stream titled
        otherwise (``IR``, ``COLOR``) is read only when named here.
    allow_ir : bool, default False
        Read a file named ``ir.*`` (moseq's infrared recording), which is refused otherwise.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, not a video, has no video stream (or none titled ``track``, or
        only streams titled as something other than depth), is not 16-bit grey, is named
        ``ir.*`` (without ``allow_ir``) or is truncated (unless ``allow_truncated``).
    CorruptRecordingError
        When a frame read fails its slice CRC or cannot be decoded, or the container's index
        contradicts its packets.
    """

    extractor_name = "FFV1DepthExtractor"
    _DECODER_STATE = ("_stream", "_decoded", "_next_frame")

    def __init__(
        self,
        file_path: str | os.PathLike,
        camera: str | CameraModel = "auto",
        timestamps_path: str | os.PathLike | None = "auto",
        metadata_path: str | os.PathLike | None = "auto",
        threads: int = 0,
        allow_truncated: bool = False,
        check_slice_crcs: bool = True,
        track: str | None = None,
        allow_ir: bool = False,
    ) -> None:
        super().__init__()
        self.file_path = Path(file_path)
        check_not_infrared(self.file_path, allow_ir)
        self._check_slice_crcs = bool(check_slice_crcs)
        self.track = None if track is None else str(track)
        self.threads = int(threads)
        if self.threads < 0:
            raise ValueError(f"threads must be 0 (automatic) or a positive count, got {threads}")
        container = open_video_container(self.file_path)
        try:
            self._read_header(container, allow_truncated)
        finally:
            container.close()
        self._metadata = read_session_metadata(
            sidecar_path(self.file_path, metadata_path, "metadata.json")
        )
        self._times_s = self._load_times(timestamps_path)
        self._camera = self._resolve_camera(camera)
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._decoded: Iterator[tuple[int | None, np.ndarray]] | None = None
        self._next_frame: int | None = None
        self._lock = threading.RLock()

    @classmethod
    def sniff(cls, path: str | os.PathLike) -> bool:
        """Whether ``path`` holds a video stream that no recorder's layout claims.

        A recorder's extractor module registers the layout of its files (Azure Kinect
        recordings are claimed by :mod:`.azure`), so this says no to them.

        Parameters
        ----------
        path : path-like
            A video file.

        Returns
        -------
        bool
            False also when the file cannot be opened.
        """
        return sniff_container(path, _is_plain_video)

    # ------------------------------------------------------------------ set-up
    def _read_header(self, container: av.container.InputContainer, allow_truncated: bool) -> None:
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams}) or ["none"]
            raise ValueError(
                f"{self.file_path} has no video stream (streams found: {', '.join(kinds)}); "
                "expected a 16-bit grey depth video"
            )
        refusal = recorder_layout_refusal(container, self.file_path)
        if refusal is not None:
            raise ValueError(refusal)
        stream = self._choose_stream(container)
        context = stream.codec_context
        pixel_format = None if context is None else context.pix_fmt
        if pixel_format is None:
            raise CorruptRecordingError(
                f"{self.file_path}: the video stream's pixel format cannot be read: its codec "
                "description in the file header is damaged. Re-copy the file from its source, "
                "or convert the raw depth.dat again"
            )
        if pixel_format not in GREY16_PIXEL_FORMATS:
            raise ValueError(
                f"{self.file_path}: the video stream is {context.name} {pixel_format}, expected "
                f"16-bit grey ({' or '.join(GREY16_PIXEL_FORMATS)}) depth in millimetres. An "
                "8-bit or colour video (e.g. a preview movie) cannot hold depth; convert the raw "
                "depth.dat with convert_raw_to_avi instead"
            )
        self._stream_index = stream.index
        self._codec_name = context.name
        self._pixel_format = pixel_format
        self._image_size = (int(context.height), int(context.width))
        self._time_base = stream.time_base or Fraction(1, 1)
        self._container_tags = dict(container.metadata)
        self._stream_tags = dict(stream.metadata)

        check_declared_size(self.file_path, allow_truncated, stacklevel=3)
        index = index_from_entries(stream, self.file_path.stat().st_size)
        header_frames = int(stream.frames)
        if index is None:
            index = count_packets(container, stream, self.file_path, stacklevel=4)
            if index.time_base is not None:
                self._time_base = index.time_base
            counted = index.pts.size
            if header_frames > counted and file_is_complete(self.file_path):
                raise CorruptRecordingError(
                    f"{self.file_path}: the header says {header_frames} frames but the file, "
                    f"which is complete (not cut short), holds {counted}: its header or index "
                    "is damaged. Re-copy the file from its source, or convert the raw depth.dat "
                    "again"
                )
            if header_frames > counted:
                message = (
                    f"{self.file_path}: the header promises {header_frames} frames but the file "
                    f"holds {counted} whole frames (frames {counted}..{header_frames - 1} are "
                    "missing); the recording was cut short or the copy is incomplete"
                )
                if not allow_truncated:
                    raise ValueError(
                        message + ". Re-copy the file, or pass allow_truncated=True to read the "
                        f"{counted} frames that are there"
                    )
                warnings.warn(message + f"; reading the first {counted} frames", stacklevel=3)
            elif 0 < header_frames < counted:
                warnings.warn(
                    f"{self.file_path}: the header says {header_frames} frames but {counted} "
                    "were counted; using the counted frames",
                    stacklevel=3,
                )
        if index.pts.size == 0:
            raise ValueError(f"{self.file_path} has a video stream but no frames in it")
        self._index = index
        self._clusters = self._matroska_clusters(container, stream)
        self._slice_crcs = (
            self._check_slice_crcs and self._codec_name == "ffv1" and self._written_with_crcs()
        )
        self._sampling_frequency = self._rate_of(stream)

    def _matroska_clusters(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> ClusterChecker | None:
        """For a Matroska file: its blocks checked against the frames the demuxer counted (a
        demuxer steps over damage, losing frames silently), and a checker of its Clusters'
        CRC-32s for the reads. None for other files, or layouts the block scanner skips."""
        titles = [str(s.metadata.get("title", "")) for s in container.streams.video]
        title = str(stream.metadata.get("title", ""))
        try:
            blocks = track_blocks(self.file_path, title, titles, self._time_base)
        except DamagedMatroska as damage:
            raise CorruptRecordingError(
                f"{self.file_path} is corrupt: {damage}, so the frames from there on cannot be "
                "found reliably. Re-copy it from its source, or convert the raw depth.dat again"
            ) from damage
        if blocks is None:
            return None
        whole = sum(block.complete for block in blocks)
        if whole != self._index.pts.size and file_is_complete(self.file_path):
            raise CorruptRecordingError(
                f"{self.file_path} is corrupt: its Clusters hold {whole} frames but the demuxer "
                f"found {self._index.pts.size}, so frames are hidden or made up by damage. "
                "Re-copy it from its source, or convert the raw depth.dat again"
            )
        checker = ClusterChecker(self.file_path, (b.cluster for b in blocks if b.cluster))
        return checker if len(checker) else None

    def _choose_stream(self, container: av.container.InputContainer) -> av.video.stream.VideoStream:
        """The video stream to read: named by ``track``, titled as depth, or the only untitled."""
        streams = list(container.streams.video)
        titles = [str(stream.metadata.get("title", "")) for stream in streams]
        if self.track is not None:
            for stream, title in zip(streams, titles, strict=True):
                if title.casefold() == self.track.casefold():
                    return stream
            raise ValueError(
                f"{self.file_path} has no video stream titled {self.track!r} (titles: "
                f"{[t or '(untitled)' for t in titles]})"
            )
        for stream, title in zip(streams, titles, strict=True):
            if "depth" in title.casefold():
                return stream
        if titles[0]:
            raise ValueError(
                f"{self.file_path}: its video stream is titled {titles[0]!r}, not depth "
                f"(titles: {titles}); reading it would take those frames for millimetres. "
                f"Pass track={titles[0]!r} to read it anyway"
            )
        return streams[0]

    def _written_with_crcs(self) -> bool:
        """Whether the video was written with FFV1 slice CRCs (moseq2 and this package do).

        Without CRCs a packet passes the check only by a one-in-four-billion chance per slice,
        so any of the first few packets passing means the writer made them.
        """
        probed = 0
        with open_video_container(self.file_path) as container:
            stream = next(s for s in container.streams.video if s.index == self._stream_index)
            try:
                for packet in container.demux(stream):
                    if packet.size:
                        if ffv1_slices_intact(memoryview(packet)):
                            return True
                        probed += 1
                        if probed == _CRC_PROBE_PACKETS:
                            break
            except av.error.FFmpegError:
                pass
        return False

    def _rate_of(self, stream: av.video.stream.VideoStream) -> float:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate:
            return float(rate)
        from_pts = rate_from_times(self._index.pts, float(self._time_base))
        if from_pts is not None:
            return from_pts
        return warn_default_rate(f"{self.file_path}: the stream has no frame rate", stacklevel=4)

    def _load_times(self, timestamps_path) -> np.ndarray:
        stream_times = self._index.pts.astype(np.float64) * float(self._time_base)
        path = sidecar_path(self.file_path, timestamps_path, f"{self.file_path.stem}_ts.txt")
        times = load_timestamps(
            path,
            self._index.pts.size,
            self.file_path,
            "frame times come from the video stream",
            stacklevel=3,
        )
        if times is not None:
            self._times_source = path.name
            return times
        self._times_source = (
            TIMESTAMPS_MADE_UP if self._index.made_up else TIMESTAMPS_FROM_CONTAINER
        )
        return stream_times

    def _resolve_camera(self, camera: str | CameraModel) -> CameraModel:
        return resolve_camera(
            camera, self._image_size, self._metadata.get("CameraType"), self._camera_tag()
        )

    def _camera_tag(self) -> str | None:
        """Camera preset named in the container tags, as :func:`write_ffv1_video` writes it.

        Matroska keeps a ``camera`` tag (read back upper-cased); AVI keeps only standard tags,
        so the name is also written as ``camera=<name>`` in the comment.
        """
        tags = {key.casefold(): str(value) for key, value in self._container_tags.items()}
        if "camera" in tags:
            return tags["camera"]
        for word in tags.get("comment", "").split():
            if word.startswith("camera="):
                return word.removeprefix("camera=")
        return None

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return int(self._index.pts.size)

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_native_timestamps(self) -> np.ndarray:
        return self._times_s

    def _native_timestamps_source(self) -> str:
        return self._times_source

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def get_container_tags(self) -> dict[str, str]:
        """Metadata tags of the container and of the video stream (stream tags win)."""
        return {**self._container_tags, **self._stream_tags}

    def get_stream_pts(self) -> np.ndarray:
        """Presentation timestamp of each frame in the stream's time base (int64)."""
        return self._index.pts.copy()

    @property
    def time_base(self) -> Fraction:
        """Seconds per pts tick of the video stream."""
        return self._time_base

    @property
    def keyframe_indices(self) -> np.ndarray:
        """Indices of the frames a decoder can start from."""
        return np.flatnonzero(self._index.keyframe)

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        return self._read_locked(start_frame, end_frame, self._decode_into)

    # ------------------------------------------------------------------ decoding
    def _open(self) -> None:
        container = open_video_container(self.file_path)
        stream = None
        for candidate in container.streams.video:
            if candidate.index == self._stream_index:
                stream = candidate
        if stream is None:
            container.close()
            raise OSError(f"{self.file_path} changed since it was opened: its video stream is gone")
        # Frame and slice threads; FFV1 files written with slices decode several times faster.
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        self._container = container
        self._stream = stream

    def _frame_of_pts(self, pts: int) -> int:
        index = int(np.searchsorted(self._index.pts, pts))
        if index >= self._index.pts.size or self._index.pts[index] != pts:
            raise CorruptRecordingError(
                f"{self.file_path}: decoded a frame with timestamp {pts} (x {self._time_base} s) "
                "that is not in the file's index; the file changed or is corrupt"
            )
        return index

    def _decoded_frames(self) -> Iterator[tuple[int | None, np.ndarray, bool]]:
        """Decoded frames from the container's current position, as ``(pts, pixels, key)``.

        ``key`` is the decoder's word (from the bitstream, not the container's index) that the
        frame is a keyframe, which decodes without the frames before it.
        """
        waiting_pts: deque[int | None] = deque()
        last_pts = int(self._index.pts[-1])
        for packet in self._container.demux(self._stream):
            packet_pts = packet.pts if packet.pts is not None else packet.dts
            to_decode: av.Packet | None = packet
            if packet.size:
                if packet.is_corrupt or (packet_pts is not None and packet_pts > last_pts):
                    # Past the indexed frames (a cut-off packet of a truncated file): never feed
                    # it to the decoder, whose threads would report it early; flush instead.
                    to_decode = None
                else:
                    if self._clusters is not None and packet.pos >= 0:
                        self._check_cluster(packet.pos, packet_pts)
                    if self._slice_crcs and not ffv1_slices_intact(memoryview(packet)):
                        raise CorruptRecordingError(
                            f"{self.file_path}: frame {self._frame_label(packet_pts)} is corrupt "
                            "(an FFV1 slice CRC does not match): the file was damaged after it "
                            "was written. Re-copy it from the source or re-convert the raw "
                            "depth.dat; frames of other keyframe groups are still readable"
                        )
                    waiting_pts.append(packet_pts)
            try:
                frames = self._stream.decode(to_decode)
            except av.error.FFmpegError as error:
                # Frames come out in packet order, so the failing one is the oldest not yet out.
                where = waiting_pts[0] if waiting_pts else packet_pts
                raise CorruptRecordingError(
                    f"{self.file_path}: frame {self._frame_label(where)} cannot be decoded "
                    f"({error}); the file is "
                    "truncated or corrupt from there on. Re-copy it from the source, or read only "
                    "the frames before it with frame_slice()"
                ) from error
            for frame in frames:
                oldest_pts = waiting_pts.popleft() if waiting_pts else None
                # Frames keep packet order (FFV1 is intra-only), so the oldest waiting packet
                # timestamp belongs to this frame when the decoder does not pass pts on.
                pts = frame.pts if frame.pts is not None else oldest_pts
                yield pts, frame.to_ndarray(), bool(frame.key_frame)
            if to_decode is None:
                return

    def _check_cluster(self, position: int, pts: int | None) -> None:
        """Check the Matroska Cluster holding the packet at file offset ``position``."""
        try:
            self._clusters.check(position)
        except DamagedMatroska as damage:
            raise CorruptRecordingError(
                f"{self.file_path}: frame {self._frame_label(pts)} is corrupt: {damage}. "
                "Re-copy it from its source, or convert the raw depth.dat again"
            ) from damage

    def _missing_frame(self, frame: int) -> OSError:
        """The error for a video whose packets end before ``frame``: cut short, or damaged."""
        data_end = self._index.data_end
        if data_end is not None and self.file_path.stat().st_size >= data_end:
            return CorruptRecordingError(
                f"{self.file_path}: frame {frame} cannot be found although the file holds all "
                f"{data_end} bytes its {self.get_num_frames()} frames reach: the container's "
                f"index or the data before frame {frame} is damaged. Re-copy the file from its "
                "source, or convert the raw depth.dat again"
            )
        return OSError(
            f"{self.file_path}: the video ends before frame {frame} (expected "
            f"{self.get_num_frames()} frames); the file is truncated. Re-copy it, or read only "
            f"frames before {frame}"
        )

    def _frame_label(self, pts: int | None) -> str:
        """``"<index>"`` of the frame with timestamp ``pts``, for messages."""
        if pts is None:
            return "(unknown)"
        index = int(np.searchsorted(self._index.pts, pts))
        if index < self._index.pts.size and self._index.pts[index] == pts:
            return str(index)
        return f"at timestamp {pts}"

    def _keyframe_rank(self, frame: int) -> int:
        """Rank (in :attr:`keyframe_indices`) of the last keyframe at or before ``frame``."""
        return int(np.searchsorted(self.keyframe_indices, frame, side="right")) - 1

    def _seek_to_keyframe(self, rank: int) -> None:
        """Position the demuxer at keyframe number ``rank`` (-1: the start of the stream)."""
        key = 0 if rank < 0 else int(self.keyframe_indices[rank])
        target = 0 if rank < 0 else int(self._index.pts[key])
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError as error:
            raise CorruptRecordingError(
                f"{self.file_path}: cannot seek to frame {key} ({error}); the file's index is "
                "damaged. Re-copy it from its source, or convert the raw depth.dat again"
            ) from error
        self._decoded = self._decoded_frames()
        self._next_frame = None

    def _decode_into(self, video: np.ndarray, start: int) -> None:
        if self._container is None:
            self._open()
        rank = self._keyframe_rank(start)
        key = int(self.keyframe_indices[rank])
        # Decoding on from the current position is cheaper than a seek when no keyframe lies
        # between here and the wanted frame.
        here = self._next_frame
        if self._decoded is None or here is None or not key <= here <= start:
            self._seek_to_keyframe(rank)
        position = self._next_frame
        tried_stream_start = False
        filled = 0
        while filled < video.shape[0]:
            item = next(self._decoded, None)
            if item is None:
                raise self._missing_frame(start + filled)
            pts, pixels, key = item
            if pts is not None:
                index = self._frame_of_pts(int(pts))
            elif position is not None:
                index = position
            else:
                raise CorruptRecordingError(
                    f"{self.file_path}: decoded frames carry no timestamps, so frame "
                    f"{start + filled} cannot be located; remux the file"
                )
            if position is None and (index > start or not key):
                # The demuxer landed after the wanted frame, or inside a keyframe group (a
                # damaged index entry): frames decoded from there would be wrong. Start from
                # an earlier keyframe.
                if tried_stream_start:
                    raise CorruptRecordingError(
                        f"{self.file_path}: cannot seek to frame {start}: decoding from the start "
                        f"of the stream begins at frame {index}"
                        + ("" if key else ", which is not a keyframe")
                        + "; the file's index is damaged. Re-copy it from its source, or "
                        "convert the raw depth.dat again"
                    )
                rank -= 1
                tried_stream_start = rank < 0
                self._seek_to_keyframe(rank)
                continue
            if position is not None and index != position:
                raise CorruptRecordingError(
                    f"{self.file_path}: expected frame {position} next but decoded frame {index}; "
                    "frames are missing or the file is corrupt"
                )
            position = index + 1
            if index >= start:
                if pixels.shape != video.shape[1:]:
                    raise CorruptRecordingError(
                        f"{self.file_path}: frame {index} is {pixels.shape} pixels instead of "
                        f"{video.shape[1:]}; the file is corrupt"
                    )
                video[filled] = pixels
                filled += 1
        self._next_frame = position
