"""The error every reader raises when a recording's data is damaged.

Damage found while decoding (a failed checksum, a container whose structure does not hold
together, a compressed block that cannot be decompressed) is never passed on as frames, times or
metadata: the reader raises :class:`CorruptRecordingError`, whose message names the file, where
in it (a frame or a byte offset) and what to do.
"""

from __future__ import annotations

__all__ = ["CorruptRecordingError"]


class CorruptRecordingError(OSError):
    """A recording's data is damaged (it fails a checksum, or its structure is broken).

    A subclass of :class:`OSError`, as the other failures to read a file are; the message names
    the file, the frame or byte offset and what to do (usually: copy the file again from its
    source).
    """
