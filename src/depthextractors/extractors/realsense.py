"""Intel RealSense ``.bag`` recordings: ROS1 bag v2.0 files written by the RealSense SDK.

A bag is a sequence of records; messages live inside (usually lz4-compressed) chunk records, and
a closed bag ends with an index giving every message's chunk and offset. Opening a bag reads that
index with :mod:`rosbags` (no chunk is decompressed for it), so the frame count and every frame's
location are known without decoding frames; reading frame ``k`` decompresses only its chunk, and
only up to the end of that message. A bag whose writer never closed it has no index; it is read
by scanning its chunk records instead.
"""

from __future__ import annotations

import bz2
import functools
import logging
import math
import os
import struct
import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import lz4.frame
import numpy as np

from ..cameras import CAMERA_PRESETS, CameraModel, detect_camera, get_camera
from .base import DEPTH_DTYPE, DepthVideoExtractor
from .sidecar import check_sampling_frequency, warn_default_rate

__all__ = ["BagConnection", "RealSenseBagExtractor"]

logger = logging.getLogger(__name__)

BAG_MAGIC = b"#ROSBAG V2.0\n"
IMAGE_MSGTYPE = "sensor_msgs/msg/Image"
DEPTH_ENCODINGS = ("16UC1", "mono16")
DEFAULT_DEPTH_UNITS_M = 0.001
# Header stamps later than 2001-09-09 (1e9 s) are clock times, not simulated time.
_CLOCK_TIME_AFTER_S = 1e9

# ROS1 bag v2.0 record opcodes.
_OP_MSGDATA = 2
_OP_BAGHEADER = 3
_OP_IDXDATA = 4
_OP_CHUNK = 5
_OP_CONNECTION = 7

_UINT32 = struct.Struct("<I")
# A ROS1-serialised message that starts with std_msgs/Header: seq, stamp.sec, stamp.nsec.
_HEADER_PREFIX = struct.Struct("<III")


@dataclass(frozen=True)
class BagConnection:
    """One connection (topic) of a bag.

    Attributes
    ----------
    id : int
        Connection id in the bag.
    topic : str
        Topic name, e.g. ``/device_0/sensor_0/Depth_0/image/data``.
    msgtype : str
        Message type in ``package/msg/Name`` form, e.g. ``sensor_msgs/msg/Image``.
    msgdef : str
        The message definition text the bag carries.
    message_count : int
        Messages on this connection.
    """

    id: int
    topic: str
    msgtype: str
    msgdef: str
    message_count: int


@dataclass(frozen=True)
class _ChunkRecord:
    compression: str
    data_pos: int
    data_size: int


@functools.lru_cache(maxsize=1)
def _ros1_typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS1_NOETIC)


def _normalize_msgtype(name: str) -> str:
    package, _, message = name.partition("/")
    if not message or "/msg/" in name:
        return name
    return f"{package}/msg/{message}"


def _parse_fields(blob: bytes, where: str) -> dict[str, bytes]:
    """Parse a bag record header: ``<uint32 length><name>=<value>`` fields back to back."""
    fields: dict[str, bytes] = {}
    position = 0
    while position < len(blob):
        if position + 4 > len(blob):
            raise ValueError(f"{where}: a record header ends inside a field length")
        (size,) = _UINT32.unpack_from(blob, position)
        position += 4
        name, separator, value = bytes(blob[position : position + size]).partition(b"=")
        if not separator or position + size > len(blob):
            raise ValueError(f"{where}: a record header field is malformed")
        fields[name.decode("utf-8", "replace")] = value
        position += size
    return fields


def _field_uint(fields: dict[str, bytes], name: str, where: str) -> int:
    try:
        return int.from_bytes(fields[name], "little")
    except KeyError:
        raise ValueError(f"{where}: a record lacks its {name!r} field") from None


@dataclass(frozen=True)
class _Record:
    fields: dict[str, bytes]
    data_pos: int
    data_size: int

    @property
    def op(self) -> int:
        return self.fields.get("op", b"\x00")[0]

    @property
    def end(self) -> int:
        return self.data_pos + self.data_size


