"""Random access into a gzip stream, and the tar archive inside one, decompressing forwards.

gzip can only be decompressed forwards, so a stream is read through one live decompressor
that stays where the last read ended (reading the data in order costs one decompression of
the file, however the reads are split) plus checkpoints — copies of the decompressor's state —
left every few tens of megabytes as the data streams past, so a read behind the current position
restarts from the nearest checkpoint instead of from the start of the file. The members of a
``.tar.gz`` are listed through the same reader, so their data offsets are offsets into it.

Integrity: zlib checks the CRC-32 and the length (ISIZE) stored at the end of every gzip member
when the decompressor reaches it, so damage that still decompresses (flipped bits in Huffman
codes often do) is only found at the end of the member. :meth:`GzipRandomAccessReader.
verify_to_end` decompresses the rest of the stream to reach every remaining check; a reader
that has passed them all says so (:attr:`GzipRandomAccessReader.verified`). Damage is raised as
:class:`CorruptGzipError`, with the offsets a caller needs to name what was hit.
"""

from __future__ import annotations

import bisect
import io
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "GZIP_MAGIC",
    "CorruptGzipError",
    "CorruptTarError",
    "GzipRandomAccessReader",
    "StreamView",
    "TruncatedGzipError",
    "iter_tar_members",
]

GZIP_MAGIC = b"\x1f\x8b"


class TruncatedGzipError(EOFError):
    """The gzip file ends in the middle of its compressed data."""


class CorruptGzipError(OSError):
    """The gzip data is damaged: it cannot be decompressed, or fails its CRC-32 or length check.

    Attributes
    ----------
    path : pathlib.Path
        The gzip file.
    compressed_offset : int
        File offset of the piece of compressed data (at most 256 kB) in which the damage was
        found, bytes.
    uncompressed_offset : int
        Stream offset of the first byte that piece would have given, bytes.
    member_start : int
        Stream offset where the damaged gzip member's data starts, bytes. A failed check is
        found at the end of the member, so the damage may lie anywhere from here on.
    check_failed : bool
        True for a failed CRC-32 or length check at the end of a member (the data decompressed
        but is not what was compressed); False when the data could not be decompressed at all
        (the damage is then at or shortly before ``uncompressed_offset``).
    reason : str
        What failed, in zlib's words or as the check's name.
    """

    def __init__(
        self,
        path: Path,
        compressed_offset: int,
        uncompressed_offset: int,
        member_start: int,
        check_failed: bool,
        reason: str,
    ) -> None:
        self.path = path
        self.compressed_offset = compressed_offset
        self.uncompressed_offset = uncompressed_offset
        self.member_start = member_start
        self.check_failed = check_failed
        self.reason = reason
        if check_failed:
            text = (
                f"{path} is corrupt: the gzip member whose data starts at uncompressed byte "
                f"{member_start} fails its {reason} (found near compressed byte "
                f"{compressed_offset}): its data is not what was compressed"
            )
        else:
            text = (
                f"{path} is corrupt near compressed byte {compressed_offset} (uncompressed byte "
                f"{uncompressed_offset}): {reason}"
            )
        super().__init__(text)


class CorruptTarError(ValueError):
    """A tar header inside the archive is damaged (its checksum fails), after the first one."""


