"""Readers for every depth-recording format behind one lazy interface."""

from .archive import TarSessionExtractor
from .azure import AzureDepthExtractor
from .base import (
    TIMESTAMPS_FROM_CONTAINER,
    TIMESTAMPS_MADE_UP,
    TIMESTAMPS_SET,
    DepthVideoExtractor,
    FrameChunk,
    FrameSliceDepthExtractor,
)
from .errors import CorruptRecordingError
from .ffv1 import FFV1DepthExtractor
from .numpy_extractor import NumpyDepthExtractor
from .raw import RawDepthExtractor
from .realsense import RealSenseBagExtractor
from .registry import find_depth_file, open_depth_video, register_extractor, registered_formats
from .timestamp_files import read_timestamp_file
from .writers import convert_raw_to_avi, copy_frame_range, write_ffv1_video

register_extractor(RawDepthExtractor, (".dat",), preference=0)
# Both read .mkv; open_depth_video asks their sniff() which one the file's tracks belong to.
register_extractor(AzureDepthExtractor, (".mkv",), preference=20)
register_extractor(FFV1DepthExtractor, (".avi", ".mkv", ".nut"), preference=10)
register_extractor(RealSenseBagExtractor, (".bag",), preference=30)
register_extractor(TarSessionExtractor, (".tar.gz", ".tgz"), preference=40)

__all__ = [
    "TIMESTAMPS_FROM_CONTAINER",
    "TIMESTAMPS_MADE_UP",
    "TIMESTAMPS_SET",
    "AzureDepthExtractor",
    "CorruptRecordingError",
    "DepthVideoExtractor",
    "FFV1DepthExtractor",
    "FrameChunk",
    "FrameSliceDepthExtractor",
    "NumpyDepthExtractor",
    "RawDepthExtractor",
    "RealSenseBagExtractor",
    "TarSessionExtractor",
    "convert_raw_to_avi",
    "copy_frame_range",
    "find_depth_file",
    "open_depth_video",
    "read_timestamp_file",
    "register_extractor",
    "registered_formats",
    "write_ffv1_video",
]
