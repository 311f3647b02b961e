"""The arena contract: what an arena (ROI) strategy returns (:class:`ArenaROI`) and the base
class every arena strategy subclasses (:class:`ROIStrategy`).

:class:`~depthextractors.extraction.roi.PlaneROI` and
:class:`~depthextractors.extraction.manual_roi.ManualROI` implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..cameras import CameraModel
from .strategy import Strategy

__all__ = ["ArenaROI", "ROIStrategy", "given_true_depth"]


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
@dataclass
class ArenaROI:
    """The arena found in a background image.

    Attributes
    ----------
    mask : numpy.ndarray, shape (rows, cols), bool
        The arena floor.
    true_depth : float
        Median background depth inside the mask (valid pixels only), millimetres: moseq2's
        "true depth", the distance from the camera to the floor.
    plane : numpy.ndarray or None
        Floor plane ``(a, b, c, d)`` with ``a*x + b*y + c*depth + d = 0`` (x, y in pixels,
        depth in mm, unit normal, ``c < 0``), or ``None`` when unknown.
    depth_range : tuple of float or None
        Depth range searched for the floor, millimetres (found automatically when not given).
    weights : tuple of float or None
        Region ranking weights used (area, extent, distance), or ``None`` when no regions were
        ranked.
    notes : tuple of str
        What the arena step did beyond moseq2-extract's steps (sloped wall left out, a retry
        with the gradient filter), one sentence each; also logged.
    problems : tuple of str
        Why the arena looks implausible (:func:`~depthextractors.extraction.arena_checks.
        arena_problems`); empty when it does not. Also warned
        (:class:`~depthextractors.extraction.arena_checks.ArenaWarning`).
    """

    mask: np.ndarray
    true_depth: float
    plane: np.ndarray | None
    depth_range: tuple[float, float] | None
    weights: tuple[float, float, float] | None = None
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """Bounding box ``(row_start, row_stop, col_start, col_stop)``, stops exclusive."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        if rows.size == 0:
            raise ValueError("the ROI mask is empty; it has no bounding box")
        return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------
class ROIStrategy(Strategy, ABC):
    """Finds the arena in a background image: the ROI contract.

    A new arena strategy implements one method, :meth:`find`. The session calls it once per
    run with the background (for
    :class:`~depthextractors.extraction.background.PlaneFitBackground`, the median image the
    plane was fitted to) and uses the returned mask for everything else; the mask must match
    the frames and hold at least one pixel, and the true depth must be a positive number of
    millimetres.
    """

    @abstractmethod
    def find(self, background: np.ndarray, camera: CameraModel | None = None) -> ArenaROI:
        """Find the arena in a background image.

        Parameters
        ----------
        background : numpy.ndarray, shape (rows, cols)
            Background depth in millimetres (0 or NaN = invalid).
        camera : CameraModel, optional
            The recording's camera.

        Returns
        -------
        ArenaROI
        """


def given_true_depth(value: float | None) -> float | None:
    """A true depth given by the user, checked (``None``: measure it)."""
    if value is None:
        return None
    depth = float(value)
    if not np.isfinite(depth) or depth <= 0:
        raise ValueError(f"true_depth must be a positive depth in mm or None, got {value!r}")
    return depth