def _read_record(handle: BinaryIO, position: int, file_size: int, where: str) -> _Record | None:
    """Read the record at ``position`` of a file; ``None`` if the file ends inside it."""
    if position + 4 > file_size:
        return None
    handle.seek(position)
    (header_size,) = _UINT32.unpack(handle.read(4))
    if position + 8 + header_size > file_size:
        return None
    fields = _parse_fields(handle.read(header_size), where)
    (data_size,) = _UINT32.unpack(handle.read(4))
    data_pos = position + 8 + header_size
    if data_pos + data_size > file_size:
        return None
    return _Record(fields, data_pos, data_size)


def _connection_from_record(record_fields: dict[str, bytes], data: bytes, where: str):
    details = _parse_fields(data, where)
    return (
        _field_uint(record_fields, "conn", where),
        record_fields.get("topic", b"").decode("utf-8", "replace"),
        _normalize_msgtype(details.get("type", b"").decode("utf-8", "replace")),
        details.get("message_definition", b"").decode("utf-8", "replace"),
    )


class _ChunkStream:
    """One chunk, decompressed progressively: a message near the start of a large chunk costs
    only the bytes before it."""

    _PIECE_BYTES = 1 << 20

    def __init__(self, path: Path, chunk_pos: int, chunk: _ChunkRecord) -> None:
        self.path = path
        self.chunk_pos = chunk_pos
        self.chunk = chunk
        if chunk.compression == "lz4":
            self._decompress = lz4.frame.LZ4FrameDecompressor().decompress
        elif chunk.compression == "bz2":
            self._decompress = bz2.BZ2Decompressor().decompress
        elif chunk.compression == "none":
            self._decompress = bytes
        else:
            raise ValueError(
                f"{path}: the chunk at byte {chunk_pos} uses compression {chunk.compression!r}; "
                "expected lz4, bz2 or none"
            )
        self.consumed = 0
        self.buffer = bytearray()

    def _feed(self, handle: BinaryIO, what: str) -> None:
        """Decompress the next piece of the chunk's compressed data."""
        handle.seek(self.chunk.data_pos + self.consumed)
        piece = handle.read(min(self._PIECE_BYTES, self.chunk.data_size - self.consumed))
        if not piece:
            raise OSError(
                f"{self.path} ends inside the chunk at byte {self.chunk_pos} while reading "
                f"{what}; the bag is truncated"
            )
        self.consumed += len(piece)
        try:
            self.buffer += self._decompress(piece)
        except (RuntimeError, OSError, EOFError, ValueError) as error:
            raise OSError(
                f"{self.path}: the chunk at byte {self.chunk_pos} cannot be decompressed "
                f"({self.chunk.compression}: {error}) while reading {what}; the bag is corrupt"
            ) from error

    def ensure(self, size: int, handle: BinaryIO, what: str) -> None:
        """Decompress until at least ``size`` bytes of the chunk are available."""
        while len(self.buffer) < size and self.consumed < self.chunk.data_size:
            self._feed(handle, what)
        if len(self.buffer) < size:
            raise OSError(
                f"{self.path}: the chunk at byte {self.chunk_pos} holds {len(self.buffer)} bytes, "
                f"but {what} needs {size}; the bag is corrupt or truncated"
            )

    def message_span(self, offset: int, handle: BinaryIO, what: str) -> tuple[int, int]:
        """``(start, end)`` in the chunk of the data of the message record at ``offset``."""
        while True:
            self.ensure(offset + 4, handle, what)
            (header_size,) = _UINT32.unpack_from(self.buffer, offset)
            self.ensure(offset + 8 + header_size, handle, what)
            where = f"{self.path}, chunk at byte {self.chunk_pos}, offset {offset}"
            fields = _parse_fields(self.buffer[offset + 4 : offset + 4 + header_size], where)
            (data_size,) = _UINT32.unpack_from(self.buffer, offset + 4 + header_size)
            start = offset + 8 + header_size
            op = fields.get("op", b"\x00")[0]
            # Some writers index the connection record written just before a message.
            if op == _OP_CONNECTION:
                offset = start + data_size
                continue
            if op != _OP_MSGDATA:
                raise OSError(f"{where}: expected a message record for {what}, found op {op}")
            return start, start + data_size

    def records(self, handle: BinaryIO) -> list[tuple[int, _Record]]:
        """Every record in the chunk, as ``(offset, record)``."""
        while self.consumed < self.chunk.data_size:
            self._feed(handle, "the whole chunk")
        found = []
        offset = 0
        where = f"{self.path}, chunk at byte {self.chunk_pos}"
        while offset + 8 <= len(self.buffer):
            (header_size,) = _UINT32.unpack_from(self.buffer, offset)
            fields = _parse_fields(self.buffer[offset + 4 : offset + 4 + header_size], where)
            (data_size,) = _UINT32.unpack_from(self.buffer, offset + 4 + header_size)
            record = _Record(fields, offset + 8 + header_size, data_size)
            if record.end > len(self.buffer):
                raise ValueError(f"{where}: a record at offset {offset} runs past the chunk's end")
            found.append((offset, record))
            offset = record.end
        return found


