"""Testing kit shipped with the package: synthetic sessions with ground truth, a conformance
check for extractors, and an Azure-Kinect-like ``.mkv`` writer.

``generate_synthetic_session`` writes a realistic raw moseq session (``depth.dat``,
``depth_ts.txt``, ``metadata.json``) of an asymmetric mouse (narrower head, taller rear, a tail)
walking with pauses and turns in a round or square arena over a tilted floor, with sensor noise,
invalid (zero) pixels and optional dropped frames, and returns the ground truth every extraction
step can be checked against; its options add tethers, hands, sloped and reflective walls,
objects, bedding, sensor artefacts, rearing and grooming. ``draw_session(directory, seed)``
draws a session from the variety labs record (every camera preset, mice to rats, floors 0.5 to
1.1 m away, tethers from bare fibres to thick bundles; ``draw_session_parameters(seed)`` draws
only its parameters) and writes it with its ground truth, for accuracy figures by condition.
``check_depth_extractor`` is what a new format runs in its tests. ``write_azure_like_mkv``
writes recordings laid out as the Azure Kinect recorder lays them out
(:mod:`depthextractors.testing.matroska`).
"""

# The API page lists the members in import order: the generator, then the check, then the writer.
from .animal import MouseShape, Tether
from .layout import ArenaObject
from .pose import Behaviour
from .synthetic import (
    SyntheticDepthExtractor,
    SyntheticSession,
    generate_synthetic_session,
    synthesize_depth_video,
)
from .truth import SyntheticGroundTruth, read_ground_truth, write_ground_truth
from .variety import (
    GENERATOR_VERSION,
    SessionParameters,
    draw_session,
    draw_session_parameters,
)

# isort: split
from .conformance import check_depth_extractor
from .matroska import mjpeg_frame, write_azure_like_mkv

__all__ = [
    "GENERATOR_VERSION",
    "ArenaObject",
    "Behaviour",
    "MouseShape",
    "SessionParameters",
    "SyntheticDepthExtractor",
    "SyntheticGroundTruth",
    "SyntheticSession",
    "Tether",
    "check_depth_extractor",
    "draw_session",
    "draw_session_parameters",
    "generate_synthetic_session",
    "mjpeg_frame",
    "read_ground_truth",
    "synthesize_depth_video",
    "write_azure_like_mkv",
    "write_ground_truth",
]
