"""Index the blocks of a Matroska file by reading element headers only.

A Matroska file is a tree of EBML elements, each an ID, a size and a payload. The frames of a
track are the payloads of its blocks (SimpleBlock, or Block inside a BlockGroup), which sit in
Clusters. To find every frame of one track this walks the Segment's Clusters reading only
element headers and block headers (track number, timecode relative to the Cluster, flags) and
skips every payload, so the time taken depends on the number of blocks, not on their bytes:
a large colour track beside the depth track costs nothing.

Only the layouts the scanner understands are indexed; for anything else it raises
:class:`UnsupportedLayout` and the caller falls back to a full demuxer. Block timestamps are in
Segment ticks (``TimecodeScale`` ns each), the units libavformat gives as packet pts when the
track has no TrackTimecodeScale or CodecDelay of its own (checked by :func:`track_problem`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Block",
    "MatroskaLayout",
    "MatroskaTrack",
    "UnsupportedLayout",
    "declared_size",
    "iter_blocks",
    "read_layout",
    "track_problem",
    "video_track_blocks",
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
#: Elements a Cluster may hold (its own children and the global Void / CRC-32); the first ID
#: not in this set ends a Cluster of unknown size.
_CLUSTER_CHILDREN = frozenset(
    {TIMECODE, 0x5854, 0xA7, 0xAB, SIMPLE_BLOCK, BLOCK_GROUP, ENCRYPTED_BLOCK, 0xEC, 0xBF}
)
_DEFAULT_TIMECODE_SCALE_NS = 1_000_000
#: Bytes in an EBML variable-length number, by its first byte (0: invalid, over 8 bytes).
_VINT_LENGTH = bytes([0] + [9 - value.bit_length() for value in range(1, 256)])
_HEADER_READ = 8192  # bytes read at an element header; small elements come in the same read
_MAX_HEADER_ELEMENT = 1 << 24  # Info / Tracks larger than this are not a recording's header


class UnsupportedLayout(Exception):
    """The file is laid out in a way the block scanner does not handle (use a demuxer)."""


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


@dataclass(frozen=True)
class Block:
    """One block: its track, timestamp and where its payload is.

    Attributes
    ----------
    track : int
        TrackNumber.
    timestamp : int
        Cluster Timecode + the block's relative timecode, in Segment ticks.
    offset : int
        File offset of the payload (the frame's first byte), in bytes.
    size : int
        Payload bytes present in the file.
    complete : bool
        False when the file ends inside the payload (a truncated recording).
    """

    track: int
    timestamp: int
    offset: int
    size: int
    complete: bool


def _vint(data: bytes, position: int) -> tuple[int, int]:
    """The EBML variable-length integer at ``position`` with its marker: (value, length)."""
    first = data[position]
    if first == 0:
        raise UnsupportedLayout(f"an EBML number longer than 8 bytes at byte {position}")
    length = 9 - first.bit_length()
    if position + length > len(data):
        raise IndexError("EBML number cut off")
    return int.from_bytes(data[position : position + length], "big"), length


class _Reader:
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
        id_length = _VINT_LENGTH[data[i]]
        if not 0 < id_length <= 4:
            raise UnsupportedLayout(f"no valid element ID at byte {offset}")
        j = i + id_length
        if j >= end:
            return None
        element_id = data[i] if id_length == 1 else int.from_bytes(data[i:j], "big")
        size_length = _VINT_LENGTH[data[j]]
        if size_length == 0:
            raise UnsupportedLayout(f"an element size longer than 8 bytes at byte {offset}")
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
            raise UnsupportedLayout("a header element is cut off") from error
        size &= (1 << (7 * size_length)) - 1
        start = position + id_length + size_length
        if size == (1 << (7 * size_length)) - 1 or start + size > len(data):
            raise UnsupportedLayout("a header element of unknown or overlong size")
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
        reader = _Reader(handle, os.fstat(handle.fileno()).st_size)
        try:
            head = reader.header(0)
            if head is None or head[0] != EBML_HEADER or head[1] is None:
                return None
            position = head[2] + head[1]
            segment = reader.header(position)
        except UnsupportedLayout:
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
    """
    reader = _Reader(handle, os.fstat(handle.fileno()).st_size)
    head = reader.header(0)
    if head is None or head[0] != EBML_HEADER or head[1] is None:
        raise UnsupportedLayout("no EBML header at the start of the file")
    position = head[2] + head[1]
    segment = reader.header(position)
    if segment is None or segment[0] != SEGMENT:
        raise UnsupportedLayout("no Segment after the EBML header")
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
        if element_id in (INFO, TRACKS):
            if size > _MAX_HEADER_ELEMENT:
                raise UnsupportedLayout(f"a {size}-byte header element at byte {position}")
            data = reader.bytes_at(position + header_bytes, size)
            if element_id == INFO:
                fields = dict(_children(data))
                timecode_scale = (
                    _uint(fields.get(TIMECODE_SCALE, b"")) or _DEFAULT_TIMECODE_SCALE_NS
                )
            else:
                tracks = tuple(_parse_track(d) for i, d in _children(data) if i == TRACK_ENTRY)
        position += header_bytes + size
    if timecode_scale is None or tracks is None:
        raise UnsupportedLayout("no Segment Info and Tracks before the first Cluster")
    return MatroskaLayout(timecode_scale, tracks, position, segment_end)


def track_problem(layout: MatroskaLayout, track: MatroskaTrack) -> str | None:
    """Why the blocks of ``track`` cannot be read as raw frames at face value, or ``None``."""
    if track.encoded:
        return f"track {track.number} declares ContentEncodings (compressed or encrypted)"
    if track.timecode_scale != 1.0:
        return f"track {track.number} has TrackTimecodeScale {track.timecode_scale}"
    if track.codec_delay_ns:
        return f"track {track.number} has a CodecDelay of {track.codec_delay_ns} ns"
    return None


def iter_blocks(
    handle, layout: MatroskaLayout, strict_track: int, tracks: frozenset[int]
) -> Iterator[Block]:
    """Every block of the file after the header, in file order.

    Parameters
    ----------
    handle : binary file
        Open for reading, seekable.
    layout : MatroskaLayout
        From :func:`read_layout` on the same file.
    strict_track : int
        TrackNumber whose blocks are read as frames: a laced or invisible block of this track
        raises :class:`UnsupportedLayout` (its payload is not simply one whole frame).
    tracks : frozenset of int
        TrackNumbers whose blocks are yielded (others, such as a dense IMU track, are skipped
        without building a :class:`Block`).

    Yields
    ------
    Block
        Blocks whose timestamp would be negative are left out (a demuxer gives them no pts).
        The scan stops at the end of the Segment or where the file ends (truncated).

    Raises
    ------
    UnsupportedLayout
        On a laced or invisible block of ``strict_track``, an EncryptedBlock, a block before
        its Cluster's Timecode, or a malformed element header.
    """
    reader = _Reader(handle, os.fstat(handle.fileno()).st_size)
    end = layout.segment_end
    position = layout.body_start
    while position < end:
        header = reader.header(position)
        if header is None:
            return
        element_id, size, header_bytes = header
        if element_id != CLUSTER:
            if size is None:
                raise UnsupportedLayout(f"a top-level element of unknown size at byte {position}")
            position += header_bytes + size
            continue
        position += header_bytes
        # An unknown-size Cluster ends where an element that cannot be its child begins.
        cluster_end = end if size is None else min(position + size, end)
        cluster_time: int | None = None
        group_end = 0  # end of the BlockGroup being walked (its children are walked in line)
        while position < cluster_end:
            child = reader.header(position)
            if child is None:
                return
            child_id, child_size, child_header = child
            in_group = position < group_end
            if size is None and not in_group and child_id not in _CLUSTER_CHILDREN:
                break
            if child_size is None:
                raise UnsupportedLayout(f"a Cluster child of unknown size at byte {position}")
            payload = position + child_header
            position = payload + child_size
            if child_id == BLOCK_GROUP and not in_group:
                # Walk into the group (rather than recursing): its Block is usually first.
                group_end, position = position, payload
            elif child_id == SIMPLE_BLOCK or (child_id == BLOCK and in_group):
                if cluster_time is None:
                    raise UnsupportedLayout(
                        f"a block before its Cluster's Timecode at byte {payload}"
                    )
                block = _read_block(reader, payload, child_size, cluster_time, strict_track, tracks)
                if block is not None:
                    yield block
                if in_group:
                    position = group_end  # the rest of a BlockGroup says nothing we need
            elif child_id == TIMECODE and not in_group:
                cluster_time = _uint(reader.bytes_at(payload, child_size))
            elif child_id == ENCRYPTED_BLOCK:
                raise UnsupportedLayout(f"an EncryptedBlock at byte {payload}")
        if size is not None and position != cluster_end and cluster_end < end:
            raise UnsupportedLayout(f"a Cluster child overruns its Cluster (byte {position})")


def video_track_blocks(
    handle, title: str, video_titles: Sequence[str], time_base: Fraction
) -> tuple[int, Iterator[Block]]:
    """The blocks of every video track, read as frames of the one titled ``title``.

    Checks first that the file's layout lets block timestamps and payloads be taken at face
    value for that track, and that its tracks are the ones a demuxer saw.

    Parameters
    ----------
    handle : binary file
        The Matroska file, open for reading, seekable (the blocks are read from it as they are
        iterated).
    title : str
        Title (Name) of the track whose blocks must each be one frame (case-insensitive).
    video_titles : sequence of str
        The demuxer's titles of the video tracks, in order; the file's must be the same, or a
        TrackNumber could not be matched to the demuxer's stream for certain.
    time_base : fractions.Fraction
        The demuxer's time base of the track, seconds per tick; must be the TimecodeScale.

    Returns
    -------
    tuple
        ``(TrackNumber of the track, blocks)``: the blocks of all video tracks in file order,
        as :func:`iter_blocks` yields them.

    Raises
    ------
    UnsupportedLayout
        When any of that does not hold (then demux the file instead), here or while the
        blocks are iterated.
    """
    layout = read_layout(handle)
    video = [t for t in layout.tracks if t.kind == 1]
    if [t.title for t in video] != list(video_titles):
        raise UnsupportedLayout(
            f"its video tracks {[t.title for t in video]} differ from the "
            f"demuxer's {list(video_titles)}"
        )
    wanted = title.casefold()
    track = next(t for t in video if t.title.casefold() == wanted)
    problem = track_problem(layout, track)
    if problem is not None:
        raise UnsupportedLayout(problem)
    tick = Fraction(layout.timecode_scale_ns, 1_000_000_000)
    if tick != time_base:
        raise UnsupportedLayout(
            f"TimecodeScale {layout.timecode_scale_ns} ns does not match the "
            f"demuxer's time base {time_base}"
        )
    numbers = frozenset(t.number for t in video)
    return track.number, iter_blocks(handle, layout, track.number, numbers)


def _read_block(
    reader: _Reader,
    start: int,
    size: int,
    cluster_time: int,
    strict_track: int,
    tracks: frozenset[int],
) -> Block | None:
    """The block whose (Simple)Block payload starts at ``start``; None if its header is cut off."""
    data, i = reader.window(start, 12)
    if i >= len(data):
        return None  # cut off by the end of the file
    length = _VINT_LENGTH[data[i]]
    if length == 0:
        raise UnsupportedLayout(f"no valid track number in the block at byte {start}")
    if i + length + 3 > len(data):
        return None
    track = data[i] & 0x7F if length == 1 else int.from_bytes(data[i : i + length], "big")
    track &= (1 << (7 * length)) - 1
    if track not in tracks:
        return None
    relative = int.from_bytes(data[i + length : i + length + 2], "big", signed=True)
    flags = data[i + length + 2]
    if track == strict_track and flags & 0x0E:
        # Lacing (0x06) packs several frames in one payload; an invisible frame (0x08) is one a
        # demuxer may treat differently. Either way the payload is not simply the next frame.
        kind = "uses lacing" if flags & 0x06 else "has an invisible frame"
        raise UnsupportedLayout(f"track {track} {kind} (block at byte {start})")
    timestamp = cluster_time + relative
    if timestamp < 0:
        return None
    offset = start + length + 3
    present = min(start + size, reader.file_size) - offset
    return Block(track, timestamp, offset, max(present, 0), offset + present >= start + size)
