"""Readers for every depth-recording format behind one lazy interface."""

from .base import DepthVideoExtractor, FrameChunk, FrameSliceDepthExtractor
from .numpy_extractor import NumpyDepthExtractor
from .raw import RawDepthExtractor, read_timestamp_file
from .registry import find_depth_file, open_depth_video, register_extractor, registered_formats

register_extractor(RawDepthExtractor, (".dat",), preference=0)

__all__ = [
    "DepthVideoExtractor",
    "FrameChunk",
    "FrameSliceDepthExtractor",
    "NumpyDepthExtractor",
    "RawDepthExtractor",
    "find_depth_file",
    "open_depth_video",
    "read_timestamp_file",
    "register_extractor",
    "registered_formats",
]
