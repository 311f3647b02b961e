"""Writing and reading what the extraction produces: moseq2's results_00.h5 and TIFF images.

Importing this package registers the HDF5 results writer as the output backend of
:mod:`depthextractors.extraction.outputs`, so ``SessionExtraction(...).run(output_dir)`` writes
``results_00.h5``, and the NWB writer behind ``ExtractionResults.to_nwb`` (``import
depthextractors`` imports it; pynwb itself is imported only when NWB is written or read).
"""

from . import nwb  # noqa: F401  (registers the NWB backend)
from .results_h5 import (
    FRAME_COMPRESSION,
    H5ResultsWriter,
    HDF5OutputBackend,
    LazyH5Array,
    read_results,
    read_scaled_tiff,
    write_scaled_tiff,
)

__all__ = [
    "FRAME_COMPRESSION",
    "H5ResultsWriter",
    "HDF5OutputBackend",
    "LazyH5Array",
    "read_results",
    "read_scaled_tiff",
    "write_scaled_tiff",
]
