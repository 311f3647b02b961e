"""An arena the user gives: :class:`ManualROI`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..cameras import CameraModel
from .arena import ArenaROI, ROIStrategy, given_true_depth
from .floor import (
    camera_invalid_depths,
    check_background,
    check_floor_depth,
    fit_plane,
    median_floor_depth,
)

__all__ = ["ManualROI"]

logger = logging.getLogger(__name__)


class ManualROI(ROIStrategy):
    """An arena mask given by the user (e.g. drawn by hand).

    Parameters
    ----------
    mask : numpy.ndarray, shape (rows, cols)
        Boolean mask of the arena floor (integer masks are accepted: non-zero = arena).
    true_depth : float, optional
        The floor depth to use, mm, instead of the median background inside the mask.

    Notes
    -----
    :meth:`find` takes the true depth as the median valid background inside the mask and fits
    the floor plane by least squares to the valid background inside the mask.
    """

    def __init__(self, mask: np.ndarray, true_depth: float | None = None) -> None:
        array = np.asarray(mask)
        if array.ndim != 2:
            raise ValueError(f"the ROI mask must be a (rows, cols) image, got shape {array.shape}")
        if array.dtype != bool:
            if not np.issubdtype(array.dtype, np.integer):
                raise TypeError(
                    f"the ROI mask must be boolean (or integer, non-zero = arena), got dtype "
                    f"{array.dtype}"
                )
            array = array != 0
        if not array.any():
            raise ValueError("the ROI mask is empty: it selects no pixel")
        self.mask = array.copy()
        self.true_depth = given_true_depth(true_depth)

    def describe(self) -> dict[str, Any]:
        """The class, the true depth and the mask, run-length encoded (a few hundred numbers).

        Returns
        -------
        dict
            ``{"class", "params": {"mask": {"shape", "runs"}, "true_depth"}}``, where ``runs``
            alternates the start and length of each run of arena pixels in the flattened mask.
        """
        described = super().describe()
        described["params"]["mask"] = _encode_mask(self.mask)
        return described

    @classmethod
    def from_params(cls, **params: Any) -> ManualROI:
        """Build from :meth:`describe`'s parameters (the run-length encoded mask).

        Returns
        -------
        ManualROI
        """
        mask = params.pop("mask")
        if isinstance(mask, Mapping):
            mask = _decode_mask(mask)
        return cls(mask, **params)

    def find(self, background: np.ndarray, camera: CameraModel | None = None) -> ArenaROI:
        """Attach the true depth and floor plane of ``background`` to the mask.

        Parameters
        ----------
        background : numpy.ndarray, shape (rows, cols)
            Background depth in millimetres (0 or NaN = invalid).
        camera : CameraModel, optional
            The recording's camera: its codes for no measurement are left out of the
            background, and a floor depth it cannot measure is refused.

        Raises
        ------
        ValueError
            If the mask and the background differ in shape, no valid background pixel lies
            inside the mask, or the floor depth measured there lies outside what the camera
            can measure.
        """
        image = check_background(background, camera_invalid_depths(camera))
        if image.shape != self.mask.shape:
            raise ValueError(
                f"the ROI mask is {self.mask.shape[0]}x{self.mask.shape[1]} (rows x cols) but "
                f"the background is {image.shape[0]}x{image.shape[1]}; draw the mask on a "
                "frame of this recording"
            )
        if self.true_depth is None:
            true_depth = median_floor_depth(image, self.mask)
            check_floor_depth(true_depth, camera, image)
        else:
            true_depth = self.true_depth
        yy, xx = np.nonzero(self.mask & (image > 0))
        try:
            plane = fit_plane(xx, yy, image[yy, xx])
        except ValueError as error:
            logger.warning("no floor plane fitted inside the manual ROI: %s", error)
            plane = None
        return ArenaROI(mask=self.mask.copy(), true_depth=true_depth, plane=plane, depth_range=None)


def _encode_mask(mask: np.ndarray) -> dict[str, list[int]]:
    flat = np.concatenate([[0], mask.ravel().astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(flat))
    starts, stops = edges[::2], edges[1::2]
    runs = np.column_stack([starts, stops - starts]).ravel()
    return {"shape": [int(v) for v in mask.shape], "runs": [int(v) for v in runs]}


def _decode_mask(encoded: Mapping[str, Any]) -> np.ndarray:
    shape = tuple(int(v) for v in encoded["shape"])
    flat = np.zeros(int(np.prod(shape)), dtype=bool)
    runs = np.asarray(encoded["runs"], dtype=np.int64).reshape(-1, 2)
    for start, length in runs:
        flat[start : start + length] = True
    return flat.reshape(shape)
