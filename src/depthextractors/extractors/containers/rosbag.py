"""ROS1 bag v2.0 files, record by record: the index of a bag's messages and their bytes.

A bag is a sequence of records, each a header of ``<uint32 length><name>=<value>`` fields and a
data block; messages live inside (usually lz4-compressed) chunk records, and a closed bag ends
with an index giving every message's chunk and offset. :func:`read_bag_index` reads that index
with :mod:`rosbags` (no chunk is decompressed for it), or rebuilds it by scanning the chunk
records of a bag whose writer never closed it. :class:`ChunkStream` decompresses one chunk,
whole, the first time a message of it is asked for, and checks it: the lz4 frame's content
checksum (the RealSense SDK writes one) or bz2's block CRCs, that the compressed data ends where
the chunk does, and that it decompresses to the size the chunk's header gives. A damaged chunk
raises :class:`~depthextractors.extractors.errors.CorruptRecordingError` naming its byte
offset. Nothing here knows what the messages mean; the RealSense extractor decides which topic
holds depth and how to read it.
"""

from __future__ import annotations

import bz2
import functools
import os
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import lz4.frame

from ..errors import CorruptRecordingError

__all__ = [
    "BAG_MAGIC",
    "HEADER_PREFIX",
    "UINT32",
    "BagConnection",
    "BagIndex",
    "ChunkRecord",
    "ChunkStream",
    "read_bag_index",
    "read_chunk_record",
    "ros1_typestore",
]

BAG_MAGIC = b"#ROSBAG V2.0\n"

# ROS1 bag v2.0 record opcodes.
_OP_MSGDATA = 2
_OP_BAGHEADER = 3
_OP_IDXDATA = 4
_OP_CHUNK = 5
_OP_CONNECTION = 7

UINT32 = struct.Struct("<I")
# A ROS1-serialised message that starts with std_msgs/Header: seq, stamp.sec, stamp.nsec.
HEADER_PREFIX = struct.Struct("<III")


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
class ChunkRecord:
    """Where a chunk's data is in the file, and how it is compressed.

    Attributes
    ----------
    compression : str
        ``"lz4"``, ``"bz2"`` or ``"none"``.
    data_pos : int
        File offset of the compressed data, bytes.
    data_size : int
        Compressed bytes.
    size : int or None
        Bytes the data decompresses to, as the chunk's header says (None if it does not).
    """

    compression: str
    data_pos: int
    data_size: int
    size: int | None = None


@functools.lru_cache(maxsize=1)
def ros1_typestore():
    """The :mod:`rosbags` type store that deserialises ROS1 (Noetic) messages."""
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
        (size,) = UINT32.unpack_from(blob, position)
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
    (header_size,) = UINT32.unpack(handle.read(4))
    if position + 8 + header_size > file_size:
        return None
    fields = _parse_fields(handle.read(header_size), where)
    (data_size,) = UINT32.unpack(handle.read(4))
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