@dataclass
class _DecoderState:
    decompressor: Any  # zlib.Decompress
    compressed_pos: int  # file offset of the next compressed byte to feed
    uncompressed_pos: int  # stream offset of the next byte the decompressor will give
    # Compressed bytes read from the file but not yet consumed: always the last bytes before
    # compressed_pos.
    pending: bytes
    finished: bool = False  # the last gzip member has ended
    member_start: int = 0  # stream offset where the current gzip member's data starts

    def copy(self) -> _DecoderState:
        return _DecoderState(
            self.decompressor.copy(), self.compressed_pos, self.uncompressed_pos, self.pending,
            self.finished, self.member_start,
        )  # fmt: skip

    def checkpoint(self) -> _DecoderState:
        """A copy that re-reads its pending bytes from the file, so it holds only the
        decompressor's ~40 kB (which carries the member's running CRC-32 and length)."""
        return _DecoderState(
            self.decompressor.copy(), self.compressed_pos - len(self.pending),
            self.uncompressed_pos, b"", self.finished, self.member_start,
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
    verified : bool
        Whether the stream has been decompressed to its end and every gzip member passed its
        CRC-32 and length checks (see :meth:`verify_to_end`).
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
        self.verified = False

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
                raise self._corruption(state, data, str(error)) from error
            state.pending = state.decompressor.unconsumed_tail
            state.uncompressed_pos += len(output)
            if state.decompressor.eof:
                # At the end of a member all leftover input is in unused_data; unconsumed_tail
                # may then repeat it (CPython keeps a stale copy), so it must not be added.
                self._next_member(state, state.decompressor.unused_data)
            self._maybe_checkpoint(state)
            if output:
                return output

    def _corruption(self, state: _DecoderState, data: bytes, message: str) -> CorruptGzipError:
        """The error for a zlib failure while ``data`` was fed at ``state``."""
        # zlib reports a failed trailer check as "incorrect data check" (CRC-32) or
        # "incorrect length check" (ISIZE); anything else is undecodable deflate data.
        check = "CRC-32 check" if "data check" in message else None
        if "length check" in message:
            check = "length (ISIZE) check"
        fed_from = state.compressed_pos - len(data)
        if check is not None:
            return CorruptGzipError(
                self.path, fed_from, state.uncompressed_pos, state.member_start, True, check
            )
        return CorruptGzipError(
            self.path, fed_from, state.uncompressed_pos, state.member_start, False,
            message.split(": ", 1)[-1],
        )  # fmt: skip

    def _next_member(self, state: _DecoderState, rest: bytes) -> None:
        """After a gzip member ends, continue with the next one (if any follows)."""
        if len(rest) < 2:
            handle = self._file()
            handle.seek(state.compressed_pos)
            extra = handle.read(2 - len(rest))
            state.compressed_pos += len(extra)
            self.compressed_bytes_read += len(extra)
            rest += extra
        if rest[:2] == GZIP_MAGIC:
            state.decompressor = zlib.decompressobj(wbits=31)
            state.pending = rest
            state.member_start = state.uncompressed_pos
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

    def verify_to_end(self) -> None:
        """Decompress the rest of the stream, so every gzip member's CRC-32 and length are checked.

        Continues from where the live decompressor stands (the bytes before it have been
        decompressed and their checks are still ahead), so after a front-to-back read this
        costs only what lies past the last byte read. Sets :attr:`verified`; a second call
        does nothing.

        Raises
        ------
        CorruptGzipError
            If a member fails its CRC-32 or length check, or cannot be decompressed.
        TruncatedGzipError
            If the file ends in the middle of its compressed data.
        """
        if self.verified:
            return
        if self._state is None:
            self._state = self._checkpoints[0].copy()
            self.restarts += 1
        state = self._state
        while self._produce(state, self._MAX_OUTPUT_BYTES):
            pass
        self.verified = True

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
        CorruptGzipError
            If the compressed data is corrupt (a failed CRC-32 or length check is found only
            when a read reaches the end of a gzip member).
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


class StreamView(io.RawIOBase):
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


def iter_tar_members(reader: GzipRandomAccessReader) -> Iterator[tarfile.TarInfo]:
    """The members of the tar archive in ``reader``'s stream, in order, read as they are asked for.

    A member's ``offset_data`` is the offset of its data in the uncompressed stream, ready for
    :meth:`GzipRandomAccessReader.read_at`. Stopping the iteration early decompresses nothing
    past the last header read.

    Raises
    ------
    ValueError
        If the stream is not a readable tar archive or ends inside one.
    CorruptTarError
        If a header after the first is damaged: :mod:`tarfile` would take it for the end of
        the archive and silently leave out every member after it.
    """
    try:
        with tarfile.open(fileobj=StreamView(reader), mode="r:") as tar:
            while True:
                info = tar.next()
                if info is None:
                    _check_end_of_archive(reader, tar.offset)
                    return
                yield info
    except (tarfile.ReadError, EOFError) as error:
        raise ValueError(
            f"{reader.path} is not a readable tar archive or is truncated: {error}"
        ) from error


def _check_end_of_archive(reader: GzipRandomAccessReader, offset: int) -> None:
    """Refuse a tar that "ends" at ``offset`` with something other than a zero block."""
    try:
        block = reader.read_at(offset, tarfile.BLOCKSIZE)
    except TruncatedGzipError:
        raise
    except EOFError:
        return  # the stream ends here: a tar written without its end-of-archive blocks
    if any(block):
        raise CorruptTarError(
            f"{reader.path} is corrupt: the tar header at uncompressed byte {offset} is damaged "
            "(it fails its checksum), so the members from there on cannot be found"
        )
