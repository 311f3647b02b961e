"""A small Matroska (EBML) writer for Azure-Kinect-like test and benchmark recordings.

libavformat's Matroska muxer always writes a 1/1000 s time base and cannot store the ``b16g``
FourCC the Azure Kinect recorder uses (raw 16-bit grey comes back as ``rgb555le``), so
Azure-like files are written here by hand, laid out as the recorder lays out its files:
TimecodeScale 1000 ns, ``V_MS/VFW/FOURCC`` tracks titled COLOR / DEPTH / IR, ``K4A_*`` tags, a
``calibration.json`` attachment, one Cluster per capture holding that capture's blocks.
Options produce the layouts a reader must also cope with (BlockGroups, laced or compressed
blocks, unknown-size Clusters, several captures per Cluster, an IMU track) and the CRC-32
element the recorder puts first in every Cluster.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = [
    "AZURE_CALIBRATION",
    "AZURE_START_OFFSET_NS",
    "FRAME_INTERVAL_US",
    "mjpeg_frame",
    "write_azure_like_mkv",
]

#: ``K4A_START_OFFSET_NS`` tag written by :func:`write_azure_like_mkv`.
AZURE_START_OFFSET_NS = 250_000_000
#: Contents of the ``calibration.json`` attachment written by :func:`write_azure_like_mkv`.
AZURE_CALIBRATION = {"CalibrationInformation": {"Cameras": [{"Purpose": "Depth"}], "Metadata": {}}}
FRAME_INTERVAL_US = 33_333
_UNKNOWN_SIZE = bytes([0x01]) + b"\xff" * 7


def _size(length: int) -> bytes:
    """An 8-byte EBML size field."""
    return bytes([0x01]) + length.to_bytes(7, "big")


def _element(element_id: int, payload: bytes) -> bytes:
    return (
        element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
        + _size(len(payload))
        + payload
    )


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(8, "big"))


def _text(element_id: int, value: str) -> bytes:
    return _element(element_id, value.encode("utf-8"))


def _bitmap_info_header(width: int, height: int, fourcc: bytes, bits: int) -> bytes:
    return struct.pack(
        "<IiiHH4sIiiII", 40, width, height, 1, bits, fourcc, width * height * bits // 8, 0, 0, 0, 0
    )


def _simple_tags(pairs: dict[str, str], track_uid: int | None = None) -> bytes:
    targets = _uint(0x63C5, track_uid) if track_uid is not None else b""
    simple = b"".join(
        _element(0x67C8, _text(0x45A3, name) + _text(0x4487, value))
        for name, value in pairs.items()
    )
    return _element(0x7373, _element(0x63C0, targets) + simple)


def mjpeg_frame(rows: int, cols: int, noise: bool = False) -> bytes:
    """One MJPEG-encoded frame (grey, or random noise for a realistic, large colour frame).

    Parameters
    ----------
    rows, cols : int
        Frame size in pixels.
    noise : bool, default False
        Random pixels (a 720p noise frame is a few hundred kB, like a real colour frame).

    Returns
    -------
    bytes
        The JPEG bitstream.
    """
    import av  # only the writer needs an encoder

    context = av.CodecContext.create("mjpeg", "w")
    context.width, context.height, context.pix_fmt = cols, rows, "yuvj420p"
    context.time_base = Fraction(1, 30)
    if noise:
        image = np.random.default_rng(0).integers(0, 256, (rows, cols, 3), dtype=np.uint8)
    else:
        image = np.full((rows, cols, 3), 128, dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])


def write_azure_like_mkv(
    path: Path,
    depth: np.ndarray,
    ir: np.ndarray | None = None,
    *,
    depth_times_us: np.ndarray | None = None,
    capture_times_us: np.ndarray | None = None,
    depth_mode: str | None = None,
    truncate_last_depth_by: int = 0,
    depth_title: str = "DEPTH",
    color_frame: bytes | None = None,
    color_size: tuple[int, int] = (16, 16),
    timecode_scale_ns: int = 1000,
    captures_per_cluster: int = 1,
    block_groups: bool = False,
    unknown_cluster_size: bool = False,
    depth_lacing: bool = False,
    depth_header_stripping: int = 0,
    imu_samples_per_capture: int = 0,
    cluster_crc: bool = False,
) -> Path:
    """Write an Azure-Kinect-like recording: COLOR (MJPEG), DEPTH and IR (b16g) tracks.

    ``capture_times_us`` are the capture times (every capture has COLOR and IR); depth frames
    are written at ``depth_times_us`` (a subset, so depth can start late or miss captures).
    The file is written piece by piece, so large benchmark recordings need no copy in memory.

    Parameters
    ----------
    path : pathlib.Path
        File to write.
    depth, ir : numpy.ndarray
        ``(frames, rows, cols)`` uint16 frames; ``ir`` has one frame per capture (zeros if None).
    depth_times_us, capture_times_us : numpy.ndarray, optional
        Times in microseconds; by default one capture every 33,333 µs, each with a depth frame.
    depth_mode : str, optional
        ``K4A_DEPTH_MODE`` tag of the depth track.
    truncate_last_depth_by : int, default 0
        Bytes cut from the last depth block's payload (a recording that did not finish).
    depth_title : str, default "DEPTH"
        Title of the depth track.
    color_frame : bytes, optional
        Payload of every COLOR block; a 16x16 grey MJPEG frame by default.
    color_size : (rows, cols), default (16, 16)
        Frame size the COLOR track declares.
    timecode_scale_ns : int, default 1000
        Segment TimecodeScale (ns per tick); not written when it is Matroska's default 1,000,000.
    captures_per_cluster : int, default 1
        Captures per Cluster (block timecodes relative to the Cluster's, which must fit 16 bits).
    block_groups : bool, default False
        Write BlockGroup/Block instead of SimpleBlock.
    unknown_cluster_size : bool, default False
        Write every Cluster with EBML's "unknown size", as a recorder that did not finish may.
    depth_lacing : bool, default False
        Write each depth block with fixed-size lacing (one frame per lace).
    depth_header_stripping : int, default 0
        Strip this many leading bytes of every depth frame and declare them with a header
        stripping ContentCompression on the depth track (every frame must start with the
        same bytes).
    imu_samples_per_capture : int, default 0
        44-byte BlockGroups on an ``IMU`` subtitle track per capture, as the recorder writes.
    cluster_crc : bool, default False
        Begin every Cluster (of known size) and the Tags with a CRC-32 element over the rest of
        their data, as the Azure Kinect recorder does.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    recording = _AzureRecording(
        depth=depth, ir=ir, depth_times_us=depth_times_us, capture_times_us=capture_times_us,
        depth_mode=depth_mode, truncate_last_depth_by=truncate_last_depth_by,
        depth_title=depth_title, color_frame=color_frame, color_size=color_size,
        timecode_scale_ns=timecode_scale_ns, captures_per_cluster=captures_per_cluster,
        block_groups=block_groups, unknown_cluster_size=unknown_cluster_size,
        depth_lacing=depth_lacing, depth_header_stripping=depth_header_stripping,
        imu_samples_per_capture=imu_samples_per_capture, cluster_crc=cluster_crc,
    )  # fmt: skip
    recording.write(path)
    return path


def _ebml_header() -> bytes:
    """The EBML header of a Matroska file (version 4 doctype)."""
    return _element(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _text(0x4282, "matroska")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )


def _segment_info(timecode_scale_ns: int) -> bytes:
    """Segment Info: the TimecodeScale (left out at Matroska's default) and the writing app."""
    scale = _uint(0x2AD7B1, timecode_scale_ns) if timecode_scale_ns != 1_000_000 else b""
    return _element(
        0x1549A966,
        scale
        + _text(0x4D80, "test-ebml")
        + _text(0x5741, "test-ebml")
        + _text(0x7BA9, "Azure Kinect"),
    )


def _track_entry(
    track: tuple[int, int],
    title: str,
    codec: bytes,
    width: int,
    height: int,
    private: bytes,
    stripped: bytes | None = None,
) -> bytes:
    """A video TrackEntry; ``stripped`` bytes declare header-stripping compression."""
    number, uid = track
    video = _element(0xE0, _uint(0xB0, width) + _uint(0xBA, height))
    encodings = b""
    if stripped is not None:
        compression = _uint(0x4254, 3) + _element(0x4255, stripped)
        encodings = _element(0x6D80, _element(0x6240, _element(0x5034, compression)))
    return _element(
        0xAE,
        _uint(0xD7, number)
        + _uint(0x73C5, uid)
        + _uint(0x83, 1)
        + _uint(0x9C, 0)
        + _text(0x536E, title)
        + _element(0x86, codec)
        + _uint(0x23E383, FRAME_INTERVAL_US * 1000)
        + (_element(0x63A2, private) if private else b"")
        + encodings
        + video,
    )


def _track_list(
    tracks: dict[str, tuple[int, int]],
    depth_title: str,
    size: tuple[int, int],
    color_size: tuple[int, int],
    stripped: bytes | None,
    imu: bool,
) -> bytes:
    """Tracks: COLOR (MJPEG), depth and IR (``b16g``), and the IMU subtitle track if asked."""
    rows, cols = size
    raw16 = b"V_MS/VFW/FOURCC"
    grey16 = _bitmap_info_header(cols, rows, b"b16g", 16)

    def entry(title: str, codec: bytes, width: int, height: int, private: bytes) -> bytes:
        compressed = stripped if title == depth_title else None
        return _track_entry(tracks[title], title, codec, width, height, private, compressed)

    imu_track = b""
    if imu:
        imu_track = _element(
            0xAE,
            _uint(0xD7, 4)
            + _uint(0x73C5, 1004)
            + _uint(0x83, 0x11)
            + _text(0x536E, "IMU")
            + _element(0x86, b"S_K4A/IMU"),
        )
    return _element(
        0x1654AE6B,
        entry("COLOR", b"V_MJPEG", color_size[1], color_size[0], b"")
        + entry(depth_title, raw16, cols, rows, grey16)
        + entry("IR", raw16, cols, rows, grey16)
        + imu_track,
    )


def _tags(tracks: dict[str, tuple[int, int]], depth_title: str, depth_mode: str | None) -> bytes:
    """The recorder's ``K4A_*`` tags: session-wide, on the depth track, on the IR track."""
    return _element(
        0x1254C367,
        _simple_tags(
            {
                "K4A_START_OFFSET_NS": str(AZURE_START_OFFSET_NS),
                "K4A_DEPTH_DELAY_NS": "0",
                "K4A_DEVICE_SERIAL_NUMBER": "000000000000",
            }
        )
        + (
            _simple_tags({"K4A_DEPTH_MODE": depth_mode}, tracks[depth_title][1])
            if depth_mode
            else b""
        )
        + _simple_tags({"K4A_IR_MODE": "ACTIVE"}, tracks["IR"][1]),
    )


def _attachments() -> bytes:
    """The ``calibration.json`` attachment."""
    return _element(
        0x1941A469,
        _element(
            0x61A7,
            _text(0x466E, "calibration.json")
            + _text(0x4660, "application/octet-stream")
            + _element(0x465C, json.dumps(AZURE_CALIBRATION).encode())
            + _uint(0x46AE, 77),
        ),
    )


@dataclass
class _AzureRecording:
    """What :func:`write_azure_like_mkv` writes (its arguments, defaults filled in)."""

    depth: np.ndarray
    ir: np.ndarray | None
    depth_times_us: np.ndarray | None
    capture_times_us: np.ndarray | None
    depth_mode: str | None
    truncate_last_depth_by: int
    depth_title: str
    color_frame: bytes | None
    color_size: tuple[int, int]
    timecode_scale_ns: int
    captures_per_cluster: int
    block_groups: bool
    unknown_cluster_size: bool
    depth_lacing: bool
    depth_header_stripping: int
    imu_samples_per_capture: int
    cluster_crc: bool

    def __post_init__(self) -> None:
        frames, rows, cols = self.depth.shape
        if self.depth_times_us is None:
            self.depth_times_us = np.arange(frames, dtype=np.int64) * FRAME_INTERVAL_US
        if self.capture_times_us is None:
            self.capture_times_us = self.depth_times_us
        if self.ir is None:
            self.ir = np.zeros((self.capture_times_us.size, rows, cols), dtype=np.uint16)
        self.depth_by_time = {int(t): i for i, t in enumerate(self.depth_times_us)}
        if self.color_frame is None:
            self.color_frame = mjpeg_frame(16, 16)
        self.stripped = self.depth[0].astype(">u2").tobytes()[: self.depth_header_stripping]
        self.tracks = {
            "COLOR": (1, 1001),
            self.depth_title: (2, 1002),
            "IR": (3, 1003),
            "IMU": (4, 1004),
        }

    def write(self, path: Path) -> None:
        """Write the file piece by piece: header, Segment head, one Cluster at a time."""
        with open(path, "wb") as handle:
            handle.write(_ebml_header() + (0x18538067).to_bytes(4, "big") + _size(0))
            segment_start = handle.tell()
            handle.write(self.segment_head())
            captures = self.capture_times_us.size
            for first in range(0, captures, self.captures_per_cluster):
                content = self.cluster_content(
                    first, min(first + self.captures_per_cluster, captures)
                )
                if self.cluster_crc and not self.unknown_cluster_size:
                    # EBML CRC-32: the IEEE CRC of the rest of the Cluster, stored little-endian.
                    content = b"\xbf\x84" + zlib.crc32(content).to_bytes(4, "little") + content
                size = _UNKNOWN_SIZE if self.unknown_cluster_size else _size(len(content))
                handle.write((0x1F43B675).to_bytes(4, "big") + size + content)
            segment_end = handle.tell()
            # The Segment's size is known only now: patch it in (8-byte size field).
            handle.seek(segment_start - 8)
            handle.write(_size(segment_end - segment_start))

    def segment_head(self) -> bytes:
        """Segment Info, Tracks, Tags and Attachments."""
        track_list = _track_list(
            self.tracks,
            self.depth_title,
            self.depth.shape[1:],
            self.color_size,
            stripped=self.stripped if self.depth_header_stripping else None,
            imu=bool(self.imu_samples_per_capture),
        )
        tags = _tags(self.tracks, self.depth_title, self.depth_mode)
        if self.cluster_crc:
            # The recorder checksums its Tags too (not its Info, Tracks or Attachments).
            content = tags[4 + 8 :]
            crc = b"\xbf\x84" + zlib.crc32(content).to_bytes(4, "little")
            tags = _element(0x1254C367, crc + content)
        return _segment_info(self.timecode_scale_ns) + track_list + tags + _attachments()

    def cluster_content(self, first: int, last: int) -> bytes:
        """Timecode and blocks of a Cluster holding captures ``[first, last)``."""
        cluster_ticks = int(self.capture_times_us[first]) * 1000 // self.timecode_scale_ns
        return _uint(0xE7, cluster_ticks) + b"".join(
            self.capture_blocks(capture, cluster_ticks) for capture in range(first, last)
        )

    def block(self, track_title: str, relative: int, payload: bytes, laced: bool = False) -> bytes:
        """A SimpleBlock, or a BlockGroup (IMU samples always, with a BlockDuration)."""
        flags = (0x80 if not self.block_groups else 0) | (0x04 if laced else 0)
        lace = b"\x00" if laced else b""  # fixed-size lacing: number of frames - 1
        number = self.tracks[track_title][0]
        body = (
            bytes([0x80 | number]) + struct.pack(">h", relative) + bytes([flags]) + lace + payload
        )
        if self.block_groups or track_title == "IMU":
            return _element(
                0xA0, _element(0xA1, body) + (_uint(0x9B, 1) if track_title == "IMU" else b"")
            )
        return _element(0xA3, body)

    def capture_blocks(self, capture: int, cluster_ticks: int) -> bytes:
        """The blocks of one capture: COLOR, depth (when recorded then), IR, IMU samples."""
        time_us = int(self.capture_times_us[capture])
        relative = time_us * 1000 // self.timecode_scale_ns - cluster_ticks
        blocks = self.block("COLOR", relative, self.color_frame)
        if time_us in self.depth_by_time:
            index = self.depth_by_time[time_us]
            payload = self.depth[index].astype(">u2").tobytes()
            if self.truncate_last_depth_by and index == self.depth.shape[0] - 1:
                payload = payload[: -self.truncate_last_depth_by]
            stripped = self.stripped
            if not payload.startswith(stripped):
                raise ValueError(
                    f"depth frame {index} does not start with the {len(stripped)} bytes of frame "
                    "0; header stripping needs frames that all start with the same bytes"
                )
            blocks += self.block(
                self.depth_title, relative, payload[len(stripped) :], self.depth_lacing
            )
        blocks += self.block("IR", relative, self.ir[capture].astype(">u2").tobytes())
        for _ in range(self.imu_samples_per_capture):
            blocks += self.block("IMU", relative, bytes(44))
        return blocks