class ChunkStream:
    """One chunk, decompressed whole and checked the first time any of its bytes are asked for.

    Checking needs the whole chunk (lz4 keeps its checksum, bz2 its stream CRC, at the end), so
    a message near the start of a chunk costs the chunk; chunks are small (the SDK closes one
    at about 768 kB), so this costs little.
    """

    def __init__(self, path: Path, chunk_pos: int, chunk: ChunkRecord) -> None:
        self.path = path
        self.chunk_pos = chunk_pos
        self.chunk = chunk
        if chunk.compression == "lz4":
            self._decompressor = lz4.frame.LZ4FrameDecompressor()
        elif chunk.compression == "bz2":
            self._decompressor = bz2.BZ2Decompressor()
        elif chunk.compression == "none":
            self._decompressor = None
        else:
            raise ValueError(
                f"{path}: the chunk at byte {chunk_pos} uses compression {chunk.compression!r}; "
                "expected lz4, bz2 or none"
            )
        self.buffer = bytearray()
        self._loaded = False

    def _load(self, handle: BinaryIO, what: str) -> None:
        """Decompress the whole chunk and check it (once)."""
        if self._loaded:
            return
        handle.seek(self.chunk.data_pos)
        data = handle.read(self.chunk.data_size)
        if len(data) < self.chunk.data_size:
            raise OSError(
                f"{self.path} ends inside the chunk at byte {self.chunk_pos} while reading "
                f"{what}; the bag is truncated. Copy it again from the recording machine"
            )
        where = f"{self.path}: the chunk at byte {self.chunk_pos} (holding {what})"
        advice = "Copy the bag again from the recording machine"
        if self._decompressor is None:
            self.buffer = bytearray(data)
        else:
            try:
                self.buffer = bytearray(self._decompressor.decompress(data))
            except (RuntimeError, OSError, EOFError, ValueError) as error:
                raise CorruptRecordingError(
                    f"{where} is corrupt: its {self.chunk.compression} data cannot be "
                    f"decompressed or fails its checksum ({error}). {advice}"
                ) from error
            if not self._decompressor.eof:
                raise CorruptRecordingError(
                    f"{where} is corrupt: its {self.chunk.compression} data does not end where "
                    f"the chunk does (byte {self.chunk.data_pos + self.chunk.data_size}). {advice}"
                )
        if self.chunk.size is not None and len(self.buffer) != self.chunk.size:
            raise CorruptRecordingError(
                f"{where} is corrupt: it decompresses to {len(self.buffer)} bytes but its header "
                f"says {self.chunk.size}. {advice}"
            )
        self._loaded = True

    def ensure(self, size: int, handle: BinaryIO, what: str) -> None:
        """Make sure at least ``size`` bytes of the chunk are available (decompressing it)."""
        self._load(handle, what)
        if len(self.buffer) < size:
            raise CorruptRecordingError(
                f"{self.path}: the chunk at byte {self.chunk_pos} holds {len(self.buffer)} bytes, "
                f"but {what} needs {size}; the bag's index or the chunk is damaged. Copy the bag "
                "again from the recording machine"
            )

    def message_span(self, offset: int, handle: BinaryIO, what: str) -> tuple[int, int]:
        """``(start, end)`` in the chunk of the data of the message record at ``offset``."""
        while True:
            self.ensure(offset + 4, handle, what)
            (header_size,) = UINT32.unpack_from(self.buffer, offset)
            self.ensure(offset + 8 + header_size, handle, what)
            where = f"{self.path}, chunk at byte {self.chunk_pos}, offset {offset}"
            try:
                fields = _parse_fields(self.buffer[offset + 4 : offset + 4 + header_size], where)
            except ValueError as error:
                raise CorruptRecordingError(
                    f"{error} (reading {what}); the bag is damaged. Copy it again from the "
                    "recording machine"
                ) from error
            (data_size,) = UINT32.unpack_from(self.buffer, offset + 4 + header_size)
            start = offset + 8 + header_size
            op = fields.get("op", b"\x00")[0]
            # Some writers index the connection record written just before a message.
            if op == _OP_CONNECTION:
                offset = start + data_size
                continue
            if op != _OP_MSGDATA:
                raise CorruptRecordingError(
                    f"{where}: expected a message record for {what}, found op {op}; the bag's "
                    "index or the chunk is damaged. Copy the bag again from the recording machine"
                )
            return start, start + data_size

    def message(self, offset: int, handle: BinaryIO, what: str) -> bytes:
        """The data of the message record at ``offset`` (``what`` names it in messages)."""
        start, end = self.message_span(offset, handle, what)
        self.ensure(end, handle, what)
        return bytes(self.buffer[start:end])

    def header_stamp(self, offset: int, handle: BinaryIO, what: str) -> float:
        """``header.stamp`` in seconds of the message at ``offset`` (it starts with a Header)."""
        start, _ = self.message_span(offset, handle, what)
        self.ensure(start + HEADER_PREFIX.size, handle, what)
        _, seconds, nanoseconds = HEADER_PREFIX.unpack_from(self.buffer, start)
        return seconds + nanoseconds * 1e-9

    def records(self, handle: BinaryIO) -> list[tuple[int, _Record]]:
        """Every record in the chunk, as ``(offset, record)``."""
        self._load(handle, "the whole chunk")
        found = []
        offset = 0
        where = f"{self.path}, chunk at byte {self.chunk_pos}"
        while offset + 8 <= len(self.buffer):
            (header_size,) = UINT32.unpack_from(self.buffer, offset)
            fields = _parse_fields(self.buffer[offset + 4 : offset + 4 + header_size], where)
            (data_size,) = UINT32.unpack_from(self.buffer, offset + 4 + header_size)
            record = _Record(fields, offset + 8 + header_size, data_size)
            if record.end > len(self.buffer):
                raise CorruptRecordingError(
                    f"{where}: a record at offset {offset} runs past the chunk's end; the bag is "
                    "damaged. Copy it again from the recording machine"
                )
            found.append((offset, record))
            offset = record.end
        return found


