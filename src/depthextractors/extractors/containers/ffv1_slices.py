"""The slice CRCs of FFV1 frames, checked on the bytes of each packet before it is decoded.

FFV1 version 3 written with slice CRCs (moseq2's ``convert-raw-to-avi`` and this package's
writer do) ends every slice of a frame with a trailer holding the slice's size and a CRC-32.
libav's decoder only logs a mismatch and conceals it with pixels of the previous frame, so the
reader checks the trailers itself.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["ffv1_slices_intact"]


# Byte values with their bit order reversed: FFV1's CRC (libav's AV_CRC_32_IEEE, most
# significant bit first) is zlib's bit-reflected CRC-32 on bit-reversed bytes.
_BIT_REVERSED_BYTES = np.array([int(f"{value:08b}"[::-1], 2) for value in range(256)], np.uint8)
_FFV1_SLICE_TRAILER_BYTES = 8  # 3 bytes slice size, 1 byte error status, 4 bytes CRC


def ffv1_slices_intact(payload: bytes | memoryview) -> bool:
    """Whether every slice of an FFV1 (version 3, with slice CRCs) frame has a correct CRC.

    The FFV1 decoder only logs a CRC mismatch and then conceals the damage with pixels of the
    previous frame, so the reader checks the CRCs itself: each slice ends in a trailer holding
    its size and a CRC-32 over the slice that makes the CRC of the whole slice zero.

    Parameters
    ----------
    payload : bytes or memoryview
        One FFV1 frame as stored in the container (a packet's bytes).

    Returns
    -------
    bool
    """
    reversed_bytes = _BIT_REVERSED_BYTES[np.frombuffer(payload, dtype=np.uint8)].tobytes()
    end = len(reversed_bytes)
    if end == 0:
        return False
    trailer = _FFV1_SLICE_TRAILER_BYTES
    while end > 0:
        if end < trailer:
            return False
        size_bytes = bytes(payload[end - trailer : end - trailer + 3])
        size = int.from_bytes(size_bytes, "big") + trailer
        if size > end:
            return False
        # A zero register after the CRC bytes, in either bit order, means the slice is intact.
        if zlib.crc32(reversed_bytes[end - size : end], 0xFFFFFFFF) != 0xFFFFFFFF:
            return False
        end -= size
    return True
