"""Azure Kinect / Orbbec Femto recordings (Matroska ``.mkv`` written by the Azure Kinect recorder).

The recorder writes one Matroska track per sensor, told apart by their titles (``COLOR``,
``DEPTH``, ``IR``, ``IMU``), never by a fixed index: a recording without colour has its depth in
the first track. Depth and IR are raw 16-bit big-endian grey frames (FourCC ``b16g``) in
millimetres; block timestamps are microseconds (Matroska time base 1/1,000,000 s) counted from
the recording's start offset (``K4A_START_OFFSET_NS``), so device time = pts + start offset.
The device calibration is stored as a ``calibration.json`` attachment. Each depth block's
payload is exactly one frame, so frames are read straight from the file at the offsets an index
of the blocks gives (:mod:`.containers.matroska`), without a demuxer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..cameras import CAMERA_PRESETS, DEFAULT_SAMPLING_FREQUENCY, CameraModel, get_camera
from .azure_demux import DemuxedTrackReading
from .azure_layout import find_titled_video_stream, is_azure_recording
from .base import DepthVideoExtractor
from .containers.matroska import DamagedMatroska, UnsupportedLayout
from .containers.matroska_blocks import ClusterExtent, read_verified_cluster, video_track_blocks
from .containers.pyav import (
    OpenContainerLifecycle,
    check_declared_size,
    open_video_container,
    sniff_container,
)
from .errors import CorruptRecordingError
from .sidecar import rate_from_times

__all__ = ["AZURE_DEPTH_MODES", "AzureDepthExtractor", "find_titled_video_stream"]

logger = logging.getLogger(__name__)

#: Camera preset for each ``K4A_DEPTH_MODE`` tag value.
AZURE_DEPTH_MODES: dict[str, str] = {
    "NFOV_UNBINNED": "azure_nfov_unbinned",
    "NFOV_2X2BINNED": "azure_nfov_binned",
    "WFOV_2X2BINNED": "azure_wfov_binned",
    "WFOV_UNBINNED": "azure_wfov_unbinned",
}

_SAMPLE_TYPES = {"gray16be": np.dtype(">u2"), "gray16le": np.dtype("<u2")}
# An interval this many times the typical one means frames are missing between two timestamps.
_GAP_FACTOR = 1.5


class AzureDepthExtractor(DemuxedTrackReading, OpenContainerLifecycle, DepthVideoExtractor):
    """Depth (or IR) frames of an Azure Kinect / Orbbec Femto ``.mkv`` recording.

    Opening reads the header with PyAV (tracks, tags, the calibration attachment) and then
    indexes the chosen track's Matroska blocks directly: it walks the Clusters reading only
    element and block headers and skips every payload, so the large COLOR track costs nothing
    and opening takes a time set by the number of blocks, not the file's size. Each block of
    the track is one frame, so the frame count and every frame's device timestamp come from
    the file itself (Cluster Timecode + block timecode, in the same ticks as PyAV's pts), not
    from a duration times a frame rate. Reads are then positioned file reads of the frames'
    payloads, byte-swapped to native uint16 as they are copied out; random access is
    frame-exact and costs the same as sequential reading.

    Layouts the block scanner does not handle (laced or compressed/encrypted blocks on the
    track, a TrackTimecodeScale or CodecDelay, a time base other than the TimecodeScale,
    malformed or unknown-size elements other than Clusters) fall back to demuxing with PyAV,
    with a debug log line saying why: opening then demuxes every video track once without
    decoding, and reads demux the track from the nearest seek point by timestamp, continuing
    where the last read stopped.

    Parameters
    ----------
    file_path : path-like
        The ``.mkv`` recording.
    track : str, default "DEPTH"
        Title of the track to read: ``"DEPTH"`` (millimetres) or ``"IR"`` (infrared intensity).
    camera : str or CameraModel, default "auto"
        ``"auto"`` uses the ``K4A_DEPTH_MODE`` tag (e.g. ``NFOV_UNBINNED`` →
        ``azure_nfov_unbinned``), else the frame size; or a preset / family name or a
        :class:`~depthextractors.cameras.CameraModel`.
    allow_truncated : bool, default False
        When the last frame of the track is cut off (a recording that did not finish), read the
        whole frames before it with a warning instead of raising.
    check_crcs : bool, default True
        Check each Cluster a frame is read from against the CRC-32 the recorder stored in it
        (the Azure Kinect recorder does; the check covers the frame, its timestamp and the
        other tracks' blocks beside it). Reading then reads whole Clusters, colour included;
        turn it off only for files already verified.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty or not a video, has no track titled ``track``, the track is not
        16-bit grey, or a frame is cut off or of the wrong size.
    CorruptRecordingError
        If the file's structure is damaged (when opening), or a Cluster read fails its CRC-32.

    Warns
    -----
    UserWarning
        When the timestamps show gaps (frames dropped during the recording); frame times stay
        the true device times, so later steps can account for the gaps.
    """

    extractor_name = "AzureDepthExtractor"
    _DECODER_STATE = ("_stream", "_packets", "_next_frame", "_file", "_scratch", "_cluster")
    #: Index the track's Matroska blocks directly when the layout allows (False: always PyAV).
    _BLOCK_INDEX = True

    def __init__(
        self,
        file_path: str | os.PathLike,
        track: str = "DEPTH",
        camera: str | CameraModel = "auto",
        allow_truncated: bool = False,
        check_crcs: bool = True,
    ) -> None:
        super().__init__()
        self.file_path = Path(file_path)
        self.track = str(track)
        self.check_crcs = bool(check_crcs)
        container = open_video_container(self.file_path)
        try:
            self._read_header(container)
            check_declared_size(self.file_path, allow_truncated, stacklevel=2)
            self._index_packets(container, allow_truncated)
        finally:
            container.close()
        self._check_timestamps()
        self._camera = self._resolve_camera(camera)
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._next_frame: int | None = None
        self._file: Any = None
        self._scratch: np.ndarray | None = None
        # The last Cluster read and checked: (extent, its bytes from extent.checked_start).
        self._cluster: tuple[ClusterExtent, bytes] | None = None
        self._lock = threading.RLock()

    @classmethod
    def sniff(cls, path: str | os.PathLike) -> bool:
        """Whether ``path`` has a video track titled ``DEPTH`` or Azure Kinect (``K4A_*``) tags.

        Parameters
        ----------
        path : path-like
            A ``.mkv`` file.

        Returns
        -------
        bool
            False also when the file cannot be opened.
        """
        return sniff_container(path, is_azure_recording)

    # ------------------------------------------------------------------ set-up
    def _read_header(self, container: av.container.InputContainer) -> None:
        stream = find_titled_video_stream(container, self.track)
        if stream is None:
            titles = [str(s.metadata.get("title", "(untitled)")) for s in container.streams.video]
            raise ValueError(
                f"{self.file_path} has no video track titled {self.track!r} (video tracks: "
                f"{titles or 'none'}); expected an Azure Kinect recording with a {self.track} "
                "track. Record with the depth camera on, or pass track='DEPTH' / 'IR' (if the "
                "recording had one, its header is damaged: copy it again)"
            )
        context = stream.codec_context
        if context is None:
            raise CorruptRecordingError(
                f"{self.file_path}: libav cannot open a decoder for the {self.track} track: the "
                "track's description in the header is damaged. Copy the recording again"
            )
        sample_type = _SAMPLE_TYPES.get(context.pix_fmt)
        if context.name != "rawvideo" or sample_type is None:
            raise ValueError(
                f"{self.file_path}: track {self.track!r} is {context.name} {context.pix_fmt}, "
                "expected raw 16-bit grey frames (rawvideo b16g, as the Azure Kinect recorder "
                "writes); this recording cannot be read as depth"
            )
        self._stream_index = stream.index
        self._sample_type = sample_type
        self._image_size = (int(context.height), int(context.width))
        self._frame_bytes = self._image_size[0] * self._image_size[1] * 2
        self._time_base = stream.time_base or Fraction(1, 1_000_000)
        self._rate = stream.average_rate or stream.guessed_rate
        self._container_tags = dict(container.metadata)
        self._track_tags = {
            str(s.metadata.get("title", s.index)): dict(s.metadata)
            for s in container.streams
            if s.type in ("video", "subtitle", "data")
        }
        self._calibration = self._read_calibration(container)
        offset_ns = self._container_tags.get("K4A_START_OFFSET_NS", "0")
        try:
            self._start_offset_s = int(offset_ns) / 1e9
        except ValueError:
            warnings.warn(
                f"{self.file_path}: K4A_START_OFFSET_NS is {offset_ns!r}, not a number; device "
                "times are taken as the container times",
                stacklevel=3,
            )
            self._start_offset_s = 0.0

    def _read_calibration(self, container: av.container.InputContainer) -> Any:
        for attachment in container.streams.attachments:
            if attachment.name == "calibration.json":
                try:
                    return json.loads(bytes(attachment.data).decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as error:
                    warnings.warn(
                        f"{self.file_path}: the calibration.json attachment is not valid JSON "
                        f"({error}); no calibration in the metadata",
                        stacklevel=4,
                    )
                    return None
        return None

    def _scan_blocks(
        self, container: av.container.InputContainer
    ) -> tuple[int, list[tuple[int, int, int, bool, int, ClusterExtent | None]]] | None:
        """The track number and every video block, from the Matroska block headers alone.

        Returns ``(track number, [(track, pts, bytes, cut off, payload offset, cluster),
        ...])``, or None (with a debug log line saying why) when the layout is one the scanner
        does not handle, so that the caller demuxes with PyAV instead. Damage is not a layout:
        a demuxer would skip it and lose frames silently, so it raises.
        """
        titles = [str(s.metadata.get("title", "")) for s in container.streams.video]
        try:
            with open(self.file_path, "rb") as handle:
                number, found = video_track_blocks(handle, self.track, titles, self._time_base)
                blocks = [
                    (b.track, b.timestamp, b.size, not b.complete, b.offset, b.cluster)
                    for b in found
                ]
        except DamagedMatroska as damage:
            raise CorruptRecordingError(
                f"{self.file_path} is corrupt: {damage}, so the frames from there on cannot "
                "be found reliably. Copy the recording again from the recording machine"
            ) from damage
        except UnsupportedLayout as reason:
            logger.debug(
                "%s: Matroska blocks not indexed directly (%s); demuxing with PyAV",
                self.file_path,
                reason,
            )
            return None
        return number, blocks

    def _index_packets(self, container: av.container.InputContainer, allow_truncated: bool) -> None:
        """Timestamps of every frame of the track, and the first timestamp of every video track.

        From the block headers when the layout allows (then also each frame's file offset,
        ``_offsets``), else by demuxing every video track with PyAV (``_offsets`` is None).
        """
        scanned = self._scan_blocks(container) if self._BLOCK_INDEX else None
        if scanned is None:
            wanted = self._stream_index
            entries: Any = (
                (p.stream.index, p.pts, p.size, p.is_corrupt, 0, None)
                for p in container.demux(list(container.streams.video))
            )
        else:
            wanted, blocks = scanned
            entries = iter(blocks)
        first_pts: dict[int, int] = {}
        frame_pts: list[int] = []
        offsets: list[int] = []
        clusters: list[ClusterExtent | None] = []
        seen_clusters: dict[int, ClusterExtent] = {}
        cut_off: str | None = None
        try:
            for track, pts, size, corrupt, offset, cluster in entries:
                if size == 0 or pts is None:
                    continue
                first_pts.setdefault(track, pts)
                if cluster is not None:
                    seen_clusters.setdefault(cluster.start, cluster)
                if track != wanted:
                    continue
                if cut_off is not None:
                    raise ValueError(
                        f"{self.file_path}: {self.track} frame {len(frame_pts)} is {cut_off}, "
                        "but more frames follow it; the file is corrupt"
                    )
                if size != self._frame_bytes or corrupt:
                    cut_off = (
                        f"{size} bytes instead of {self._frame_bytes} "
                        f"({self._image_size[0]}x{self._image_size[1]} 16-bit)"
                    )
                    continue
                frame_pts.append(pts)
                offsets.append(offset)
                clusters.append(cluster)
        except av.error.FFmpegError as error:
            cut_off = f"unreadable ({error})"
        if cut_off is not None:
            message = (
                f"{self.file_path}: {self.track} frame {len(frame_pts)} is {cut_off}; the "
                "recording is truncated (the recorder did not finish) or the copy is incomplete"
            )
            if not allow_truncated:
                raise ValueError(
                    message + f". Re-copy the file, or pass allow_truncated=True to read the "
                    f"{len(frame_pts)} whole frames before it"
                )
            warnings.warn(
                message + f"; reading the {len(frame_pts)} frames before it", stacklevel=3
            )
        if not frame_pts:
            raise ValueError(
                f"{self.file_path}: the {self.track} track holds no frames; expected at least one "
                "capture with the depth camera on"
            )
        pts = np.asarray(frame_pts, dtype=np.int64)
        if np.any(np.diff(pts) <= 0):
            raise ValueError(
                f"{self.file_path}: {self.track} timestamps do not increase from frame to frame "
                f"(first repeat at frame {int(np.flatnonzero(np.diff(pts) <= 0)[0]) + 1}); the "
                "file is damaged"
            )
        self._pts = pts
        self._first_pts_by_track = first_pts
        self._offsets = np.asarray(offsets, dtype=np.int64) if scanned is not None else None
        self._clusters = clusters
        if self.check_crcs:
            self._check_clusters_without_frames(seen_clusters.values())

    def _check_clusters_without_frames(self, seen: Any) -> None:
        """Check the CRC of every Cluster with video blocks but no frame of the track.

        A capture whose frame is missing is a dropped frame, or a damaged block header (its
        track number, say) that hides the frame: only the Cluster's CRC tells them apart.
        """
        holding = {id(cluster) for cluster in self._clusters}
        with open(self.file_path, "rb") as handle:
            for cluster in seen:
                if id(cluster) in holding or cluster.crc is None:
                    continue
                try:
                    read_verified_cluster(handle, cluster)
                except DamagedMatroska as damage:
                    raise CorruptRecordingError(
                        f"{self.file_path} is corrupt: {damage}; it holds no readable "
                        f"{self.track} frame, so a frame may be hidden by the damage. Copy the "
                        "recording again from the recording machine"
                    ) from damage

    def _check_timestamps(self) -> None:
        pts = self._pts
        tick = float(self._time_base)
        self._sampling_frequency = (
            float(self._rate)
            if self._rate
            else rate_from_times(pts, tick) or DEFAULT_SAMPLING_FREQUENCY
        )
        expected_interval = 1.0 / self._sampling_frequency
        self._leading_dropped_frames = 0
        earliest = min(self._first_pts_by_track.values())
        if pts[0] > earliest:
            lead_s = (int(pts[0]) - earliest) * tick
            self._leading_dropped_frames = round(lead_s / expected_interval)
            if self._leading_dropped_frames:
                logger.info(
                    "%s: the %s track starts %.3f s (about %d frames) after the first track; "
                    "frame 0 is the first %s frame",
                    self.file_path,
                    self.track,
                    lead_s,
                    self._leading_dropped_frames,
                    self.track,
                )
        self._missing_frames = 0
        if pts.size > 1:
            steps = np.diff(pts) * tick
            gaps = np.flatnonzero(steps > _GAP_FACTOR * expected_interval)
            if gaps.size:
                self._missing_frames = int(np.sum(np.rint(steps[gaps] / expected_interval) - 1))
                span_frames = round((int(pts[-1]) - int(pts[0])) * tick / expected_interval) + 1
                warnings.warn(
                    f"{self.file_path}: the {self.track} timestamps show {gaps.size} gaps "
                    f"(about {self._missing_frames} dropped frames; the {pts.size} frames span "
                    f"{span_frames} frame intervals at {self._sampling_frequency:g} Hz), the "
                    f"first after frame {int(gaps[0])}. Frame times are the true device times",
                    stacklevel=3,
                )

    def _resolve_camera(self, camera: str | CameraModel) -> CameraModel:
        if isinstance(camera, str) and camera == "auto":
            mode = self._depth_mode()
            preset = CAMERA_PRESETS.get(AZURE_DEPTH_MODES.get(mode or "", ""))
            if preset is not None:
                if preset.image_size == self._image_size:
                    return preset
                warnings.warn(
                    f"{self.file_path}: K4A_DEPTH_MODE {mode} means {preset.image_size} frames "
                    f"but the {self.track} track has {self._image_size}; camera detected from "
                    "the frame size",
                    stacklevel=3,
                )
            return get_camera("auto", self._image_size)
        return get_camera(camera, self._image_size)

    def _depth_mode(self) -> str | None:
        for tags in (*self._track_tags.values(), self._container_tags):
            if "K4A_DEPTH_MODE" in tags:
                return str(tags["K4A_DEPTH_MODE"])
        return None

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return int(self._pts.size)

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_native_timestamps(self) -> np.ndarray:
        """Device time of each frame in seconds (container pts plus ``K4A_START_OFFSET_NS``)."""
        return self._pts.astype(np.float64) * float(self._time_base) + self._start_offset_s

    def get_stream_pts(self) -> np.ndarray:
        """Container timestamp of each frame in the track's time base (int64, µs for Azure)."""
        return self._pts.copy()

    @property
    def time_base(self) -> Fraction:
        """Seconds per pts tick of the track (1/1,000,000 for the Azure Kinect recorder)."""
        return self._time_base

    @property
    def missing_frames(self) -> int:
        """Frames the timestamps show were dropped between recorded frames (0 if none)."""
        return self._missing_frames

    @property
    def leading_dropped_frames(self) -> int:
        """About how many frame intervals the track starts after the earliest video track."""
        return self._leading_dropped_frames

    def get_metadata(self) -> dict[str, Any]:
        """Container tags (``K4A_*``), per-track tags, the parsed calibration and the depth mode.

        Returns
        -------
        dict
            The container tags at the top level, plus ``"tracks"`` (title → tags),
            ``"calibration"`` (the parsed ``calibration.json`` attachment, or ``None``),
            ``"depth_mode"``, ``"track"`` (the track read) and ``"start_offset_s"``.
        """
        return {
            **self._container_tags,
            "tracks": {title: dict(tags) for title, tags in self._track_tags.items()},
            "calibration": json.loads(json.dumps(self._calibration)),
            "depth_mode": self._depth_mode(),
            "track": self.track,
            "start_offset_s": self._start_offset_s,
        }

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        return self._read_locked(start_frame, end_frame, self._read_into)

    # ------------------------------------------------------------------ reading
    def close(self) -> None:
        """Close the open file or container (it is reopened on the next read)."""
        handle = self.__dict__.get("_file")
        super().close()
        if handle is not None:
            handle.close()

    def _read_into(self, video: np.ndarray, start: int) -> None:
        if self._offsets is not None:
            self._read_blocks(video, start)
        else:
            self._read_demuxed(video, start)

    def _read_blocks(self, video: np.ndarray, start: int) -> None:
        """Fill ``video`` with frames from ``start`` by positioned reads of the block payloads."""
        if self._file is None:
            handle = open(self.file_path, "rb", buffering=0)  # noqa: SIM115 - kept open
            last_byte = int(self._offsets[-1]) + self._frame_bytes
            if os.fstat(handle.fileno()).st_size < last_byte:
                handle.close()
                raise OSError(
                    f"{self.file_path} changed since it was opened: it is shorter than the "
                    f"{last_byte} bytes its {self.track} frames reach; the file was truncated"
                )
            self._file = handle
            # Kept between reads: a fresh buffer per frame would cost page faults every time.
            self._scratch = np.empty(self._image_size, dtype=self._sample_type)
        native = self._sample_type.isnative
        for filled, offset in enumerate(self._offsets[start : start + video.shape[0]].tolist()):
            cluster = self._clusters[start + filled]
            if self.check_crcs and cluster is not None and cluster.crc is not None:
                pixels = self._verified_frame(start + filled, cluster, offset)
                video[filled] = pixels.reshape(self._image_size)
                continue
            # Big-endian samples go through the scratch frame: copying them into the native
            # array swaps the bytes in the same pass, faster than swapping in place after.
            target = video[filled] if native else self._scratch
            buffer = memoryview(target.reshape(-1).view(np.uint8))
            self._file.seek(offset)
            got = 0
            while got < self._frame_bytes:
                count = self._file.readinto(buffer[got:])
                if not count:
                    raise OSError(
                        f"{self.file_path}: the {self.track} track ends inside frame "
                        f"{start + filled} (expected {self.get_num_frames()} frames); the file "
                        "was truncated after it was opened"
                    )
                got += count
            if not native:
                video[filled] = self._scratch

    def _verified_frame(self, frame: int, cluster: ClusterExtent, offset: int) -> np.ndarray:
        """Frame ``frame``'s samples, from its Cluster read whole and checked against its CRC."""
        if self._cluster is None or self._cluster[0] is not cluster:
            try:
                self._cluster = (cluster, read_verified_cluster(self._file, cluster))
            except DamagedMatroska as damage:
                in_cluster = [k for k, c in enumerate(self._clusters) if c is cluster]
                frames = (
                    f"frame {in_cluster[0]}"
                    if len(in_cluster) == 1
                    else f"frames {in_cluster[0]}..{in_cluster[-1]}"
                )
                raise CorruptRecordingError(
                    f"{self.file_path} is corrupt: {damage}; it holds {self.track} {frames}, "
                    "whose pixels and times cannot be trusted. Copy the recording again from "
                    "the recording machine, or read only the frames before it (frame_slice)"
                ) from damage
        start = offset - cluster.checked_start
        return np.frombuffer(
            self._cluster[1], dtype=self._sample_type, count=self._frame_bytes // 2, offset=start
        )
