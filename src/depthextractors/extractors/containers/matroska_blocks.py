"""Index the blocks of a Matroska file by reading element headers only, and check its Clusters.

The frames of a track are the payloads of its blocks (SimpleBlock, or Block inside a
BlockGroup), which sit in Clusters. :func:`iter_blocks` walks the Segment's Clusters reading
only element headers and block headers (track number, timecode relative to the Cluster, flags)
and skips every payload, so the time taken depends on the number of blocks, not on their bytes:
a large colour track beside the depth track costs nothing.

Layouts the scanner does not handle raise :class:`~.matroska.UnsupportedLayout` (the caller
demuxes instead); a structure that does not hold together raises
:class:`~.matroska.DamagedMatroska`, because a demuxer would skip over it and silently lose the
frames it covers. Each block names its Cluster (:class:`ClusterExtent`), whose CRC-32 (written
first in every Cluster by the Azure Kinect recorder and by libavformat) a reader checks with
:func:`read_verified_cluster`.
"""

from __future__ import annotations

import bisect
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .matroska import (
    BLOCK,
    BLOCK_GROUP,
    CLUSTER,
    CRC32,
    ENCRYPTED_BLOCK,
    SEGMENT_CHILDREN,
    SIMPLE_BLOCK,
    TIMECODE,
    VINT_LENGTH,
    VOID,
    DamagedMatroska,
    EbmlReader,
    MatroskaLayout,
    UnsupportedLayout,
    read_layout,
    track_problem,
)

__all__ = [
    "Block",
    "ClusterChecker",
    "ClusterExtent",
    "iter_blocks",
    "read_verified_cluster",
    "track_blocks",
    "video_track_blocks",
]

#: Elements a Cluster may hold (its own children and the global Void / CRC-32); the first ID
#: not in this set ends a Cluster of unknown size, and is damage inside a Cluster of known size.
_CLUSTER_CHILDREN = frozenset(
    {TIMECODE, 0x5854, 0xA7, 0xAB, SIMPLE_BLOCK, BLOCK_GROUP, ENCRYPTED_BLOCK, VOID, CRC32}
)


