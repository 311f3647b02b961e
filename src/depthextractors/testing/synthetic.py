"""Synthetic sessions with ground truth, in memory or written as a raw moseq session.

``generate_synthetic_session`` writes a realistic raw moseq session (``depth.dat``,
``depth_ts.txt``, ``metadata.json``) of an asymmetric animal (narrower head, taller rear, a
tail) walking with pauses and turns in a round or square arena over a tilted floor, with sensor
noise, invalid (zero) pixels and optional dropped frames, and returns the ground truth every
extraction step can be checked against. Its options add what labs record beside: a tether,
a hand, sloped or reflective walls, objects, bedding, invalid patches, flying pixels along
the animal's outline, rearing and grooming (:func:`~depthextractors.testing.
draw_session_parameters` draws them all).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cameras import CameraModel
from ..extractors.base import DepthVideoExtractor
from .animal import MouseShape, Tether
from .layout import ArenaObject
from .pose import Behaviour
from .scene import Scene
from .truth import SyntheticGroundTruth
from .variety import SessionParameters

__all__ = [
    "SyntheticDepthExtractor",
    "SyntheticSession",
    "generate_synthetic_session",
    "synthesize_depth_video",
]

#: Frames :func:`generate_synthetic_session` renders at a time. The sensor noise is drawn per
#: block, so a session's bytes depend on it; the lazy extractor renders the same blocks.
RENDER_BLOCK = 500


@dataclass
class SyntheticSession:
    """A synthetic raw session written to disk.

    Attributes
    ----------
    directory : pathlib.Path
        The session directory.
    depth_path : pathlib.Path
        ``depth.dat`` inside it (``depth_ts.txt`` and ``metadata.json`` lie beside it).
    camera : CameraModel
        The camera simulated.
    truth : SyntheticGroundTruth
        The ground truth of every written frame.
    """

    directory: Path
    depth_path: Path
    camera: CameraModel
    truth: SyntheticGroundTruth
    metadata: dict = field(default_factory=dict)


def synthesize_depth_video(
    num_frames: int = 300,
    *,
    camera: str | CameraModel = "kinect_v2",
    arena: str = "round",
    floor_depth_mm: float = 680.0,
    floor_tilt_deg: tuple[float, float] = (1.5, -1.0),
    noise_mm: float = 2.0,
    dropout_fraction: float = 0.002,
    dropped_frames: int = 0,
    sampling_frequency: float = 30.0,
    mouse: MouseShape | None = None,
    tether: Tether | None = None,
    hand_frames: int = 0,
    seed: int = 0,
    arena_size_mm: float | None = None,
    walls: str = "vertical",
    reflective_walls: bool = False,
    objects: tuple[ArenaObject, ...] = (),
    bedding_mm: float = 0.0,
    dropout_patches: float = 0.0,
    flying_pixels: float = 0.0,
    behaviour: Behaviour | None = None,
) -> tuple[np.ndarray, SyntheticGroundTruth]:
    """Render a synthetic session in memory (see :func:`generate_synthetic_session`).

    Parameters
    ----------
    num_frames : int, default 300
        Frames rendered.
    camera, arena, floor_depth_mm, floor_tilt_deg, noise_mm, dropout_fraction, dropped_frames, \
