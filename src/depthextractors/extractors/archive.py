"""moseq session archives (``.tar.gz``): ``depth.dat``, ``depth_ts.txt`` and ``metadata.json``
in one gzip-compressed tar, read in place without unpacking.

gzip can only be decompressed forwards, so the archive is read through one live decompressor
that stays where the last read ended (reading the frames in order costs one decompression of
the archive, however they are chunked) plus checkpoints — copies of the decompressor's state —
left every few tens of megabytes as the data streams past, so a read behind the current position
restarts from the nearest checkpoint instead of from the start of the file.
"""

from __future__ import annotations

import bisect
import io
import os
import posixpath
import tarfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..cameras import CameraModel, get_camera
from .base import DEPTH_DTYPE, DepthVideoExtractor
from .sidecar import (
    TIMES_FROM_RATE,
    check_sampling_frequency,
    check_timestamps,
    parse_session_metadata,
    read_timestamp_bytes,
    resolve_frame_size,
    resolve_sampling_frequency,
)

__all__ = ["GzipRandomAccessReader", "TarSessionExtractor"]

DEPTH_MEMBER = "depth.dat"
TIMESTAMPS_MEMBER = "depth_ts.txt"
METADATA_MEMBER = "metadata.json"
_GZIP_MAGIC = b"\x1f\x8b"


class TruncatedGzipError(EOFError):
    """The gzip file ends in the middle of its compressed data."""


# ----------------------------------------------------------------------------------------------
# Random access into a gzip stream
# ----------------------------------------------------------------------------------------------
@dataclass
class _DecoderState:
    decompressor: Any  # zlib.Decompress
    compressed_pos: int  # file offset of the next compressed byte to feed
    uncompressed_pos: int  # stream offset of the next byte the decompressor will give
    # Compressed bytes read from the file but not yet consumed: always the last bytes before
    # compressed_pos.
    pending: bytes
    finished: bool = False  # the last gzip member has ended

    def copy(self) -> _DecoderState:
        return _DecoderState(
            self.decompressor.copy(), self.compressed_pos, self.uncompressed_pos, self.pending,
            self.finished,
        )  # fmt: skip

    def checkpoint(self) -> _DecoderState:
        """A copy that re-reads its pending bytes from the file, so it holds only the
        decompressor's ~40 kB."""
        return _DecoderState(
            self.decompressor.copy(), self.compressed_pos - len(self.pending),
            self.uncompressed_pos, b"", self.finished,
        )  # fmt: skip


