"""The extraction: strategies, their contracts, and the session pipeline built on them.

Strategies (each a :class:`Strategy`: parameters are constructor arguments) come in families,
each with a written contract to subclass: :class:`BackgroundStrategy`, :class:`ROIStrategy`,
:class:`Tracker` / :class:`SequentialTracker`, :class:`FlipCorrector`, plus the filters.
:class:`SessionExtraction` composes them into stages that :class:`ChunkExecutor` runs, and hands
the results to :class:`ResultsWriter` objects (those that write files live in
:mod:`depthextractors.io`).
"""

from .arena import ArenaROI, ROIStrategy
from .arena_checks import ArenaWarning
from .background import (
    BackgroundStrategy,
    PlaneFitBackground,
    StridedMedianBackground,
    median_ignoring_zeros,
    median_without_transients,
)
from .crop import crop_and_rotate, place_crop
from .em_tracking import EMTracker
from .executor import ChunkExecutor, JobOptions
from .filters import FrameFilters, HampelFilter, hampel_filter, temporal_median
from .flips import (
    ClassifierFlipCorrector,
    FlipClassifierError,
    FlipContext,
    FlipCorrector,
    FlipDecision,
    MotionFlipCorrector,
    train_flip_classifier,
)
from .heights import ArenaHeights
from .manual_roi import ManualROI
from .parameters import PARAMETERS, ParameterSpec
from .results import ExtractionSetup, ResultChunk, ResultsWriter, ResultsWriterGroup
from .roi import PlaneROI, estimate_floor_depth, fit_plane, plane_depth
from .scalars import MOSEQ2_SCALARS, SCALAR_DESCRIPTIONS, DroppedFrames, detect_dropped_frames
from .session import ArenaResult, SessionExtraction
from .strategy import Strategy, build_strategy
from .tracking import MomentsTracker, SequentialTracker, TrackedObject, Tracker

__all__ = [
    "MOSEQ2_SCALARS",
    "PARAMETERS",
    "SCALAR_DESCRIPTIONS",
    "ArenaHeights",
    "ArenaROI",
    "ArenaResult",
    "ArenaWarning",
    "BackgroundStrategy",
    "ChunkExecutor",
    "ClassifierFlipCorrector",
    "DroppedFrames",
    "EMTracker",
    "ExtractionSetup",
    "FlipClassifierError",
    "FlipContext",
    "FlipCorrector",
    "FlipDecision",
    "FrameFilters",
    "HampelFilter",
    "JobOptions",
    "ManualROI",
    "MomentsTracker",
    "MotionFlipCorrector",
    "ParameterSpec",
    "PlaneFitBackground",
    "PlaneROI",
    "ROIStrategy",
    "ResultChunk",
    "ResultsWriter",
    "ResultsWriterGroup",
    "SequentialTracker",
    "SessionExtraction",
    "Strategy",
    "StridedMedianBackground",
    "TrackedObject",
    "Tracker",
    "build_strategy",
    "crop_and_rotate",
    "detect_dropped_frames",
    "estimate_floor_depth",
    "fit_plane",
    "hampel_filter",
    "median_ignoring_zeros",
    "median_without_transients",
    "place_crop",
    "plane_depth",
    "temporal_median",
    "train_flip_classifier",
]
