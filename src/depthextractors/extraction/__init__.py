"""Extraction strategies: background, arena (ROI), and the session pipeline built on them."""

from .background import PlaneFitBackground, StridedMedianBackground, median_ignoring_zeros
from .crop import crop_and_rotate, place_crop
from .em_tracking import EMTracker
from .filters import FrameFilters, HampelFilter, hampel_filter, temporal_median
from .flips import (
    ClassifierFlipCorrector,
    FlipClassifierError,
    MotionFlipCorrector,
    train_flip_classifier,
)
from .heights import ArenaHeights
from .outputs import (
    ExtractionResults,
    ExtractionSetup,
    InMemoryResultsWriter,
    ResultChunk,
    ResultsWriter,
)
from .roi import ArenaROI, ManualROI, PlaneROI, estimate_floor_depth, fit_plane, plane_depth
from .scalars import MOSEQ2_SCALARS, SCALAR_DESCRIPTIONS, DroppedFrames, detect_dropped_frames
from .session import ArenaResult, FlipContext, FlipCorrector, FlipDecision, SessionExtraction
from .tracking import MomentsTracker, TrackedObject

__all__ = [
    "MOSEQ2_SCALARS",
    "SCALAR_DESCRIPTIONS",
    "ArenaHeights",
    "ArenaROI",
    "ArenaResult",
    "ClassifierFlipCorrector",
    "DroppedFrames",
    "EMTracker",
    "ExtractionResults",
    "ExtractionSetup",
    "FlipClassifierError",
    "FlipContext",
    "FlipCorrector",
    "FlipDecision",
    "FrameFilters",
    "HampelFilter",
    "InMemoryResultsWriter",
    "ManualROI",
    "MomentsTracker",
    "MotionFlipCorrector",
    "PlaneFitBackground",
    "PlaneROI",
    "ResultChunk",
    "ResultsWriter",
    "SessionExtraction",
    "StridedMedianBackground",
    "TrackedObject",
    "crop_and_rotate",
    "detect_dropped_frames",
    "estimate_floor_depth",
    "fit_plane",
    "hampel_filter",
    "median_ignoring_zeros",
    "place_crop",
    "plane_depth",
    "temporal_median",
    "train_flip_classifier",
]