# ----------------------------------------------------------------------------------------------
# Building the index: from the bag's own index (rosbags), or by scanning its chunks
# ----------------------------------------------------------------------------------------------
@dataclass
class _BagIndex:
    connections: dict[int, BagConnection]
    # Per connection, the (chunk position, offset in chunk) of each message, in file order.
    locations: dict[int, list[tuple[int, int]]]
    indexed: bool
    scan_note: str | None = None


def _read_bag_header(handle: BinaryIO, path: Path, file_size: int) -> tuple[int, int]:
    """Check the magic and return ``(index_pos, end of the bag header record)``."""
    magic = handle.read(len(BAG_MAGIC))
    if magic != BAG_MAGIC:
        raise ValueError(
            f"{path} is not a ROS1 bag v2.0 (RealSense .bag): it starts with {magic[:16]!r} "
            f"instead of {BAG_MAGIC!r}"
        )
    record = _read_record(handle, len(BAG_MAGIC), file_size, str(path))
    if record is None or record.op != _OP_BAGHEADER:
        raise ValueError(f"{path} is truncated or corrupt: its bag header record is incomplete")
    return _field_uint(record.fields, "index_pos", str(path)), record.end


def _index_with_rosbags(path: Path) -> _BagIndex:
    from rosbags.rosbag1 import Reader, ReaderError

    try:
        with Reader(path) as reader:
            connections = {
                c.id: BagConnection(c.id, c.topic, c.msgtype, c.msgdef.data, c.msgcount)
                for c in reader.connections
            }
            # rosbags keeps each connection's index entries (time, chunk_pos, offset) here; the
            # frames are ordered by position in the file, which is the order they were written.
            locations = {
                conn_id: sorted((entry.chunk_pos, entry.offset) for entry in entries)
                for conn_id, entries in reader.indexes.items()
            }
    except ReaderError as error:
        raise ValueError(
            f"{path}: the bag's index cannot be read ({error}); the file is damaged or was cut "
            "short. Copy it again from the recording machine."
        ) from error
    return _BagIndex(connections, locations, indexed=True)