sampling_frequency, mouse, tether, hand_frames, seed, arena_size_mm, walls, reflective_walls, \
objects, bedding_mm, dropout_patches, flying_pixels, behaviour
        As for :func:`generate_synthetic_session` (millimetres, degrees, Hz).

    Returns
    -------
    video : numpy.ndarray
        ``(num_frames, rows, cols)`` uint16 depth in millimetres.
    truth : SyntheticGroundTruth
    """
    # Every argument but the frame count is a session parameter: one list of them, not two.
    scene = Scene(num_frames, _parameters(locals()))
    return scene.render(0, num_frames), scene.truth()


def generate_synthetic_session(
    output_dir: str | os.PathLike,
    num_frames: int = 1000,
    *,
    camera: str | CameraModel = "kinect_v2",
    arena: str = "round",
    floor_depth_mm: float = 680.0,
    floor_tilt_deg: tuple[float, float] = (1.5, -1.0),
    noise_mm: float = 2.0,
    dropout_fraction: float = 0.002,
    dropped_frames: int = 0,
    sampling_frequency: float = 30.0,
    mouse: MouseShape | None = None,
    tether: Tether | None = None,
    hand_frames: int = 0,
    seed: int = 0,
    arena_size_mm: float | None = None,
    walls: str = "vertical",
    reflective_walls: bool = False,
    objects: tuple[ArenaObject, ...] = (),
    bedding_mm: float = 0.0,
    dropout_patches: float = 0.0,
    flying_pixels: float = 0.0,
    behaviour: Behaviour | None = None,
    chunk_size: int = RENDER_BLOCK,
) -> SyntheticSession:
    """Write a synthetic raw moseq session and return its ground truth.

    Parameters
    ----------
    output_dir : path-like
        Session directory to create (or reuse); ``depth.dat``, ``depth_ts.txt`` and
        ``metadata.json`` are written in it.
    num_frames : int, default 1000
        Frames written (dropped frames come on top and are not written).
    camera : str or CameraModel, default "kinect_v2"
        Camera preset; sets the frame size and the pixel size on the floor.
    arena : {"round", "square"}
        Shape of the arena floor (by default 42% of the shorter image side from the centre
        to the wall).
    floor_depth_mm : float, default 680
        Distance from the camera to the floor at the image centre, mm.
    floor_tilt_deg : (float, float), default (1.5, -1.0)
        Floor tilt about the image's vertical and horizontal axes, degrees.
    noise_mm : float, default 2
        Standard deviation of Gaussian depth noise, mm.
    dropout_fraction : float, default 0.002
        Fraction of pixels reading 0 (invalid) in each frame; the wall loses more.
    dropped_frames : int, default 0
        Frames the "camera" drops: the animal moves on, the timestamps show a gap.
    sampling_frequency : float, default 30
        Frame rate, Hz.
    mouse : MouseShape, optional
        Body of the animal; the default is a C57-sized adult.
    tether : Tether, optional
        A cable from the animal's back out of the arena (for tethered-animal tests).
    hand_frames : int, default 0
        Frames during which an experimenter's hand reaches in over the animal.
    seed : int, default 0
        Everything random derives from it: the same arguments give the same bytes.
    arena_size_mm : float, optional
        Diameter (round) or side (square) of the arena floor, mm; ``None`` for 84% of the
        shorter image side.
    walls : {"vertical", "sloped"}, default "vertical"
        A vertical wall 280 mm tall, or a bucket's side sloping up over a wide band.
    reflective_walls : bool, default False
        Light bounced off the walls: the floor beside them reads up to 12 mm too deep, and
        small patches there read spurious depths (about 25 mm either way) in every frame.
    objects : tuple of ArenaObject, default ()
        Objects standing in the arena; the animal walks round them.
    bedding_mm : float, default 0
        Mean thickness of a bedding layer with a random texture (0: a bare floor), mm.
    dropout_patches : float, default 0
        Mean number of patches of invalid pixels (1-5 px across) per frame, anywhere in the
        arena (also on the animal).
    flying_pixels : float, default 0
        Chance that a pixel along the animal's outline reads a depth between the animal and
        the floor (a quarter as many read nothing).
    behaviour : Behaviour, optional
        Rearing, grooming and bending in turns (``None``: a straight, level body).
    chunk_size : int, default 500
        Frames rendered and written at a time (bounds memory).

    Returns
    -------
    SyntheticSession
    """
    scene = Scene(num_frames, _parameters(locals()))
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    depth_path = directory / "depth.dat"
    partial = directory / "depth.dat.partial"
    with open(partial, "wb") as handle:
        for start in range(0, num_frames, chunk_size):
            scene.render(start, min(start + chunk_size, num_frames)).astype("<u2").tofile(handle)
    os.replace(partial, depth_path)
    truth = scene.truth()
    metadata = _write_side_files(directory, scene.camera, truth, arena, seed)
    return SyntheticSession(directory, depth_path, scene.camera, truth, metadata)


class SyntheticDepthExtractor(DepthVideoExtractor):
    """A synthetic session rendered as it is read: nothing is written to disk.

    The frames are those :func:`generate_synthetic_session` writes for the same parameters
    (bit for bit, with the default ``chunk_size``), so long sessions can be extracted without
    writing gigabytes first. Each read renders the blocks of ``chunk_size`` frames it touches
    and keeps the last one, so sequential reads and sorted strided reads render each block
    about once.

    Parameters
    ----------
    num_frames : int
        Frames in the session (dropped frames come on top and are not in it).
    parameters : SessionParameters, optional
        What the session is made of (as :func:`~depthextractors.testing.draw_session` writes
        it: a hand stays for at most half of the frames); ``None`` for the generator's
        defaults.
    chunk_size : int, default 500
        Frames rendered at a time, as :func:`generate_synthetic_session`'s ``chunk_size``.

    Attributes
    ----------
    truth : SyntheticGroundTruth
        The ground truth of every frame.
    """

    extractor_name = "SyntheticDepthExtractor"

    def __init__(
        self,
        num_frames: int,
        parameters: SessionParameters | None = None,
        *,
        chunk_size: int = RENDER_BLOCK,
    ) -> None:
        super().__init__()
        if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
            raise TypeError(f"num_frames must be an integer, got {num_frames!r}")
        if num_frames < 1 or chunk_size < 1:
            raise ValueError(
                f"num_frames and chunk_size must be at least 1, got {num_frames} and {chunk_size}"
            )
        parameters = parameters if parameters is not None else SessionParameters()
        self._scene = Scene(int(num_frames), _parameters(parameters.arguments(int(num_frames))))
        self._chunk_size = int(chunk_size)
        self._num_frames = int(num_frames)
        self._sampling_frequency = float(parameters.sampling_frequency)
        self.truth = self._scene.truth()
        self._camera = self._scene.camera
        self._metadata = _acquisition_metadata(
            self._scene.camera, parameters.arena, parameters.seed
        )
        self._block: tuple[int, np.ndarray] | None = None
        self._lock = threading.Lock()

    def get_image_size(self) -> tuple[int, int]:
        return tuple(int(n) for n in self._scene.camera.image_size)

    def get_num_frames(self) -> int:
        return self._num_frames

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        if end_frame <= start_frame:
            rows, cols = self.get_image_size()
            return np.empty((0, rows, cols), dtype=np.uint16)
        parts = []
        first, last = start_frame // self._chunk_size, (end_frame - 1) // self._chunk_size
        for block in range(first, last + 1):
            block_start = block * self._chunk_size
            frames = self._rendered(block)
            parts.append(frames[max(start_frame - block_start, 0) : end_frame - block_start])
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def _rendered(self, block: int) -> np.ndarray:
        with self._lock:
            if self._block is None or self._block[0] != block:
                start = block * self._chunk_size
                end = min(start + self._chunk_size, self._num_frames)
                self._block = (block, self._scene.render(start, end))
            return self._block[1]

    def get_native_timestamps(self) -> np.ndarray:
        return self.truth.timestamps_ms / 1000.0

    def _native_timestamps_source(self) -> str:
        return "synthetic"

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)


def _parameters(arguments: dict) -> SessionParameters:
    """The session parameters among a generator function's arguments."""
    names = SessionParameters.__dataclass_fields__
    values = {name: arguments[name] for name in names}
    values["floor_tilt_deg"] = tuple(values["floor_tilt_deg"])
    values["objects"] = tuple(values["objects"])
    return SessionParameters(**values)