@dataclass(frozen=True)
class ClusterExtent:
    """Where a Cluster's data is, and the CRC-32 it was written with.

    Attributes
    ----------
    start : int
        File offset of the Cluster element, bytes.
    checked_start : int
        File offset where the data covered by the CRC-32 begins (just after the CRC-32
        element), bytes.
    end : int
        File offset where the Cluster's data ends, bytes.
    crc : int or None
        The CRC-32 stored in the Cluster, or None when it has none (or its size is unknown).
    """

    start: int
    checked_start: int
    end: int
    crc: int | None


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
    cluster : ClusterExtent or None
        The Cluster holding the block.
    """

    track: int
    timestamp: int
    offset: int
    size: int
    complete: bool
    cluster: ClusterExtent | None = None


def _uint(data: bytes) -> int:
    return int.from_bytes(data, "big")


def iter_blocks(
    handle, layout: MatroskaLayout, strict_track: int, tracks: frozenset[int]
) -> Iterator[Block]:
    """Every block of the file after the header, in file order.

    Parameters
    ----------
    handle : binary file
        Open for reading, seekable.
    layout : MatroskaLayout
        From :func:`~.matroska.read_layout` on the same file.
    strict_track : int
        TrackNumber whose blocks are read as frames: a laced or invisible block of this track
        raises :class:`~.matroska.UnsupportedLayout` (its payload is not simply one whole frame).
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
        its Cluster's Timecode, or an element of unknown size other than a Cluster.
    DamagedMatroska
        On an invalid element header, an element that is not a Segment's child at the top
        level or a Cluster's child in a Cluster, or a child running past its Cluster.
    """
    reader = EbmlReader(handle, os.fstat(handle.fileno()).st_size)
    end = layout.segment_end
    position = layout.body_start
    while position < end:
        header = reader.header(position)
        if header is None:
            return
        element_id, size, header_bytes = header
        if element_id not in SEGMENT_CHILDREN:
            raise DamagedMatroska(f"an element with unknown ID {element_id:#x} at byte {position}")
        if element_id != CLUSTER:
            if size is None:
                raise UnsupportedLayout(f"a top-level element of unknown size at byte {position}")
            position += header_bytes + size
            continue
        extent = _cluster_extent(reader, position, header_bytes, size)
        position += header_bytes
        # An unknown-size Cluster ends where an element that cannot be its child begins.
        cluster_end = end if size is None else min(position + size, end)
        yield from _cluster_blocks(reader, extent, position, cluster_end, size is None,
                                   strict_track, tracks)  # fmt: skip
        position = extent.end if size is not None else _unknown_cluster_end(reader, position, end)


def _cluster_blocks(
    reader: EbmlReader,
    extent: ClusterExtent,
    position: int,
    cluster_end: int,
    unknown_size: bool,
    strict_track: int,
    tracks: frozenset[int],
) -> Iterator[Block]:
    """The blocks of the Cluster whose children start at ``position``."""
    cluster_time: int | None = None
    group_end = 0  # end of the BlockGroup being walked (its children are walked in line)
    while position < cluster_end:
        child = reader.header(position)
        if child is None:
            return
        child_id, child_size, child_header = child
        in_group = position < group_end
        if not in_group and child_id not in _CLUSTER_CHILDREN:
            if unknown_size:
                return
            raise DamagedMatroska(
                f"an element with unknown ID {child_id:#x} inside the Cluster at byte "
                f"{extent.start} (byte {position})"
            )
        if child_size is None:
            raise UnsupportedLayout(f"a Cluster child of unknown size at byte {position}")
        payload = position + child_header
        position = payload + child_size
        if child_id == BLOCK_GROUP and not in_group:
            # Walk into the group (rather than recursing): its Block is usually first.
            group_end, position = position, payload
        elif child_id == SIMPLE_BLOCK or (child_id == BLOCK and in_group):
            if cluster_time is None:
                raise UnsupportedLayout(f"a block before its Cluster's Timecode at byte {payload}")
            block = _read_block(
                reader, payload, child_size, cluster_time, strict_track, tracks, extent
            )
            if block is not None:
                yield block
            if in_group:
                position = group_end  # the rest of a BlockGroup says nothing we need
        elif child_id == TIMECODE and not in_group:
            cluster_time = _uint(reader.bytes_at(payload, child_size))
        elif child_id == ENCRYPTED_BLOCK:
            raise UnsupportedLayout(f"an EncryptedBlock at byte {payload}")
    if not unknown_size and position != cluster_end and cluster_end < reader.file_size:
        raise DamagedMatroska(
            f"an element runs past the end of the Cluster at byte {extent.start} (to byte "
            f"{position}, the Cluster ends at {cluster_end})"
        )


def _unknown_cluster_end(reader: EbmlReader, position: int, end: int) -> int:
    """Where a Cluster of unknown size whose children start at ``position`` ends."""
    while position < end:
        child = reader.header(position)
        if child is None or child[0] not in _CLUSTER_CHILDREN or child[1] is None:
            return position if child is not None else end
        position += child[2] + child[1]
    return position


def _cluster_extent(
    reader: EbmlReader, start: int, header_bytes: int, size: int | None
) -> ClusterExtent:
    """The extent of the Cluster at ``start`` and the CRC-32 it holds (its first child)."""
    data_start = start + header_bytes
    if size is None or data_start + size > reader.file_size:
        # Unknown size, or cut off by the end of the file: nothing a CRC could be checked over.
        stop = data_start if size is None else data_start + size
        return ClusterExtent(start, data_start, stop, None)
    child = reader.header(data_start)
    if child is not None and child[0] == CRC32 and child[1] == 4:
        crc_at = data_start + child[2]
        crc = int.from_bytes(reader.bytes_at(crc_at, 4), "little")
        return ClusterExtent(start, crc_at + 4, data_start + size, crc)
    return ClusterExtent(start, data_start, data_start + size, None)


def read_verified_cluster(handle, extent: ClusterExtent) -> bytes:
    """The bytes of a Cluster from :attr:`ClusterExtent.checked_start`, checked against its CRC.

    Parameters
    ----------
    handle : binary file
        The Matroska file, open for reading, seekable.
    extent : ClusterExtent
        The Cluster, from a :class:`Block`.

    Returns
    -------
    bytes
        ``extent.end - extent.checked_start`` bytes (not checked if the Cluster has no CRC-32).

    Raises
    ------
    DamagedMatroska
        If the bytes fail the Cluster's CRC-32, or the file ends before the Cluster does.
    """
    handle.seek(extent.checked_start)
    data = handle.read(extent.end - extent.checked_start)
    if len(data) != extent.end - extent.checked_start:
        raise DamagedMatroska(
            f"the file ends at byte {extent.checked_start + len(data)}, inside the Cluster at "
            f"byte {extent.start} (which ends at {extent.end})"
        )
    if extent.crc is not None and zlib.crc32(data) != extent.crc:
        raise DamagedMatroska(
            f"the Cluster at byte {extent.start} fails its CRC-32 check (its bytes "
            f"{extent.checked_start}..{extent.end} are not what was written)"
        )
    return data


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
    DamagedMatroska
        When the file's structure is damaged, here or while the blocks are iterated.
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
    reader: EbmlReader,
    start: int,
    size: int,
    cluster_time: int,
    strict_track: int,
    tracks: frozenset[int],
    cluster: ClusterExtent | None = None,
) -> Block | None:
    """The block whose (Simple)Block payload starts at ``start``; None if its header is cut off."""
    data, i = reader.window(start, 12)
    if i >= len(data):
        return None  # cut off by the end of the file
    length = VINT_LENGTH[data[i]]
    if length == 0:
        raise DamagedMatroska(f"no valid track number in the block at byte {start}")
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
    complete = offset + present >= start + size
    return Block(track, timestamp, offset, max(present, 0), complete, cluster)


def track_blocks(
    path: str | os.PathLike, title: str, video_titles: Sequence[str], time_base: Fraction
) -> list[Block] | None:
    """The blocks of the video track titled ``title``, or None if the scanner cannot index them.

    Parameters
    ----------
    path : path-like
        The Matroska file.
    title, video_titles, time_base
        As for :func:`video_track_blocks`.

    Returns
    -------
    list of Block or None
        None when the file is not Matroska or is laid out in a way the scanner does not handle.

    Raises
    ------
    DamagedMatroska
        If the file's structure is damaged.
    """
    try:
        with open(path, "rb") as handle:
            number, blocks = video_track_blocks(handle, title, video_titles, time_base)
            return [block for block in blocks if block.track == number]
    except UnsupportedLayout:
        return None


class ClusterChecker:
    """Checks the Clusters of a file against their CRC-32, each once, as reads reach them.

    Parameters
    ----------
    path : path-like
        The Matroska file.
    clusters : iterable of ClusterExtent
        Its Clusters (those without a CRC-32 are not checked).
    """

    def __init__(self, path: str | os.PathLike, clusters: Iterable[ClusterExtent]) -> None:
        self.path = path
        self._clusters = sorted((c for c in clusters if c.crc is not None), key=lambda c: c.start)
        self._starts = [cluster.start for cluster in self._clusters]
        self._checked: set[int] = set()

    def __len__(self) -> int:
        return len(self._clusters)

    def check(self, position: int) -> ClusterExtent | None:
        """Check the Cluster holding file offset ``position`` (once); return it if it has a CRC.

        Raises
        ------
        DamagedMatroska
            If that Cluster fails its CRC-32.
        """
        rank = bisect.bisect_right(self._starts, position) - 1
        if rank < 0 or position >= self._clusters[rank].end:
            return None
        cluster = self._clusters[rank]
        if cluster.start not in self._checked:
            with open(self.path, "rb") as handle:
                read_verified_cluster(handle, cluster)
            self._checked.add(cluster.start)
        return cluster
