"""NWB export and import of extraction results, with current pynwb and core NWB types only.

:meth:`ExtractionResults.to_nwb <depthextractors.io.results.ExtractionResults.to_nwb>` and
:meth:`~depthextractors.io.results.ExtractionResults.from_nwb` call :func:`write_nwb` and
:func:`read_nwb`. pynwb and hdmf are imported only when a file is written or read, so importing
this package does not need the ``nwb`` extra.

Layout, after the public Datta-lab MoSeq conversion (``processing/behavior``), with core types in
place of the ``ndx-depth-moseq`` extension (which needs pynwb < 3)::

    processing/behavior/                         ProcessingModule
        processed_depth_video                    ImageSeries (frames, rows, cols), millimetres,
                                                 gzip, one HDF5 chunk per frame; holds the
                                                 timestamps the other series link to
        frames_mask                              ImageSeries (ImageMaskSeries is deprecated and
                                                 refused by pynwb 4): uint8, 1 = animal (float32
                                                 log-likelihoods of the EM tracker as they are)
        position/position                        Position / SpatialSeries (x, y, height), mm
        position/position_px                     SpatialSeries (x, y), pixels of the ROI box
        heading_2d/heading_2d                    CompassDirection / SpatialSeries, radians,
                                                 wrapped to [-pi, pi)
        angle/angle                              the unwrapped moseq2 ``angle``, radians
        speed_2d/{speed_2d, speed_2d_px, speed_2d_per_s}     mm/frame, pixels/frame, mm/s
        speed_3d/{speed_3d, speed_3d_px, speed_3d_per_s}
        angular_velocity_2d/angular_velocity_2d  moseq2 ``velocity_theta``, radians
        length/{length, length_px}, width/{width, width_px}, area/{area, area_px}
        valid                                    TimeSeries, 1 where the animal was found
        flipped_series                           TimeSeries, 1 where the flip corrector turned
                                                 the animal round (when one ran)
        flip_confidence                          TimeSeries, unitless: the flip corrector's
                                                 probability that the heading is right (0.5 =
                                                 chance, 1 = certain; NaN where no animal)
        other_scalars/<name>                     any scalar not above, under its own name
        extraction_images/{background, roi, first_frame}     Images / GrayscaleImage
        extraction_parameters                    DynamicTable: key, value (JSON), meaning
        extraction_metadata                      DynamicTable: uuid, version, true depth, frame
                                                 range, dropped frames, metadata.json keys
    acquisition/depth_video                      optional raw depth video (external or embedded)
    general/devices/<camera>                     the depth camera (Device + DeviceModel)

Timestamps are the extraction's own, in seconds, as they came from the recording (Kinect
milliseconds and Azure microseconds converted) and not shifted to start at zero, so they stay on
the clock of ``depth_ts.txt`` / ``results_00.h5`` and of other devices recorded on it; the
session start time is the recording's (``StartTime`` of ``metadata.json``, a RealSense bag's
first frame, an Azure ``.mkv``'s creation time). Frames dropped by the camera show as gaps and
are listed in ``extraction_metadata`` (``dropped_frame_count``, ``dropped_after``). A
perfectly regular clock is written as ``starting_time`` and ``rate`` (NWB best practice) instead.
The files are written to ``<name>.partial`` and renamed when complete.
"""

from __future__ import annotations

from .layout import MODULE_NAME
from .writing import write_nwb

# isort: split
# After write_nwb: the API page lists the members in import order.
from .reading import read_nwb

__all__ = ["MODULE_NAME", "read_nwb", "write_nwb"]