def _write_side_files(
    directory: Path, camera: CameraModel, truth: SyntheticGroundTruth, arena: str, seed: int
) -> dict:
    """Write ``depth_ts.txt`` and ``metadata.json`` as moseq acquisition writes them.

    Returns
    -------
    dict
        The contents of ``metadata.json``.
    """
    np.savetxt(
        directory / "depth_ts.txt",
        np.column_stack([truth.timestamps_ms, np.zeros(truth.timestamps_ms.size)]),
        fmt=["%.4f", "%d"],
    )
    metadata = _acquisition_metadata(camera, arena, seed)
    with open(directory / "metadata.json", "w", encoding="utf-8") as handle:
        json.dump(metadata, handle, indent=2)
    return metadata


def _acquisition_metadata(camera: CameraModel, arena: str, seed: int) -> dict:
    """What moseq acquisition writes to ``metadata.json``, for a synthetic session."""
    rows, cols = camera.image_size
    return {
        "SubjectName": f"synthetic-mouse-{seed}",
        "SessionName": f"synthetic-{arena}-{seed}",
        "NidaqChannels": 0,
        "NidaqSamplingRate": 0.0,
        "DepthResolution": [cols, rows],
        "IsLittleEndian": True,
        "DepthDataType": "UInt16[]",
        "ColorResolution": [cols, rows],
        "ColorDataType": "Byte[]",
        "StartTime": "2026-01-01T00:00:00+00:00",
        "CameraType": camera.name,
    }
