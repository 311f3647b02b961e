"""moseq2-extract's scaled TIFF images: ``bground.tiff``, ``roi.tiff`` and ``first_frame.tiff``.

An image is stored as integers multiplied by a scale factor recorded in the TIFF's description
(moseq2-extract's ``write_image`` / ``read_image`` convention); readers divide by it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import tifffile

from .output_dir import partial_path

__all__ = ["read_scaled_tiff", "write_arena_images", "write_scaled_tiff"]


def write_scaled_tiff(
    path: str | os.PathLike,
    image: np.ndarray,
    scale_factor: int | None = None,
    dtype: str = "uint16",
) -> int:
    """Write an image as moseq2-extract's scaled TIFF.

    The image is multiplied by an integer ``scale_factor`` (by default the largest that fits
    ``dtype``: ``int(max / (max(image) + 1e-25))``), stored as ``dtype`` and the factor recorded
    in the TIFF description as JSON ``{"scale_factor": "<int>"}``; readers divide by it.

    Parameters
    ----------
    path : path-like
        Output ``.tiff`` file.
    image : numpy.ndarray
        2-D image (depth in mm, a mask, ...); NaN is written as 0.
    scale_factor : int, optional
        Factor to use instead of the automatic one.
    dtype : str, default "uint16"
        Stored integer type.

    Returns
    -------
    int
        The scale factor used.

    Raises
    ------
    ValueError
        If ``dtype`` is not an integer type.
    OSError
        If the file cannot be written (written to ``<path>.<token>.partial``, then renamed;
        the partial file is removed on failure).
    """
    array = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
    limit = np.iinfo(dtype).max
    if scale_factor is None:
        peak = float(array.max()) if array.size else 0.0
        scale_factor = max(int(limit / (peak + 1e-25)), 1) if peak > 0 else 1
    scale_factor = int(scale_factor)
    scaled = np.clip(np.rint(array * scale_factor), 0, limit).astype(dtype)
    path = Path(path)
    partial = partial_path(path)
    try:
        tifffile.imwrite(
            partial, scaled, description=json.dumps({"scale_factor": str(scale_factor)}),
            metadata=None,
        )  # fmt: skip
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return scale_factor


def read_scaled_tiff(path: str | os.PathLike) -> np.ndarray:
    """Read a scaled TIFF written by :func:`write_scaled_tiff` or moseq2-extract.

    Parameters
    ----------
    path : path-like
        The ``.tiff`` file.

    Returns
    -------
    numpy.ndarray
        float64 image divided by its scale factor (unscaled when the TIFF has none).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    with tifffile.TiffFile(path) as tif:
        image = tif.asarray()
        description = tif.pages[0].description or ""
    factor = 1.0
    text = description.strip()
    if text.startswith("b'") and text.endswith("'"):
        text = text[2:-1]
    try:
        factor = float(json.loads(text).get("scale_factor", 1))
    except (ValueError, AttributeError):
        factor = 1.0
    return image.astype(np.float64) / factor


def write_arena_images(
    output_dir: str | os.PathLike,
    background: np.ndarray,
    roi: np.ndarray,
    first_frame: np.ndarray,
) -> None:
    """``bground.tiff``, ``roi.tiff`` and ``first_frame.tiff`` as moseq2-extract writes them.

    Parameters
    ----------
    output_dir : path-like
        Directory to write to (created if missing).
    background : numpy.ndarray
        ``(rows, cols)`` background depth, mm.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask (stored as uint8, scaled).
    first_frame : numpy.ndarray
        ``(rows, cols)`` raw depth of the first frame, mm.

    Raises
    ------
    OSError
        If a file cannot be written.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_scaled_tiff(output_dir / "bground.tiff", background)
    write_scaled_tiff(output_dir / "roi.tiff", np.asarray(roi, dtype=np.uint8))
    write_scaled_tiff(output_dir / "first_frame.tiff", first_frame)