# ----------------------------------------------------------------------------------------------
# Building the index: from the bag's own index (rosbags), or by scanning its chunks
# ----------------------------------------------------------------------------------------------
@dataclass
class BagIndex:
    """Every message of a bag, by connection.

    Attributes
    ----------
    connections : dict
        Connection id to :class:`BagConnection`.
    locations : dict
        Connection id to the ``(chunk position, offset in chunk)`` of each of its messages, in
        file order.
    indexed : bool
        Whether the bag's own index was read (False: its chunks were scanned).
    scan_note : str or None
        For a scanned bag, what to warn its reader about.
    cut_bytes : int
        For a scanned bag, the bytes of an unfinished record at its end (a bag cut short).
    """

    connections: dict[int, BagConnection]
    locations: dict[int, list[tuple[int, int]]]
    indexed: bool
    scan_note: str | None = None
    cut_bytes: int = 0


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


def _index_with_rosbags(path: Path) -> BagIndex:
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
            expected = {
                (info.pos, conn_id): count
                for info in reader.chunk_infos
                for conn_id, count in info.connection_counts.items()
                if count
            }
    # rosbags trips over a damaged index in many ways (asserts, struct and text errors too).
    except (ReaderError, AssertionError, KeyError, IndexError, ValueError, struct.error) as error:
        raise CorruptRecordingError(
            f"{path}: the bag's index cannot be read ({str(error) or type(error).__name__}); the "
            "file is damaged. Copy it again from the recording machine."
        ) from error
    _check_index_counts(path, connections, locations, expected)
    return BagIndex(connections, locations, indexed=True)


def _check_index_counts(
    path: Path,
    connections: dict[int, BagConnection],
    locations: dict[int, list[tuple[int, int]]],
    expected: dict[tuple[int, int], int],
) -> None:
    """Refuse a bag whose index entries disagree with its chunk infos' message counts.

    A bag's index has no checksum; a damaged index-data record would silently leave out the
    messages it lists (a topic's frames, or the device's metadata).
    """
    found = Counter(
        (chunk_pos, conn_id) for conn_id, entries in locations.items() for chunk_pos, _ in entries
    )
    for key in sorted(set(found) | set(expected)):
        if found.get(key, 0) != expected.get(key, 0):
            chunk_pos, conn_id = key
            connection = connections.get(conn_id)
            topic = connection.topic if connection is not None else f"connection {conn_id}"
            raise CorruptRecordingError(
                f"{path}: the bag's index is damaged: it lists {found.get(key, 0)} messages on "
                f"{topic} in the chunk at byte {chunk_pos}, where the chunk's summary says "
                f"{expected.get(key, 0)}. Copy the bag again from the recording machine"
            )


