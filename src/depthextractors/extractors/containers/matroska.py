"""Read a Matroska file's structure by element headers only: its header, and the EBML reader
the block index (:mod:`.matroska_blocks`) walks the Clusters with.

A Matroska file is a tree of EBML elements, each an ID, a size and a payload. The frames of a
track are the payloads of its blocks (SimpleBlock, or Block inside a BlockGroup), which sit in
Clusters. To find every frame of one track this walks the Segment's Clusters reading only
element headers and block headers (track number, timecode relative to the Cluster, flags) and
skips every payload, so the time taken depends on the number of blocks, not on their bytes:
a large colour track beside the depth track costs nothing.

Only the layouts the scanner understands are indexed; for anything else it raises
:class:`UnsupportedLayout` and the caller falls back to a full demuxer. A structure that does not
hold together (an element ID or size that is not valid EBML, an element running past its
parent, a header element failing its CRC-32) is damage, not a layout: it raises
:class:`DamagedMatroska`, because a demuxer would skip over it and silently lose the frames it
covers. Block timestamps are in Segment ticks (``TimecodeScale`` ns each), the units
libavformat gives as packet pts when the track has no TrackTimecodeScale or CodecDelay of its
own (checked by :func:`track_problem`).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "DamagedMatroska",
    "MatroskaLayout",
    "MatroskaTrack",
    "UnsupportedLayout",
    "check_header",
    "declared_size",
    "read_layout",
    "track_problem",
]

EBML_HEADER = 0x1A45DFA3
SEGMENT = 0x18538067
INFO = 0x1549A966
TIMECODE_SCALE = 0x2AD7B1
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_TYPE = 0x83
NAME = 0x536E
CONTENT_ENCODINGS = 0x6D80
TRACK_TIMECODE_SCALE = 0x23314F
CODEC_DELAY = 0x56AA
CLUSTER = 0x1F43B675
TIMECODE = 0xE7
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
ENCRYPTED_BLOCK = 0xAF
CRC32 = 0xBF
VOID = 0xEC
#: Elements a Segment holds (SeekHead, Info, Tracks, Cues, Tags, Attachments, Chapters, Cluster,
#: Void, CRC-32): anything else at that level is a damaged ID, and skipping it would silently
#: skip the frames it covers.
SEGMENT_CHILDREN = frozenset(
    {0x114D9B74, INFO, TRACKS, 0x1C53BB6B, 0x1254C367, 0x1941A469, 0x1043A770, CLUSTER, VOID, CRC32}
)
_DEFAULT_TIMECODE_SCALE_NS = 1_000_000
#: Bytes in an EBML variable-length number, by its first byte (0: invalid, over 8 bytes).
VINT_LENGTH = bytes([0] + [9 - value.bit_length() for value in range(1, 256)])
_HEADER_READ = 8192  # bytes read at an element header; small elements come in the same read
_MAX_HEADER_ELEMENT = 1 << 24  # Info / Tracks larger than this are not a recording's header


class UnsupportedLayout(Exception):
    """The file is laid out in a way the block scanner does not handle (use a demuxer)."""


class DamagedMatroska(Exception):
    """The file's structure is damaged (invalid EBML, an element overrunning its parent, or a
    Cluster failing its CRC-32); the message gives the byte offset."""


@dataclass(frozen=True)
class MatroskaTrack:
    """What the scanner needs of a TrackEntry.

    Attributes
    ----------
    number : int
        TrackNumber, as blocks refer to it.
    kind : int
        TrackType (1 video, 2 audio, 0x11 subtitle, ...).
    title : str
        Name ("" when absent), e.g. ``"DEPTH"``.
    encoded : bool
        Whether the track declares ContentEncodings (compression or encryption of payloads).
    timecode_scale : float
        TrackTimecodeScale (1.0 when absent).
    codec_delay_ns : int
        CodecDelay in ns (0 when absent).
    """

    number: int
    kind: int
    title: str
    encoded: bool
    timecode_scale: float
    codec_delay_ns: int


@dataclass(frozen=True)
class MatroskaLayout:
    """The Segment header of a Matroska file: its time scale, tracks and where Clusters start.

    Attributes
    ----------
    timecode_scale_ns : int
        Nanoseconds per timestamp tick (Segment Info TimecodeScale).
    tracks : tuple of MatroskaTrack
        In file order.
    body_start : int
        File offset of the first Cluster (Segment children from here are scanned for blocks).
    segment_end : int
        File offset where the Segment ends: its declared end, or the file's end when the size
        is unknown or the file is shorter (truncated).
    """

    timecode_scale_ns: int
    tracks: tuple[MatroskaTrack, ...]
    body_start: int
    segment_end: int


def _vint(data: bytes, position: int) -> tuple[int, int]:
    """The EBML variable-length integer at ``position`` with its marker: (value, length)."""
    first = data[position]
    if first == 0:
        raise DamagedMatroska(f"an invalid EBML number (longer than 8 bytes) at byte {position}")
    length = 9 - first.bit_length()
    if position + length > len(data):
        raise IndexError("EBML number cut off")
    return int.from_bytes(data[position : position + length], "big"), length


class EbmlReader:
    """Element headers of a file, read through a small window (few reads for small elements)."""

    def __init__(self, handle, file_size: int) -> None:
        self._handle = handle
        self.file_size = file_size
        self._window = b""
        self._window_start = 0

    def window(self, offset: int, count: int) -> tuple[bytes, int]:
        """The buffered bytes and the index of ``offset`` in them, with ``count`` bytes after
        it unless the file ends sooner."""
        start = offset - self._window_start
        if start < 0 or start + count > len(self._window):
            self._handle.seek(offset)
            self._window = self._handle.read(max(count, _HEADER_READ))
            self._window_start = offset
            start = 0
        return self._window, start

    def bytes_at(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``offset`` (fewer at the end of the file)."""
        data, start = self.window(offset, count)
        return data[start : start + count]

    def header(self, offset: int) -> tuple[int, int | None, int] | None:
        """``(id, payload size or None if unknown, header bytes)`` at ``offset``.

        ``None`` when the file ends inside the header (a truncated file).
        """
        # Decoded inline with a length table: this runs once per element of the file.
        data, i = self.window(offset, 12)
        end = len(data)
        if i >= end:
            return None
        id_length = VINT_LENGTH[data[i]]
        if not 0 < id_length <= 4:
            raise DamagedMatroska(f"no valid element ID at byte {offset}")
        j = i + id_length
        if j >= end:
            return None
        element_id = data[i] if id_length == 1 else int.from_bytes(data[i:j], "big")
        size_length = VINT_LENGTH[data[j]]
        if size_length == 0:
            raise DamagedMatroska(f"an invalid element size (longer than 8 bytes) at byte {offset}")
        if j + size_length > end:
            return None
        if size_length == 1:
            size = data[j] & 0x7F
        else:
            size = int.from_bytes(data[j : j + size_length], "big")
            size &= (1 << (7 * size_length)) - 1
        unknown = size == (1 << (7 * size_length)) - 1
        return element_id, (None if unknown else size), id_length + size_length