class GzipRandomAccessReader:
    """Read any byte range of a gzip file's uncompressed stream, decompressing forwards only.

    Reads that continue where the previous one ended reuse the live decompressor, so reading a
    file front to back costs one decompression however it is split into reads. Every
    ``checkpoint_spacing`` uncompressed bytes a copy of the decompressor is kept (about 40 kB
    each), so a read before the current position restarts from the nearest checkpoint at or
    before it. Concatenated gzip members (``pigz``, ``cat a.gz b.gz``) are read as one stream.

    Parameters
    ----------
    path : path-like
        The gzip file.
    checkpoint_spacing : int, default 32 MiB
        Uncompressed bytes between checkpoints: the most a backward read decompresses in vain.

    Attributes
    ----------
    compressed_bytes_read : int
        Compressed bytes read from the file so far (the work done).
    restarts : int
        Times decompression restarted from a checkpoint because a read went backwards or
        far ahead into a part already passed once (the first read counts as one).
    """

    _PIECE_BYTES = 256 * 1024
    _MAX_OUTPUT_BYTES = 8 * 1024 * 1024

    def __init__(self, path: str | os.PathLike, checkpoint_spacing: int = 32 * 1024 * 1024) -> None:
        if checkpoint_spacing < 1:
            raise ValueError(
                f"checkpoint_spacing must be a positive number of bytes, got {checkpoint_spacing}"
            )
        self.path = Path(path)
        self.checkpoint_spacing = int(checkpoint_spacing)
        self._checkpoints: list[_DecoderState] = [self._fresh_state(0, 0, b"")]
        self._checkpoint_positions: list[int] = [0]
        self._state: _DecoderState | None = None
        self._handle: BinaryIO | None = None
        self.compressed_bytes_read = 0
        self.restarts = 0

    @staticmethod
    def _fresh_state(compressed_pos: int, uncompressed_pos: int, pending: bytes) -> _DecoderState:
        # wbits=31: a gzip header and trailer, whose CRC-32 and length zlib checks.
        decompressor = zlib.decompressobj(wbits=31)
        return _DecoderState(decompressor, compressed_pos, uncompressed_pos, pending)

    @property
    def position(self) -> int:
        """Uncompressed offset where the live decompressor stands (0 before the first read)."""
        return 0 if self._state is None else self._state.uncompressed_pos

    @property
    def num_checkpoints(self) -> int:
        """Checkpoints kept so far (including the start of the file)."""
        return len(self._checkpoints)

    def close(self) -> None:
        """Close the file; the next read reopens it (decompressor state is kept)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _file(self) -> BinaryIO:
        if self._handle is None:
            self._handle = open(self.path, "rb")  # noqa: SIM115 - kept open across reads
        return self._handle

    def _produce(self, state: _DecoderState, limit: int) -> bytes:
        """Decompress up to ``limit`` bytes forward; ``b""`` only at the end of the stream."""
        while True:
            if state.finished:
                return b""
            data = state.pending
            if not data:
                handle = self._file()
                handle.seek(state.compressed_pos)
                data = handle.read(self._PIECE_BYTES)
                state.compressed_pos += len(data)
                self.compressed_bytes_read += len(data)
                if not data:
                    if state.decompressor.eof:
                        state.finished = True
                        return b""
                    raise TruncatedGzipError(
                        f"{self.path} ends in the middle of its compressed data (after "
                        f"{state.compressed_pos} compressed bytes, {state.uncompressed_pos} "
                        "uncompressed); the file is truncated"
                    )
            try:
                output = state.decompressor.decompress(data, limit)
            except zlib.error as error:
                raise OSError(
                    f"{self.path} is corrupt near compressed byte {state.compressed_pos} "
                    f"(uncompressed byte {state.uncompressed_pos}): {error}"
                ) from error
            state.pending = state.decompressor.unconsumed_tail
            if state.decompressor.eof:
                # At the end of a member all leftover input is in unused_data; unconsumed_tail
                # may then repeat it (CPython keeps a stale copy), so it must not be added.
                self._next_member(state, state.decompressor.unused_data)
            state.uncompressed_pos += len(output)
            self._maybe_checkpoint(state)
            if output:
                return output

    def _next_member(self, state: _DecoderState, rest: bytes) -> None:
        """After a gzip member ends, continue with the next one (if any follows)."""
        if len(rest) < 2:
            handle = self._file()
            handle.seek(state.compressed_pos)
            extra = handle.read(2 - len(rest))
            state.compressed_pos += len(extra)
            self.compressed_bytes_read += len(extra)
            rest += extra
        if rest[:2] == _GZIP_MAGIC:
            state.decompressor = zlib.decompressobj(wbits=31)
            state.pending = rest
        else:
            # Anything else after the last member (such as zero padding) is not data.
            state.finished = True
            state.pending = b""

    def _maybe_checkpoint(self, state: _DecoderState) -> None:
        if state.finished:
            return
        if state.uncompressed_pos >= self._checkpoint_positions[-1] + self.checkpoint_spacing:
            self._checkpoints.append(state.checkpoint())
            self._checkpoint_positions.append(state.uncompressed_pos)

    def read_at(self, offset: int, size: int) -> bytearray:
        """Exactly ``size`` bytes of the uncompressed stream starting at ``offset``.

        Parameters
        ----------
        offset : int
            Position in the uncompressed stream, bytes.
        size : int
            Bytes to read.

        Returns
        -------
        bytearray

        Raises
        ------
        EOFError, OSError
            As :meth:`readinto_at`.
        """
        output = bytearray(size)
        self.readinto_at(offset, output)
        return output

    def readinto_at(self, offset: int, buffer) -> None:
        """Fill ``buffer`` (any writable bytes-like object) from ``offset`` of the stream.

        Parameters
        ----------
        offset : int
            Position in the uncompressed stream, bytes.
        buffer : writable bytes-like
            Filled completely (``size`` is its length in bytes).

        Raises
        ------
        EOFError
            If the stream ends before ``offset + size``; :class:`TruncatedGzipError` (a
            subclass) if the file is cut in the middle of its compressed data.
        OSError
            If the compressed data is corrupt.
        """
        view = memoryview(buffer).cast("B")
        size = len(view)
        if offset < 0:
            raise ValueError(f"offset must not be negative, got {offset}")
        state = self._state
        index = bisect.bisect_right(self._checkpoint_positions, offset) - 1
        # Restart from a checkpoint when going backwards, or when one lies between the live
        # position and the target (a part decompressed before: no need to decompress it again).
        if state is None or not (
            self._checkpoint_positions[index] <= state.uncompressed_pos <= offset
        ):
            state = self._checkpoints[index].copy()
            self._state = state
            self.restarts += 1
        while state.uncompressed_pos < offset:
            skipped = self._produce(
                state, min(offset - state.uncompressed_pos, self._MAX_OUTPUT_BYTES)
            )
            if not skipped:
                raise EOFError(
                    f"{self.path}: the uncompressed stream ends at byte {state.uncompressed_pos}, "
                    f"before byte {offset}"
                )
        done = 0
        while done < size:
            piece = self._produce(state, min(size - done, self._MAX_OUTPUT_BYTES))
            if not piece:
                raise EOFError(
                    f"{self.path}: the uncompressed stream ends at byte {state.uncompressed_pos}, "
                    f"inside the {size} bytes asked for at byte {offset}"
                )
            view[done : done + len(piece)] = piece
            done += len(piece)


class _StreamView(io.RawIOBase):
    """A read-only, seekable file over a :class:`GzipRandomAccessReader` (for :mod:`tarfile`)."""

    def __init__(self, reader: GzipRandomAccessReader) -> None:
        super().__init__()
        self._reader = reader
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._position = offset
        elif whence == io.SEEK_CUR:
            self._position += offset
        else:
            raise io.UnsupportedOperation("a gzip stream has no known end to seek from")
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        wanted = len(view)
        try:
            data = self._reader.read_at(self._position, wanted)
        except TruncatedGzipError:
            raise
        except EOFError:
            # The stream ended cleanly inside this read: the reader now stands at its end.
            available = max(0, self._reader.position - self._position)
            data = self._reader.read_at(self._position, available) if available else b""
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


# ----------------------------------------------------------------------------------------------
# The extractor
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Member:
    name: str
    offset: int  # uncompressed stream offset of the member's data
    size: int


class TarSessionExtractor(DepthVideoExtractor):
    """A moseq session archive (``.tar.gz`` holding ``depth.dat``) read in place, lazily.

    Opening reads tar headers up to the depth member only (not its frames). Frames are read
    through :class:`GzipRandomAccessReader`: reading forwards (:meth:`iter_chunks`, consecutive
    :meth:`get_video` ranges) costs one decompression of the archive in total; a read behind
    the last one restarts from the nearest checkpoint, at most ``checkpoint_spacing_mb``
    megabytes before it.

    Parameters
    ----------
    file_path : path-like
        The ``.tar.gz`` (or ``.tgz``) archive.
    member : str, optional
        Name of the depth member in the archive; by default the first member named
        ``depth.dat`` (at the top level or in a folder). ``depth_ts.txt`` and ``metadata.json``
        are looked for in the same folder of the archive.
    camera : str or CameraModel, default "auto"
        As for :class:`~depthextractors.extractors.raw.RawDepthExtractor`.
    frame_size : tuple of int, optional
        ``(rows, cols)``; otherwise taken from ``camera`` (a preset), then from
        ``DepthResolution`` [width, height] in ``metadata.json``, then Kinect v2 (424, 512) if
        the member is a whole number of its frames, else the only preset that fits.
    sampling_frequency : float, optional
        Frame rate in Hz; otherwise the median interval of ``depth_ts.txt``, else 30 Hz.
    checkpoint_spacing_mb : float, default 32
        Megabytes of uncompressed data between decompressor checkpoints (each about 40 kB).

    Raises
    ------
    FileNotFoundError
        If the archive does not exist.
    ValueError
        If it is empty, not a gzip-compressed tar, truncated before its depth member, holds no
        ``depth.dat`` (the message lists what it holds), or the depth member is not a whole
        number of frames.

    Notes
    -----
    ``tar`` stores members in the order given; archives written with sorted names put
    ``depth.dat`` before ``depth_ts.txt`` and ``metadata.json``. Those two are then read (one
    pass over the depth data) the first time timestamps, metadata or the frame rate are asked
    for — or at opening, when the frame size can only come from ``metadata.json``. Passing
    ``camera=`` or ``frame_size=`` and ``sampling_frequency=`` avoids it.
    """

    extractor_name = "TarSessionExtractor"

    def __init__(
        self,
        file_path: str | os.PathLike,
        member: str | None = None,
        camera: str | CameraModel = "auto",
        frame_size: tuple[int, int] | None = None,
        sampling_frequency: float | None = None,
        checkpoint_spacing_mb: float = 32,
    ) -> None:
        super().__init__()
        self.file_path = Path(file_path)
        if not self.file_path.exists():
            raise FileNotFoundError(f"no session archive at {self.file_path}")
        if self.file_path.is_dir():
            raise IsADirectoryError(f"{self.file_path} is a directory; pass the .tar.gz file")
        archive_bytes = self.file_path.stat().st_size
        if archive_bytes == 0:
            raise ValueError(f"{self.file_path} is empty (0 bytes): it holds no session")
        with open(self.file_path, "rb") as handle:
            magic = handle.read(2)
        if magic != _GZIP_MAGIC:
            raise ValueError(
                f"{self.file_path} is not gzip-compressed (it starts with {magic!r}, not "
                f"{_GZIP_MAGIC!r}); expected a .tar.gz moseq session archive"
            )
        self._checkpoint_spacing = max(1, int(checkpoint_spacing_mb * 1024 * 1024))
        self._lock = threading.Lock()
        self._reader: GzipRandomAccessReader | None = None
        self._requested_member = member
        self._side_members: dict[str, _Member] = {}
        self._members_complete = False
        self._side_files_loaded = False
        self._metadata: dict[str, Any] = {}
        self._timestamps_ms: np.ndarray | None = None
        self._timestamps: np.ndarray | None = None
        self._timestamps_checked = False
        self._sampling_frequency: float | None = check_sampling_frequency(sampling_frequency)

        self._depth = self._find_depth_member()
        self._image_size = resolve_frame_size(
            f"{self._depth.name} in {self.file_path}",
            camera,
            frame_size,
            self._depth.size,
            2,
            self._metadata_for_size,
        )
        self._camera = get_camera(camera, self._image_size)
        rows, cols = self._image_size
        self._frame_bytes = rows * cols * 2
        self._num_frames, leftover = divmod(self._depth.size, self._frame_bytes)
        if leftover or self._num_frames == 0:
            raise ValueError(
                f"{self.file_path}: member {self._depth.name} has {self._depth.size} bytes, which "
                f"is {self._num_frames} whole frames of {self._frame_bytes} bytes ({rows}x{cols} "
                f"uint16) plus {leftover} extra bytes; check frame_size / camera or the "
                "archive's metadata.json"
            )

    # ------------------------------------------------------------------ members
    @property
    def reader(self) -> GzipRandomAccessReader:
        """The decompressing reader (created on first use)."""
        if self._reader is None:
            self._reader = GzipRandomAccessReader(self.file_path, self._checkpoint_spacing)
        return self._reader

    def _iter_members(self) -> Iterator[tarfile.TarInfo]:
        view = _StreamView(self.reader)
        try:
            with tarfile.open(fileobj=view, mode="r:") as tar:
                while True:
                    info = tar.next()
                    if info is None:
                        return
                    yield info
        except (tarfile.ReadError, EOFError) as error:
            raise ValueError(
                f"{self.file_path} is not a readable tar archive or is truncated: {error}"
            ) from error

    @staticmethod
    def _clean(name: str) -> str:
        return posixpath.normpath(name).lstrip("/")

    def _find_depth_member(self) -> _Member:
        seen: list[str] = []
        wanted = None if self._requested_member is None else self._clean(self._requested_member)
        candidates: dict[str, _Member] = {}
        depth = None
        for info in self._iter_members():
            name = self._clean(info.name)
            seen.append(name + ("/" if info.isdir() else ""))
            if not info.isfile():
                continue
            member = _Member(name, info.offset_data, info.size)
            candidates[name] = member
            if name == wanted or (wanted is None and posixpath.basename(name) == DEPTH_MEMBER):
                # Stop here: going on would decompress the frames to reach the next header.
                depth = member
                break
        else:
            self._members_complete = True
        if depth is None:
            listing = ", ".join(seen[:20])
            if len(seen) > 20:
                listing += f", ... ({len(seen)} in all)"
            expected = repr(wanted) if wanted else f"a member named {DEPTH_MEMBER}"
            raise ValueError(
                f"{self.file_path} holds no depth recording: expected {expected}, found "
                f"[{listing}]. Pass member=... to name the depth file inside the archive."
            )
        self._side_members = self._side_files(depth, candidates)
        return depth

    @staticmethod
    def _side_files(depth: _Member, candidates: dict[str, _Member]) -> dict[str, _Member]:
        folder = posixpath.dirname(depth.name)
        found = {}
        for side in (TIMESTAMPS_MEMBER, METADATA_MEMBER):
            member = candidates.get(posixpath.join(folder, side) if folder else side)
            if member is not None:
                found[side] = member
        return found

    def _side_files_found(self, depth: _Member, candidates: dict[str, _Member]) -> bool:
        return len(self._side_files(depth, candidates)) == 2

    def _find_remaining_members(self) -> None:
        """Read the tar headers past the depth member (one pass over its data)."""
        if self._members_complete:
            return
        candidates = {}
        for info in self._iter_members():
            if info.isfile():
                name = self._clean(info.name)
                candidates[name] = _Member(name, info.offset_data, info.size)
                if self._side_files_found(self._depth, candidates):
                    break
        self._members_complete = True
        self._side_members = self._side_files(self._depth, candidates)

    def _read_member(self, member: _Member) -> bytes:
        try:
            return bytes(self.reader.read_at(member.offset, member.size))
        except EOFError as error:
            raise ValueError(
                f"{self.file_path} is truncated: member {member.name} ({member.size} bytes) is "
                f"cut short ({error})"
            ) from error

    def _load_side_files(self) -> None:
        if self._side_files_loaded:
            return
        with self._lock:
            if len(self._side_members) < 2:
                self._find_remaining_members()
            self._metadata = self._parse_metadata()
            self._timestamps_ms = self._parse_timestamps()
            self._side_files_loaded = True

    def _parse_metadata(self) -> dict[str, Any]:
        member = self._side_members.get(METADATA_MEMBER)
        if member is None:
            return {}
        where = f"{self.file_path}:{member.name}"
        return parse_session_metadata(self._read_member(member), where, stacklevel=4)

    def _parse_timestamps(self) -> np.ndarray | None:
        """The first column of depth_ts.txt (milliseconds), unchecked against the frames."""
        member = self._side_members.get(TIMESTAMPS_MEMBER)
        if member is None:
            return None
        where = f"{self.file_path}:{member.name}"
        return read_timestamp_bytes(self._read_member(member), where, TIMES_FROM_RATE, stacklevel=4)

    def _check_timestamps(self, timestamps_ms: np.ndarray | None) -> np.ndarray | None:
        """Frame times in seconds from depth_ts.txt, or None (with a warning) if unusable."""
        if timestamps_ms is None:
            return None
        where = f"{self.file_path}:{self._side_members[TIMESTAMPS_MEMBER].name}"
        return check_timestamps(
            timestamps_ms, self._num_frames, where, self._depth.name, TIMES_FROM_RATE, stacklevel=4
        )

    # ------------------------------------------------------------------ set-up
    def _metadata_for_size(self) -> dict[str, Any]:
        # Only metadata.json can tell the size now; read it even if it lies after the frames.
        self._load_side_files()
        return self._metadata

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return self._num_frames

    def get_sampling_frequency(self) -> float:
        if self._sampling_frequency is None:
            self._sampling_frequency = resolve_sampling_frequency(
                None, self.get_native_timestamps(), self.file_path
            )
        return self._sampling_frequency

    def get_native_timestamps(self) -> np.ndarray | None:
        if not self._timestamps_checked:
            self._load_side_files()
            self._timestamps = self._check_timestamps(self._timestamps_ms)
            self._timestamps_checked = True
        return self._timestamps

    def get_metadata(self) -> dict[str, Any]:
        self._load_side_files()
        return dict(self._metadata)

    @property
    def depth_member(self) -> str:
        """Name of the depth member inside the archive."""
        return self._depth.name

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        rows, cols = self._image_size
        count = end_frame - start_frame
        if count == 0:
            return np.empty((0, rows, cols), dtype=DEPTH_DTYPE)
        offset = self._depth.offset + start_frame * self._frame_bytes
        video = np.empty((count, rows, cols), dtype="<u2")
        with self._lock:
            try:
                self.reader.readinto_at(offset, video)
            except EOFError as error:
                reached = max(0, self.reader.position - self._depth.offset)
                raise OSError(
                    f"{self.file_path} is truncated: {self._depth.name} should hold "
                    f"{self._depth.size} bytes ({self._num_frames} frames) but the archive "
                    f"ends after {reached} of them, inside frame {reached // self._frame_bytes} "
                    f"(reading frames {start_frame}..{end_frame}). Copy the archive again."
                ) from error
        return video.astype(DEPTH_DTYPE, copy=False)

    def __del__(self) -> None:
        reader = self.__dict__.get("_reader")
        if reader is not None:
            reader.close()