def _scan_records(
    path: Path, handle: BinaryIO, first_record: int, file_size: int
) -> tuple[dict[int, tuple[int, str, str, str]], list[tuple[int, ChunkRecord, list]], int]:
    """The top-level records of an unindexed bag.

    Returns the connections found outside chunks (id to ``(id, topic, type, definition)``),
    each chunk as ``(position, record, [(connection, offset), ...])`` with the entries of the
    index-data records that follow it, and the bytes of an unfinished record at the end.
    """
    connections: dict[int, tuple[int, str, str, str]] = {}
    chunks: list[tuple[int, ChunkRecord, list[tuple[int, int]]]] = []
    position = first_record
    while position < file_size:
        record = _read_record(handle, position, file_size, f"{path}, byte {position}")
        if record is None:
            return connections, chunks, file_size - position
        if record.op == _OP_CHUNK:
            chunk = _chunk_of(record)
            chunks.append((position, chunk, []))
        elif record.op == _OP_IDXDATA and chunks:
            handle.seek(record.data_pos)
            entries = handle.read(record.data_size)
            conn_id = _field_uint(record.fields, "conn", str(path))
            for start in range(0, len(entries) - 11, 12):
                (offset,) = UINT32.unpack_from(entries, start + 8)
                chunks[-1][2].append((conn_id, offset))
        elif record.op == _OP_CONNECTION:
            handle.seek(record.data_pos)
            connection = _connection_from_record(
                record.fields, handle.read(record.data_size), str(path)
            )
            connections[connection[0]] = connection
        position = record.end
    return connections, chunks, 0


def _chunk_connection(stream: ChunkStream, record: _Record, path: Path):
    """``(id, topic, type, definition)`` of a connection record inside a chunk."""
    data = bytes(stream.buffer[record.data_pos : record.end])
    return _connection_from_record(record.fields, data, str(path))


def _index_by_scanning(path: Path, handle: BinaryIO, first_record: int, file_size: int) -> BagIndex:
    """Rebuild the index of an unindexed bag from its chunk and index-data records."""
    raw_connections, chunks, tail_bytes = _scan_records(path, handle, first_record, file_size)
    locations: dict[int, list[tuple[int, int]]] = defaultdict(list)
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
        stream = ChunkStream(path, chunk_pos, chunk)
        for offset, record in stream.records(handle):
            if record.op == _OP_CONNECTION:
                connection = _chunk_connection(stream, record, path)
                raw_connections[connection[0]] = connection
            elif record.op == _OP_MSGDATA:
                locations[_field_uint(record.fields, "conn", str(path))].append((chunk_pos, offset))
    # A connection record can sit in an earlier chunk than its first message.
    missing = set(locations) - set(raw_connections)
    for chunk_pos, chunk in skipped if missing else []:
        stream = ChunkStream(path, chunk_pos, chunk)
        for _, record in stream.records(handle):
            if record.op == _OP_CONNECTION:
                connection = _chunk_connection(stream, record, path)
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
    return BagIndex(
        connections, {k: sorted(v) for k, v in locations.items()}, indexed=False, scan_note=note,
        cut_bytes=tail_bytes,
    )  # fmt: skip


def read_bag_index(path: Path) -> BagIndex:
    """Where every message of the bag at ``path`` is, from its index or by scanning it.

    Parameters
    ----------
    path : pathlib.Path
        A ROS1 bag v2.0 file.

    Returns
    -------
    BagIndex

    Raises
    ------
    ValueError
        If the file is empty, not a ROS1 bag v2.0, or truncated before or inside its index.
    """
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


def read_chunk_record(handle: BinaryIO, chunk_pos: int, path: Path) -> ChunkRecord:
    """The chunk record at byte ``chunk_pos`` of an open bag.

    Raises
    ------
    OSError
        If the file ends inside the record, or the record there is not a chunk.
    """
    file_size = os.fstat(handle.fileno()).st_size
    where = f"{path}, chunk at byte {chunk_pos}"
    record = _read_record(handle, chunk_pos, file_size, where)
    if record is None:
        raise OSError(f"{where}: the file ends inside this chunk; the bag is truncated")
    if record.op != _OP_CHUNK:
        raise CorruptRecordingError(
            f"{where}: expected a chunk record, found op {record.op}; the bag's index or the "
            "chunk is damaged. Copy the bag again from the recording machine"
        )
    return _chunk_of(record)


def _chunk_of(record: _Record) -> ChunkRecord:
    compression = record.fields.get("compression", b"none").decode("utf-8", "replace")
    size = record.fields.get("size")
    return ChunkRecord(
        compression,
        record.data_pos,
        record.data_size,
        None if size is None else int.from_bytes(size, "little"),
    )
