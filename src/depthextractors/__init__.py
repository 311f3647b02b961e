"""depthextractors: read any depth-camera recording lazily and extract the animal from it."""

from importlib.metadata import PackageNotFoundError, version

from .cameras import CAMERA_PRESETS, CameraModel, detect_camera, get_camera
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
    find_depth_file,
    open_depth_video,
    register_extractor,
    registered_formats,
)

try:
    __version__ = version("depthextractors")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CAMERA_PRESETS",
    "AzureDepthExtractor",
    "CameraModel",
    "DepthVideoExtractor",
    "FFV1DepthExtractor",
    "FrameChunk",
    "FrameSliceDepthExtractor",
    "NumpyDepthExtractor",
    "RawDepthExtractor",
    "RealSenseBagExtractor",
    "TarSessionExtractor",
    "__version__",
    "detect_camera",
    "find_depth_file",
    "get_camera",
    "open_depth_video",
    "register_extractor",
    "registered_formats",
]