def _index_by_scanning(
    path: Path, handle: BinaryIO, first_record: int, file_size: int
) -> _BagIndex:
    """Rebuild the index of an unindexed bag from its chunk and index-data records."""
    raw_connections: dict[int, tuple[int, str, str, str]] = {}
    locations: dict[int, list[tuple[int, int]]] = defaultdict(list)
    chunks: list[tuple[int, _ChunkRecord, list[tuple[int, int]]]] = []
    position = first_record
    tail_bytes = 0
    while position < file_size:
        record = _read_record(handle, position, file_size, f"{path}, byte {position}")
        if record is None:
            tail_bytes = file_size - position
            break
        if record.op == _OP_CHUNK:
            chunk = _ChunkRecord(
                record.fields.get("compression", b"none").decode(), record.data_pos,
                record.data_size,
            )  # fmt: skip
            chunks.append((position, chunk, []))
        elif record.op == _OP_IDXDATA and chunks:
            handle.seek(record.data_pos)
            entries = handle.read(record.data_size)
            conn_id = _field_uint(record.fields, "conn", str(path))
            for start in range(0, len(entries) - 11, 12):
                (offset,) = _UINT32.unpack_from(entries, start + 8)
                chunks[-1][2].append((conn_id, offset))
        elif record.op == _OP_CONNECTION:
            handle.seek(record.data_pos)
            connection = _connection_from_record(
                record.fields, handle.read(record.data_size), str(path)
            )
            raw_connections[connection[0]] = connection
        position = record.end

    skipped = []
    for chunk_pos, chunk, entries in chunks:
        if chunk.data_size == 0:
            continue
        # Chunks followed by index-data records for known connections need no decompression.
        if entries and all(conn_id in raw_connections for conn_id, _ in entries):
            for conn_id, offset in entries:
                locations[conn_id].append((chunk_pos, offset))
            skipped.append((chunk_pos, chunk))
            continue
        stream = _ChunkStream(path, chunk_pos, chunk)
        for offset, record in stream.records(handle):
            if record.op == _OP_CONNECTION:
                data = bytes(stream.buffer[record.data_pos : record.end])
                connection = _connection_from_record(record.fields, data, str(path))
                raw_connections[connection[0]] = connection
            elif record.op == _OP_MSGDATA:
                locations[_field_uint(record.fields, "conn", str(path))].append((chunk_pos, offset))
    # A connection record can sit in an earlier chunk than its first message.
    missing = set(locations) - set(raw_connections)
    for chunk_pos, chunk in skipped if missing else []:
        stream = _ChunkStream(path, chunk_pos, chunk)
        for _, record in stream.records(handle):
            if record.op == _OP_CONNECTION:
                data = bytes(stream.buffer[record.data_pos : record.end])
                connection = _connection_from_record(record.fields, data, str(path))
                raw_connections[connection[0]] = connection

    connections = {
        conn_id: BagConnection(conn_id, topic, msgtype, msgdef, len(locations.get(conn_id, [])))
        for conn_id, topic, msgtype, msgdef in raw_connections.values()
    }
    note = (
        f"{path} has no index (its writer did not close it), so its chunks were scanned to find "
        "the frames"
    )
    if tail_bytes:
        note += (
            f"; its last {tail_bytes} bytes are an unfinished record and were ignored (any frames "
            "in it were never completely written)"
        )
    return _BagIndex(
        connections, {k: sorted(v) for k, v in locations.items()}, indexed=False, scan_note=note
    )


def _read_bag_index(path: Path) -> _BagIndex:
    file_size = path.stat().st_size
    if file_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): it holds no RealSense recording")
    with open(path, "rb") as handle:
        index_pos, first_record = _read_bag_header(handle, path, file_size)
        if index_pos == 0:
            return _index_by_scanning(path, handle, first_record, file_size)
    if index_pos >= file_size:
        raise ValueError(
            f"{path} is truncated: its header says the index starts at byte {index_pos}, but the "
            f"file has only {file_size} bytes. Copy the file again from the recording machine."
        )
    return _index_with_rosbags(path)


