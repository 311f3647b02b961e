"""Writing and reading what the extraction produces: ``results_00.h5``, in-memory results, the
preview movie, the report, NWB and the TIFF images.

The writers here are the :class:`~depthextractors.extraction.results.ResultsWriter` objects an
extraction is run with (``SessionExtraction(...).run(H5ResultsWriter("proc"))``); the
extraction itself never imports this package. pynwb is imported only when NWB is written or
read.
"""

from .hdf5 import LazyH5Array
from .output_dir import OutputBusyError, OutputLock, OutputWriteError
from .results import ExtractionResults, InMemoryResultsWriter
from .results_h5 import FRAME_COMPRESSION, ResultsFileError, read_results
from .results_h5_writer import H5ResultsWriter
from .tiff import read_scaled_tiff, write_arena_images, write_scaled_tiff

__all__ = [
    "FRAME_COMPRESSION",
    "ExtractionResults",
    "H5ResultsWriter",
    "InMemoryResultsWriter",
    "LazyH5Array",
    "OutputBusyError",
    "OutputLock",
    "OutputWriteError",
    "ResultsFileError",
    "read_results",
    "read_scaled_tiff",
    "write_arena_images",
    "write_scaled_tiff",
]
