"""Extraction strategies: background, arena (ROI), and the session pipeline built on them."""

from .background import PlaneFitBackground, StridedMedianBackground, median_ignoring_zeros
from .roi import ArenaROI, ManualROI, PlaneROI, estimate_floor_depth, fit_plane, plane_depth

__all__ = [
    "ArenaROI",
    "ManualROI",
    "PlaneFitBackground",
    "PlaneROI",
    "StridedMedianBackground",
    "estimate_floor_depth",
    "fit_plane",
    "median_ignoring_zeros",
    "plane_depth",
]
