"""depthextractors: read any depth-camera recording lazily and extract the animal from it.

``import depthextractors`` loads the reading layer (the extractors and the camera models); the
extraction, the results writers and readers, the configuration and the one-session workflow load
on first use of one of their names here, so scripts that only read recordings, and the command
line's ``--help``, start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .cameras import CAMERA_PRESETS, CameraModel, detect_camera, get_camera
from .extractors import (
    AzureDepthExtractor,
    CorruptRecordingError,
    DepthVideoExtractor,
    FFV1DepthExtractor,
    FrameChunk,
    FrameSliceDepthExtractor,
    NumpyDepthExtractor,
    RawDepthExtractor,
    RealSenseBagExtractor,
    TarSessionExtractor,
    convert_raw_to_avi,
    copy_frame_range,
    find_depth_file,
    open_depth_video,
    register_extractor,
    registered_formats,
    write_ffv1_video,
)

if TYPE_CHECKING:
    from .config import ExtractionConfig
    from .extraction import (
        ArenaWarning,
        BackgroundStrategy,
        ClassifierFlipCorrector,
        EMTracker,
        FlipCorrector,
        FrameFilters,
        HampelFilter,
        JobOptions,
        ManualROI,
        MomentsTracker,
        MotionFlipCorrector,
        PlaneFitBackground,
        PlaneROI,
        ResultsWriter,
        ROIStrategy,
        SequentialTracker,
        SessionExtraction,
        StridedMedianBackground,
        Tracker,
    )
    from .io import ExtractionResults, H5ResultsWriter, InMemoryResultsWriter, read_results
    from .workflow import extract_session

# Names loaded on first use, and the module each comes from.
_LAZY = {
    **dict.fromkeys(
        (
            "ArenaWarning",
            "BackgroundStrategy",
            "ClassifierFlipCorrector",
            "EMTracker",
            "FlipCorrector",
            "FrameFilters",
            "HampelFilter",
            "JobOptions",
            "ManualROI",
            "MomentsTracker",
            "MotionFlipCorrector",
            "PlaneFitBackground",
            "PlaneROI",
            "ROIStrategy",
            "ResultsWriter",
            "SequentialTracker",
            "SessionExtraction",
            "StridedMedianBackground",
            "Tracker",
        ),
        ".extraction",
    ),
    **dict.fromkeys(
        ("ExtractionResults", "H5ResultsWriter", "InMemoryResultsWriter", "read_results"), ".io"
    ),
    "ExtractionConfig": ".config",
    "extract_session": ".workflow",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'depthextractors' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CAMERA_PRESETS",
    "ArenaWarning",
    "AzureDepthExtractor",
    "BackgroundStrategy",
    "CameraModel",
    "ClassifierFlipCorrector",
    "CorruptRecordingError",
    "DepthVideoExtractor",
    "EMTracker",
    "ExtractionConfig",
    "ExtractionResults",
    "FFV1DepthExtractor",
    "FlipCorrector",
    "FrameChunk",
    "FrameFilters",
    "FrameSliceDepthExtractor",
    "H5ResultsWriter",
    "HampelFilter",
    "InMemoryResultsWriter",
    "JobOptions",
    "ManualROI",
    "MomentsTracker",
    "MotionFlipCorrector",
    "NumpyDepthExtractor",
    "PlaneFitBackground",
    "PlaneROI",
    "ROIStrategy",
    "RawDepthExtractor",
    "RealSenseBagExtractor",
    "ResultsWriter",
    "SequentialTracker",
    "SessionExtraction",
    "StridedMedianBackground",
    "TarSessionExtractor",
    "Tracker",
    "__version__",
    "convert_raw_to_avi",
    "copy_frame_range",
    "detect_camera",
    "extract_session",
    "find_depth_file",
    "get_camera",
    "open_depth_video",
    "read_results",
    "register_extractor",
    "registered_formats",
    "write_ffv1_video",
]