def _uint(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _children(data: bytes) -> Iterator[tuple[int, bytes]]:
    """``(id, payload)`` of the elements in ``data`` (the payload of a master element)."""
    position = 0
    while position < len(data):
        try:
            element_id, id_length = _vint(data, position)
            size, size_length = _vint(data, position + id_length)
        except IndexError as error:
            raise DamagedMatroska("a header element is cut off") from error
        size &= (1 << (7 * size_length)) - 1
        start = position + id_length + size_length
        if size == (1 << (7 * size_length)) - 1 or start + size > len(data):
            raise DamagedMatroska("a header element of unknown size or running past its parent")
        yield element_id, data[start : start + size]
        position = start + size


def _parse_track(data: bytes) -> MatroskaTrack:
    fields = dict(_children(data))
    scale = fields.get(TRACK_TIMECODE_SCALE)
    if scale is None:
        timecode_scale = 1.0
    elif len(scale) in (4, 8):
        timecode_scale = struct.unpack(">f" if len(scale) == 4 else ">d", scale)[0]
    else:
        timecode_scale = 0.0
    return MatroskaTrack(
        number=_uint(fields.get(TRACK_NUMBER, b"")),
        kind=_uint(fields.get(TRACK_TYPE, b"")),
        title=fields.get(NAME, b"").decode("utf-8", "replace"),
        encoded=CONTENT_ENCODINGS in fields,
        timecode_scale=timecode_scale,
        codec_delay_ns=_uint(fields.get(CODEC_DELAY, b"")),
    )


def declared_size(path: str | os.PathLike) -> int | None:
    """Bytes a Matroska file says it holds (the end of its Segment), or ``None`` if it does not.

    A recorder that stops before finishing leaves the Segment size it started with, or a
    Segment shorter on disk than its declared size when the copy was cut; comparing this with
    the file size is the cheap way to notice, as libavformat just stops at the end.

    Parameters
    ----------
    path : path-like
        The file (any container; only Matroska files declare a size).

    Returns
    -------
    int or None
        Bytes.
    """
    with open(path, "rb") as handle:
        reader = EbmlReader(handle, os.fstat(handle.fileno()).st_size)
        try:
            head = reader.header(0)
            if head is None or head[0] != EBML_HEADER or head[1] is None:
                return None
            position = head[2] + head[1]
            segment = reader.header(position)
        except (UnsupportedLayout, DamagedMatroska):
            return None
    if segment is None or segment[0] != SEGMENT or segment[1] is None:
        return None
    return position + segment[2] + segment[1]


def read_layout(handle) -> MatroskaLayout:
    """Read the EBML header and the Segment's Info and Tracks, up to the first Cluster.

    Parameters
    ----------
    handle : binary file
        Open for reading, seekable.

    Returns
    -------
    MatroskaLayout

    Raises
    ------
    UnsupportedLayout
        If the file is not Matroska or has no Info / Tracks before its first Cluster.
    DamagedMatroska
        If the header's structure is damaged, or a header element that starts with a CRC-32
        element (libavformat writes one in each, the Azure Kinect recorder in its Tags) fails it.
    """
    reader = EbmlReader(handle, os.fstat(handle.fileno()).st_size)
    if reader.bytes_at(0, 4) != EBML_HEADER.to_bytes(4, "big"):
        raise UnsupportedLayout("no EBML header at the start of the file")
    head = reader.header(0)
    if head is None or head[1] is None:
        raise UnsupportedLayout("no EBML header at the start of the file")
    position = head[2] + head[1]
    segment = reader.header(position)
    if segment is None or segment[0] != SEGMENT:
        raise DamagedMatroska(f"no Segment after the EBML header (byte {position})")
    position += segment[2]
    segment_end = reader.file_size if segment[1] is None else position + segment[1]
    segment_end = min(segment_end, reader.file_size)
    timecode_scale: int | None = None
    tracks: tuple[MatroskaTrack, ...] | None = None
    while position < segment_end:
        header = reader.header(position)
        if header is None:
            break
        element_id, size, header_bytes = header
        if element_id == CLUSTER:
            break
        if size is None:
            raise UnsupportedLayout(f"a top-level element of unknown size at byte {position}")
        if element_id not in SEGMENT_CHILDREN:
            raise DamagedMatroska(f"an element with unknown ID {element_id:#x} at byte {position}")
        if element_id in (INFO, TRACKS) and size > _MAX_HEADER_ELEMENT:
            raise UnsupportedLayout(f"a {size}-byte header element at byte {position}")
        if element_id != VOID and size <= _MAX_HEADER_ELEMENT:
            data = reader.bytes_at(position + header_bytes, size)
            _check_crc(data, f"the header element {element_id:#x} at byte {position}")
            if element_id == INFO:
                fields = dict(_children(data))
                timecode_scale = (
                    _uint(fields.get(TIMECODE_SCALE, b"")) or _DEFAULT_TIMECODE_SCALE_NS
                )
            elif element_id == TRACKS:
                tracks = tuple(_parse_track(d) for i, d in _children(data) if i == TRACK_ENTRY)
        position += header_bytes + size
    if timecode_scale is None or tracks is None:
        raise UnsupportedLayout("no Segment Info and Tracks before the first Cluster")
    return MatroskaLayout(timecode_scale, tracks, position, segment_end)


def _check_crc(data: bytes, what: str) -> None:
    """Raise if the master element whose payload is ``data`` starts with a CRC-32 that fails."""
    stored = int.from_bytes(data[2:6], "little")
    if data[:2] == b"\xbf\x84" and len(data) >= 6 and zlib.crc32(data[6:]) != stored:
        raise DamagedMatroska(f"{what} fails its CRC-32 check")


def check_header(path: str | os.PathLike) -> None:
    """Check a Matroska file's header: its structure and the CRC-32 of each header element.

    Files that are not Matroska, or laid out in a way :func:`read_layout` does not handle,
    pass: only damage raises.

    Parameters
    ----------
    path : path-like
        The file.

    Raises
    ------
    DamagedMatroska
        If the header's structure is damaged or an element fails its CRC-32.
    """
    with open(path, "rb") as handle:
        try:
            read_layout(handle)
        except UnsupportedLayout:
            return


def track_problem(layout: MatroskaLayout, track: MatroskaTrack) -> str | None:
    """Why the blocks of ``track`` cannot be read as raw frames at face value, or ``None``."""
    if track.encoded:
        return f"track {track.number} declares ContentEncodings (compressed or encrypted)"
    if track.timecode_scale != 1.0:
        return f"track {track.number} has TrackTimecodeScale {track.timecode_scale}"
    if track.codec_delay_ns:
        return f"track {track.number} has a CodecDelay of {track.codec_delay_ns} ns"
    return None
