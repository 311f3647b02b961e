"""Writing and reading what the extraction produces: ``results_00.h5``, in-memory results, the
preview movie, the report, NWB and the TIFF images.

The writers here are the :class:`~depthextractors.extraction.results.ResultsWriter` objects an
extraction is run with (``SessionExtraction(...).run(H5ResultsWriter("proc"))``); the
extraction itself never imports this package. pynwb is imported only when NWB is written or
read.
"""

from .hdf5 import LazyH5Array
from .results import ExtractionResults, InMemoryResultsWriter
from .results_h5 import FRAME_COMPRESSION, H5ResultsWriter, read_results
from .tiff import read_scaled_tiff, write_arena_images, write_scaled_tiff

__all__ = [
    "FRAME_COMPRESSION",
    "ExtractionResults",
    "H5ResultsWriter",
    "InMemoryResultsWriter",
    "LazyH5Array",
    "read_results",
    "read_scaled_tiff",
    "write_arena_images",
    "write_scaled_tiff",
]