# ----------------------------------------------------------------------------------------------
# The extractor
# ----------------------------------------------------------------------------------------------
class RealSenseBagExtractor(DepthVideoExtractor):
    """A RealSense SDK recording (ROS1 ``.bag``) read lazily, in millimetres.

    Opening reads the bag's index (or, for a bag its writer never closed, scans its chunk
    records), the stream settings and the first depth frame; no other frame is decoded. Reading
    frame ``k`` decompresses only the chunk that holds it, and only up to the end of that frame.

    Parameters
    ----------
    file_path : path-like
        The ``.bag`` file.
    topic : str, optional
        Depth topic. By default the ``sensor_msgs/Image`` topic whose name contains "depth"
        and whose frames are 16-bit (``16UC1`` / ``mono16``) is used.
    camera : str or CameraModel, default "auto"
        ``"auto"`` picks the RealSense preset with the frame size (D415 when the bag's device
        name says so, else D435); or a preset name, family or
        :class:`~depthextractors.cameras.CameraModel`.
    depth_units_m : float, optional
        Metres per depth count. By default the value the SDK recorded (the ``Depth Units``
        option, usually 0.001 m), else 0.001 m with a warning. Frames are returned in
        millimetres: ``round(count * depth_units_m * 1000)``.
    sampling_frequency : float, optional
        Frame rate in Hz; by default the depth stream's nominal rate recorded in the bag.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, not a ROS1 bag, truncated, or holds no (or several) depth
        topics, or its depth frames are not 16-bit.

    Notes
    -----
    Frame times (:meth:`get_native_timestamps`) are the ``header.stamp`` of each image message,
    in seconds; the SDK writes the frame's timestamp there (the bag's own receive times are not
    the capture times). They are read on first use, which decompresses the start of every chunk
    that holds a depth frame.
    """

    extractor_name = "RealSenseBagExtractor"

    def __init__(
        self,
        file_path: str | os.PathLike,
        topic: str | None = None,
        camera: str | CameraModel = "auto",
        depth_units_m: float | None = None,
        sampling_frequency: float | None = None,
    ) -> None:
        super().__init__()
        self.file_path = Path(file_path)
        if not self.file_path.exists():
            raise FileNotFoundError(f"no RealSense bag at {self.file_path}")
        if self.file_path.is_dir():
            raise IsADirectoryError(f"{self.file_path} is a directory; pass the .bag file")
        self._chunk_records: dict[int, _ChunkRecord] = {}
        self._stream: _ChunkStream | None = None
        self._lock = threading.Lock()
        self._timestamps: np.ndarray | None = None
        self._timestamps_read = False

        index = _read_bag_index(self.file_path)
        if index.scan_note:
            warnings.warn(index.scan_note, stacklevel=2)
        self._indexed = index.indexed
        self._connections = index.connections
        self._locations = index.locations
        with open(self.file_path, "rb") as handle:
            self._depth = self._choose_depth_connection(topic, handle)
            self._frame_locations = np.asarray(self._locations[self._depth.id], dtype=np.int64)
            first = self._decode_image(self._read_message(0, self._frame_locations[0], handle), 0)
            self._image_size = (int(first.height), int(first.width))
            self._device_info = self._read_key_values(self._device_topic() + "/info", handle)
            self._depth_units_m = self._resolve_depth_units(depth_units_m, handle)
            self._sampling_frequency = self._resolve_sampling_frequency(sampling_frequency, handle)
        scale = self._depth_units_m * 1000.0
        self._mm_per_count = 1.0 if math.isclose(scale, 1.0, rel_tol=1e-9) else scale
        self._camera = self._resolve_camera(camera)

    # ------------------------------------------------------------------ set-up
    def _choose_depth_connection(self, topic: str | None, handle: BinaryIO) -> BagConnection:
        images = [
            c for c in self._connections.values()
            if c.msgtype == IMAGE_MSGTYPE and self._locations.get(c.id)
        ]  # fmt: skip
        image_topics = sorted(c.topic for c in images)
        if topic is not None:
            matches = [c for c in images if c.topic == topic]
            if not matches:
                raise ValueError(
                    f"{self.file_path} has no image messages on topic {topic!r}; its image topics "
                    f"are {image_topics}"
                )
            return matches[0]
        candidates = [c for c in images if "depth" in c.topic.lower()]
        if len(candidates) > 1:
            # Keep the 16-bit ones (an aligned colour stream can also mention depth).
            candidates = [
                c for c in candidates
                if self._peek_encoding(c, handle) in DEPTH_ENCODINGS
            ]  # fmt: skip
        if not candidates:
            all_topics = sorted(f"{c.topic} ({c.msgtype})" for c in self._connections.values())
            shown = ", ".join(all_topics[:12]) + (" ..." if len(all_topics) > 12 else "")
            raise ValueError(
                f"{self.file_path} has no depth topic: expected sensor_msgs/Image messages with "
                f"a 16UC1/mono16 encoding on a topic whose name contains 'depth'. Its image topics "
                f"are {image_topics}; all topics: {shown}. Pass topic=... if the depth images "
                "are on another topic."
            )
        if len(candidates) > 1:
            raise ValueError(
                f"{self.file_path} has several depth topics {sorted(c.topic for c in candidates)}; "
                "pass topic=... to choose one"
            )
        return candidates[0]

    def _peek_encoding(self, connection: BagConnection, handle: BinaryIO) -> str:
        chunk_pos, offset = self._locations[connection.id][0]
        stream = self._chunk_stream(chunk_pos, handle)
        start, end = stream.message_span(offset, handle, f"the first {connection.topic} message")
        stream.ensure(end, handle, "an image message")
        message = _ros1_typestore().deserialize_ros1(bytes(stream.buffer[start:end]), IMAGE_MSGTYPE)
        return message.encoding

    def _device_topic(self) -> str:
        # "/device_0/sensor_0/Depth_0/image/data" -> "/device_0"
        parts = self._depth.topic.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else ""

    def _sensor_topic(self) -> str:
        # "/device_0/sensor_0/Depth_0/image/data" -> "/device_0/sensor_0"
        parts = self._depth.topic.split("/")
        return "/".join(parts[:3]) if len(parts) > 3 else ""

    def _messages_on(self, topic: str, msgtype: str | None = None) -> list[BagConnection]:
        return [
            c for c in self._connections.values()
            if c.topic == topic and (msgtype is None or c.msgtype == msgtype)
            and self._locations.get(c.id)
        ]  # fmt: skip

    def _read_connection_messages(self, connection: BagConnection, handle: BinaryIO) -> list[bytes]:
        messages = []
        for chunk_pos, offset in self._locations[connection.id]:
            stream = self._chunk_stream(chunk_pos, handle)
            start, end = stream.message_span(offset, handle, f"a {connection.topic} message")
            stream.ensure(end, handle, f"a {connection.topic} message")
            messages.append(bytes(stream.buffer[start:end]))
        return messages

    def _read_key_values(self, topic: str, handle: BinaryIO) -> dict[str, str]:
        values: dict[str, str] = {}
        for connection in self._messages_on(topic, "diagnostic_msgs/msg/KeyValue"):
            for raw in self._read_connection_messages(connection, handle):
                message = _ros1_typestore().deserialize_ros1(raw, connection.msgtype)
                values[message.key] = message.value
        return values

    def _resolve_depth_units(self, depth_units_m: float | None, handle: BinaryIO) -> float:
        if depth_units_m is not None:
            value = float(depth_units_m)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"depth_units_m must be a positive number of metres, got {value}")
            return value
        sensor = self._sensor_topic()
        connections = [
            c for name in ("option/Depth Units/value", "option/Depth Units")
            for c in self._messages_on(f"{sensor}/{name}", "std_msgs/msg/Float32")
        ]  # fmt: skip
        if not connections:
            warnings.warn(
                f"{self.file_path} records no 'Depth Units' option for {sensor or 'its sensor'}; "
                f"assuming {DEFAULT_DEPTH_UNITS_M} m per count (pass depth_units_m= to override)",
                stacklevel=3,
            )
            return DEFAULT_DEPTH_UNITS_M
        values = []
        for raw in self._read_connection_messages(connections[0], handle):
            message = _ros1_typestore().deserialize_ros1(raw, "std_msgs/msg/Float32")
            # The SDK stores a float32; its shortest decimal form is the value that was set.
            values.append(float(str(np.float32(message.data))))
        if len(set(values)) > 1:
            warnings.warn(
                f"{self.file_path}: the depth units changed during the recording {values}; "
                f"the first value, {values[0]} m, is used for every frame",
                stacklevel=3,
            )
        if not (math.isfinite(values[0]) and values[0] > 0):
            raise ValueError(f"{self.file_path} records invalid depth units {values[0]!r} m")
        return values[0]

    def _resolve_sampling_frequency(
        self, sampling_frequency: float | None, handle: BinaryIO
    ) -> float:
        if sampling_frequency is not None:
            return check_sampling_frequency(sampling_frequency)
        # "/device_0/sensor_0/Depth_0/image/data" -> "/device_0/sensor_0/Depth_0/info"
        stream_topic = self._depth.topic.rsplit("/image/", 1)[0] + "/info"
        for connection in self._messages_on(stream_topic):
            first_field = next(
                (line.split("#")[0].split() for line in connection.msgdef.splitlines()
                 if line.split("#")[0].strip()),
                [],
            )  # fmt: skip
            # realsense_msgs/StreamInfo begins with "uint32 fps" (the nominal rate in Hz).
            if first_field == ["uint32", "fps"]:
                raw = self._read_connection_messages(connection, handle)[0]
                (fps,) = _UINT32.unpack_from(raw, 0)
                if fps > 0:
                    return float(fps)
        return warn_default_rate(
            f"{self.file_path}: no nominal frame rate recorded for {self._depth.topic} and none "
            "given",
            stacklevel=3,
        )

    def _resolve_camera(self, camera: str | CameraModel) -> CameraModel:
        if not (isinstance(camera, str) and camera in ("auto", "realsense")):
            return get_camera(camera, self._image_size)
        rows, cols = self._image_size
        if "D415" in self._device_info.get("Name", ""):
            preset = CAMERA_PRESETS.get(f"realsense_d415_{cols}x{rows}")
            if preset is not None:
                return preset
        model = detect_camera(self._image_size, "realsense")
        return model if model.name != "unknown" else get_camera("auto", self._image_size)

    # ------------------------------------------------------------------ reading messages
    def _chunk_record(self, chunk_pos: int, handle: BinaryIO) -> _ChunkRecord:
        chunk = self._chunk_records.get(chunk_pos)
        if chunk is None:
            file_size = os.fstat(handle.fileno()).st_size
            where = f"{self.file_path}, chunk at byte {chunk_pos}"
            record = _read_record(handle, chunk_pos, file_size, where)
            if record is None:
                raise OSError(f"{where}: the file ends inside this chunk; the bag is truncated")
            if record.op != _OP_CHUNK:
                raise OSError(f"{where}: expected a chunk record, found op {record.op}")
            compression = record.fields.get("compression", b"none").decode("utf-8", "replace")
            chunk = _ChunkRecord(compression, record.data_pos, record.data_size)
            self._chunk_records[chunk_pos] = chunk
        return chunk

    def _chunk_stream(self, chunk_pos: int, handle: BinaryIO) -> _ChunkStream:
        # One chunk is kept: frames are read in file order, several per chunk at most.
        if self._stream is None or self._stream.chunk_pos != chunk_pos:
            self._stream = _ChunkStream(
                self.file_path, chunk_pos, self._chunk_record(chunk_pos, handle)
            )
        return self._stream

    def _read_message(self, frame: int, location: np.ndarray, handle: BinaryIO) -> bytes:
        chunk_pos, offset = (int(v) for v in location)
        stream = self._chunk_stream(chunk_pos, handle)
        what = f"depth frame {frame}"
        start, end = stream.message_span(offset, handle, what)
        stream.ensure(end, handle, what)
        return bytes(stream.buffer[start:end])

    def _decode_image(self, raw: bytes, frame: int):
        try:
            message = _ros1_typestore().deserialize_ros1(raw, IMAGE_MSGTYPE)
        # Whatever the deserialiser trips on, the message bytes are not a valid image.
        except Exception as error:
            raise OSError(
                f"{self.file_path}: depth frame {frame} on {self._depth.topic} cannot be decoded "
                f"as sensor_msgs/Image ({error}); the bag is corrupt"
            ) from error
        where = f"{self.file_path}: depth frame {frame} on {self._depth.topic}"
        if message.encoding not in DEPTH_ENCODINGS:
            raise ValueError(
                f"{where} has encoding {message.encoding!r}; expected 16-bit depth "
                f"({' or '.join(DEPTH_ENCODINGS)}). Pass topic=... to choose the depth topic."
            )
        if message.step < 2 * message.width or message.step % 2:
            raise ValueError(f"{where} has a row step of {message.step} bytes for "
                             f"{message.width} 16-bit pixels")  # fmt: skip
        if len(message.data) != message.step * message.height:
            raise OSError(
                f"{where} holds {len(message.data)} bytes of pixels but its header says "
                f"{message.height} rows of {message.step} bytes; the frame is incomplete"
            )
        return message

    def _decode_frame(self, frame: int, handle: BinaryIO) -> np.ndarray:
        message = self._decode_image(
            self._read_message(frame, self._frame_locations[frame], handle), frame
        )
        rows, cols = self._image_size
        if (message.height, message.width) != (rows, cols):
            raise ValueError(
                f"{self.file_path}: depth frame {frame} is {message.height}x{message.width} but "
                f"frame 0 is {rows}x{cols} (rows x cols); the frame size changed mid-recording"
            )
        dtype = np.dtype(">u2" if message.is_bigendian else "<u2")
        counts = np.frombuffer(message.data, dtype=dtype).reshape(rows, message.step // 2)[:, :cols]
        if self._mm_per_count == 1.0:
            return counts
        millimetres = np.rint(counts * self._mm_per_count)
        if millimetres.max(initial=0) > np.iinfo(DEPTH_DTYPE).max:
            raise ValueError(
                f"{self.file_path}: depth frame {frame} holds {int(counts.max())} counts of "
                f"{self._depth_units_m} m = {millimetres.max():.0f} mm, more than uint16 "
                "millimetres can hold (65535); pass depth_units_m= if the recorded units are wrong"
            )
        return millimetres

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return int(self._frame_locations.shape[0])

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    @property
    def topic(self) -> str:
        """The depth topic read."""
        return self._depth.topic

    @property
    def depth_units_m(self) -> float:
        """Metres per raw depth count in the bag."""
        return self._depth_units_m

    @property
    def connections(self) -> list[BagConnection]:
        """Every connection (topic) in the bag."""
        return sorted(self._connections.values(), key=lambda c: c.id)

    def get_metadata(self) -> dict[str, Any]:
        metadata = {
            "topic": self._depth.topic,
            "depth_units_m": self._depth_units_m,
            "device": dict(self._device_info),
            "indexed": self._indexed,
        }
        stamps = self.get_native_timestamps()
        # Header stamps are the recording computer's clock (seconds since 1970, UTC) unless the
        # bag was made with simulated time, which starts near zero.
        if stamps is not None and stamps.size and stamps[0] > _CLOCK_TIME_AFTER_S:
            first = datetime.fromtimestamp(float(stamps[0]), tz=timezone.utc)
            metadata["start_time"] = first.isoformat()
        return metadata

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        rows, cols = self._image_size
        video = np.empty((end_frame - start_frame, rows, cols), dtype=DEPTH_DTYPE)
        if end_frame == start_frame:
            return video
        with self._lock, open(self.file_path, "rb") as handle:
            for position, frame in enumerate(range(start_frame, end_frame)):
                video[position] = self._decode_frame(frame, handle)
        return video

    def get_native_timestamps(self) -> np.ndarray | None:
        if not self._timestamps_read:
            with self._lock, open(self.file_path, "rb") as handle:
                self._timestamps = self._read_header_stamps(handle)
            self._timestamps_read = True
        return self._timestamps

    def _read_header_stamps(self, handle: BinaryIO) -> np.ndarray | None:
        stamps = np.empty(self.get_num_frames(), dtype=np.float64)
        for frame, location in enumerate(self._frame_locations):
            chunk_pos, offset = (int(v) for v in location)
            stream = self._chunk_stream(chunk_pos, handle)
            what = f"the header of depth frame {frame}"
            start, _ = stream.message_span(offset, handle, what)
            stream.ensure(start + _HEADER_PREFIX.size, handle, what)
            _, seconds, nanoseconds = _HEADER_PREFIX.unpack_from(stream.buffer, start)
            stamps[frame] = seconds + nanoseconds * 1e-9
        if np.any(np.diff(stamps) < 0):
            warnings.warn(
                f"{self.file_path}: the header stamps of {self._depth.topic} go backwards; frame "
                "times will be frame / frame rate",
                stacklevel=4,
            )
            return None
        return stamps
