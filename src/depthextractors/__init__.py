"""depthextractors: read any depth-camera recording lazily and extract the animal from it."""

from importlib.metadata import PackageNotFoundError, version

from .cameras import CAMERA_PRESETS, CameraModel, detect_camera, get_camera
from .extraction import (
    ClassifierFlipCorrector,
    EMTracker,
    ExtractionResults,
    FlipCorrector,
    FrameFilters,
    HampelFilter,
    ManualROI,
    MomentsTracker,
    MotionFlipCorrector,
    PlaneFitBackground,
    PlaneROI,
    SessionExtraction,
    StridedMedianBackground,
)
from .extractors import (
    AzureDepthExtractor,
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
from .io import read_results

try:
    __version__ = version("depthextractors")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CAMERA_PRESETS",
    "AzureDepthExtractor",
    "CameraModel",
    "ClassifierFlipCorrector",
    "DepthVideoExtractor",
    "EMTracker",
    "ExtractionResults",
    "FFV1DepthExtractor",
    "FlipCorrector",
    "FrameChunk",
    "FrameFilters",
    "FrameSliceDepthExtractor",
    "HampelFilter",
    "ManualROI",
    "MomentsTracker",
    "MotionFlipCorrector",
    "NumpyDepthExtractor",
    "PlaneFitBackground",
    "PlaneROI",
    "RawDepthExtractor",
    "RealSenseBagExtractor",
    "SessionExtraction",
    "StridedMedianBackground",
    "TarSessionExtractor",
    "__version__",
    "convert_raw_to_avi",
    "copy_frame_range",
    "detect_camera",
    "find_depth_file",
    "get_camera",
    "open_depth_video",
    "read_results",
    "register_extractor",
    "registered_formats",
    "write_ffv1_video",
]
