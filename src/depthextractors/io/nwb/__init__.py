"""DANDI-ready NWB export and import of extraction results, with current pynwb and core NWB
types only.

:meth:`ExtractionResults.to_nwb <depthextractors.io.results.ExtractionResults.to_nwb>` and
:meth:`~depthextractors.io.results.ExtractionResults.from_nwb` call :func:`write_nwb` and
:func:`read_nwb`. pynwb and hdmf are imported only when a file is written or read, so importing
this package does not need the ``nwb`` extra.

Layout: the Datta-lab NWB files' objects with their names and meanings (``Position/
SpatialSeries``, ``CompassDirection/HeadOrientation``, as in the MoSeq files on DANDI and
catalystneuro's converter), this project's series beside them::

    processing/behavior/                         ProcessingModule
        processed_depth_video                    ImageSeries (frames, rows, cols), millimetres,
                                                 gzip, one HDF5 chunk per frame; holds the
                                                 timestamps the other series link to
        frames_mask                              ImageSeries: uint8, 1 = animal (float32
                                                 log-likelihoods of the EM tracker as they are)
        Position/SpatialSeries                   (x, y, height), mm: moseq2's centroid_x_mm,
                                                 centroid_y_mm (ROI-relative Kinect-pixel mm),
                                                 height_ave_mm (Datta-lab)
        Position/centroid_roi_px                 (x, y), pixels from the ROI box's corner
        Position/centroid_floor_mm               (x, y), mm on the floor from the optical axis,
                                                 this recording's own camera
        CompassDirection/HeadOrientation         the unwrapped moseq2 angle, radians (Datta-lab)
        CompassDirection/movement_direction      moseq2 velocity_theta, radians
        speed/<scalar>                           velocity_2d_px, velocity_2d_mm (per frame),
                                                 velocity_2d_mm_per_s, and the 3-D ones
        size/<scalar>                            length, width, area (px and mm, moseq2's)
        body/<scalar>                            body_length_px ... body_area_mm2 (this project's)
        valid                                    TimeSeries, 1 where the animal was found
        flipped_series, flip_confidence          what the flip corrector did (when one ran)
        tracked_again                            1 where a frame was tracked again
                                                 (retrack_jumps; when frames were)
        other_scalars/<name>                     any scalar not above, under its own name
        extraction_images/{background, roi, first_frame}     Images / GrayscaleImage
        extraction_parameters                    DynamicTable: key, value (JSON), meaning
        extraction_metadata                      DynamicTable: uuid, version, true depth, frame
                                                 range, dropped frames, camera clock of 0 s,
                                                 metadata.json keys
    acquisition/depth_video                      optional raw depth video: a linked FFV1 .avi
                                                 or embedded
    general/devices/<camera>                     the depth camera (Device + DeviceModel)

Timestamps are seconds from ``session_start_time``, 0 s being the recording's first frame;
the camera-clock time of 0 s is the ``camera_clock_at_time_zero_s`` row of
``extraction_metadata`` (so other devices on the camera's clock can be aligned), and
:func:`read_nwb` adds it back. The session start time is the recording's (``StartTime`` of
``metadata.json``, a RealSense bag's first frame, an Azure ``.mkv``'s creation time) unless
given. Frames dropped by the camera show as gaps and are listed in ``extraction_metadata``. A
perfectly regular clock is written as ``starting_time`` and ``rate`` (NWB best practice). The
session and subject come from a NeuroConv-style metadata dict or YAML
(:mod:`~depthextractors.io.nwb.metadata`); the fields DANDI requires are checked before
anything is written. The files are written to ``<name>.partial`` and renamed when complete.
"""

from __future__ import annotations

from .layout import MODULE_NAME
from .metadata import IncompleteMetadataError, load_metadata
from .writing import session_metadata, write_nwb

# isort: split
# After write_nwb: the API page lists the members in import order.
from .dandi import DandiInspection, dandi_file_name, inspect_for_dandi
from .reading import read_nwb

__all__ = [
    "MODULE_NAME",
    "DandiInspection",
    "IncompleteMetadataError",
    "dandi_file_name",
    "inspect_for_dandi",
    "load_metadata",
    "read_nwb",
    "session_metadata",
    "write_nwb",
]
