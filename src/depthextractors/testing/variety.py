"""Sessions drawn from what labs record: :func:`draw_session_parameters`.

One seed gives one :class:`SessionParameters`: the camera (every preset), the floor's distance
and tilt, the arena (round or square, vertical or sloped walls, reflective or not, objects,
bedding), the sensor's noise and invalid pixels, the animal (a juvenile mouse to a rat, its
proportions varied), a tether (none, a bare fibre, a cable or a thick bundle; to the wall or to
a commutator above; taut or slack; from the head or the back, with or without a connector), an
experimenter's hand, and rearing, grooming and bending in turns. The parameters render a
session with its ground truth (:meth:`SessionParameters.synthesize`,
:meth:`SessionParameters.generate`); :meth:`SessionParameters.conditions` names the level of
every randomised factor, for accuracy tables by condition.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cameras import CAMERA_PRESETS, CameraModel, get_camera
from .animal import MouseShape, Tether
from .layout import ArenaObject
from .pose import Behaviour

if TYPE_CHECKING:
    from .synthetic import SyntheticSession
    from .truth import SyntheticGroundTruth

__all__ = ["GENERATOR_VERSION", "SessionParameters", "draw_session", "draw_session_parameters"]

#: Version of the generator's distribution (:func:`draw_session_parameters`) and rendering;
#: accuracy figures name it. Version 1 was the fixed-arena generator of 0.1 (whose sessions
#: version 2 renders byte for byte the same from the same arguments).
GENERATOR_VERSION = "2"


@dataclass(frozen=True)
class SessionParameters:
    """Everything a synthetic session is made from.

    The attributes are :func:`~depthextractors.testing.generate_synthetic_session`'s keyword
    arguments (see there for their meaning and units); the defaults are its defaults.
    """

    camera: str | CameraModel = "kinect_v2"
    arena: str = "round"
    floor_depth_mm: float = 680.0
    floor_tilt_deg: tuple[float, float] = (1.5, -1.0)
    noise_mm: float = 2.0
    dropout_fraction: float = 0.002
    dropped_frames: int = 0
    sampling_frequency: float = 30.0
    mouse: MouseShape | None = None
    tether: Tether | None = None
    hand_frames: int = 0
    seed: int = 0
    arena_size_mm: float | None = None
    walls: str = "vertical"
    reflective_walls: bool = False
    objects: tuple[ArenaObject, ...] = field(default_factory=tuple)
    bedding_mm: float = 0.0
    dropout_patches: float = 0.0
    flying_pixels: float = 0.0
    behaviour: Behaviour | None = None

    def arguments(self, num_frames: int | None = None) -> dict:
        """The keyword arguments of ``generate_synthetic_session`` these parameters give.

        Parameters
        ----------
        num_frames : int, optional
            Frames the session will have: the hand stays for at most half of them.

        Returns
        -------
        dict
        """
        arguments = {item.name: getattr(self, item.name) for item in fields(self)}
        if num_frames is not None:
            arguments["hand_frames"] = min(self.hand_frames, num_frames // 2)
        return arguments

    def synthesize(self, num_frames: int) -> tuple[np.ndarray, SyntheticGroundTruth]:
        """Render the session in memory (:func:`synthesize_depth_video`).

        Parameters
        ----------
        num_frames : int
            Frames rendered (the hand, if any, stays for at most half of them).

        Returns
        -------
        video : numpy.ndarray
            ``(num_frames, rows, cols)`` uint16 depth, millimetres.
        truth : SyntheticGroundTruth
        """
        from .synthetic import synthesize_depth_video

        return synthesize_depth_video(num_frames, **self.arguments(num_frames))

    def generate(
        self, output_dir: str | os.PathLike, num_frames: int, chunk_size: int = 500
    ) -> SyntheticSession:
        """Write the session as a raw moseq session (:func:`generate_synthetic_session`).

        Parameters
        ----------
        output_dir : path-like
            Session directory.
        num_frames : int
            Frames written.
        chunk_size : int, default 500
            Frames rendered at a time.

        Returns
        -------
        SyntheticSession
        """
        from .synthetic import generate_synthetic_session

        return generate_synthetic_session(
            output_dir, num_frames, chunk_size=chunk_size, **self.arguments(num_frames)
        )

    def conditions(self) -> dict[str, str]:
        """The level of every randomised factor, for tables by condition.

        Returns
        -------
        dict of str to str
            Factor name to level (e.g. ``{"tether": "fibre", "animal": "rat", ...}``).
        """
        camera = get_camera(self.camera)
        behaviour = self.behaviour or Behaviour()
        depth = self.floor_depth_mm
        tilt = max(abs(v) for v in self.floor_tilt_deg)
        return {
            "camera": camera.name,
            "animal": _animal_level(self.mouse or MouseShape()),
            "floor distance": _level(depth, (700, 900, 1100), _DISTANCES),
            "floor tilt": _level(tilt, (1.5,), ("under 1.5 deg", "1.5-3 deg")),
            "pixel size": _level(camera.mm_per_pixel(depth)[0], (1.2, 2.0), _PIXEL_SIZES),
            "arena": self.arena,
            "walls": self.walls + (", reflective" if self.reflective_walls else ""),
            "noise": _level(self.noise_mm, (2, 4), ("under 2 mm", "2-4 mm", "4 mm and more")),
            "invalid patches": _yes(self.dropout_patches),
            "flying pixels": _yes(self.flying_pixels),
            **_tether_levels(self.tether),
            "objects": _yes(self.objects),
            "bedding": _yes(self.bedding_mm),
            "hand": _yes(self.hand_frames),
            "rearing": _yes(behaviour.rearing),
            "grooming": _yes(behaviour.grooming),
        }

    def describe(self) -> dict:
        """The parameters as plain values (nested dataclasses as dicts), for logs and tables.

        Returns
        -------
        dict
        """
        out = asdict(self)
        if isinstance(self.camera, CameraModel):
            out["camera"] = self.camera.name
        return out


_DISTANCES = ("0.5-0.7 m", "0.7-0.9 m", "0.9-1.1 m", "over 1.1 m")
_PIXEL_SIZES = ("under 1.2 mm", "1.2-2 mm", "2 mm and more")
_TETHER_FACTORS = ("tether", "tether route", "tether slack", "tether attachment")


def _level(value: float, edges: tuple[float, ...], names: tuple[str, ...]) -> str:
    """The name of the interval between ``edges`` that ``value`` falls in."""
    return names[int(np.searchsorted(edges, value, side="right"))]


def _yes(value: object) -> str:
    return "yes" if value else "no"


def _animal_level(mouse: MouseShape) -> str:
    if mouse.half_length_mm > 70:
        return "rat"
    return _level(mouse.half_length_mm, (26, 35), ("juvenile mouse", "adult mouse", "large mouse"))


def _tether_levels(tether: Tether | None) -> dict[str, str]:
    if tether is None:
        return dict.fromkeys(_TETHER_FACTORS, "none")
    return {
        "tether": _level(tether.width_mm, (2.5, 7.0), ("fibre", "cable", "bundle")),
        "tether route": tether.route,
        "tether slack": "taut" if tether.straight else "slack",
        "tether attachment": "head" if tether.attach_offset > 0.3 else "back",
    }


# ------------------------------------------------------------------------------ the draw
def draw_session_parameters(seed: int) -> SessionParameters:
    """Draw one session's parameters from the distribution of what labs record.

    Parameters
    ----------
    seed : int
        The same seed gives the same parameters (for this :data:`GENERATOR_VERSION`); the
        session's own random numbers derive from it too.

    Returns
    -------
    SessionParameters
        Render them with :meth:`SessionParameters.synthesize` or
        :meth:`SessionParameters.generate`.

    Notes
    -----
    Half of the sessions are tethered. Animals: 85% mice (the body 43-78 mm long: 0.7-1.25 times
    the default adult's 62 mm, proportions varied by 10-15%), 15% rats (150-250 mm; tails
    excluded). Cameras: each preset equally often, the floor 0.5-1.1 m away (rats 0.75-1.1 m)
    and tilted up to 3 degrees each way; arenas 300-650 mm across for mice (rats 2.6-3.5 body
    lengths, at least 3.5 for any animal). An arena the view does not hold moves the camera
    away in 50 mm steps up to 1.5 m (a narrow view such as the RealSense D415's), then
    shrinks to 90% of the view.
    """
    rng = np.random.default_rng([int(seed), 20260415])
    rat = rng.random() < 0.15
    mouse = _draw_animal(rng, rat)
    camera = str(rng.choice(sorted(CAMERA_PRESETS)))
    depth, size = _draw_view(rng, get_camera(camera), mouse, rat)
    realsense = get_camera(camera).family == "realsense"
    # Stereo depth noise grows with the square of the distance.
    noise = rng.uniform(1.0, 2.5) * (depth / 700.0) ** 2 if realsense else rng.uniform(1.0, 3.0)
    params = SessionParameters(
        camera=camera,
        arena=str(rng.choice(["round", "square"])),
        floor_depth_mm=round(depth, 1),
        floor_tilt_deg=(round(rng.uniform(-3, 3), 2), round(rng.uniform(-3, 3), 2)),
        noise_mm=round(float(noise), 2),
        dropout_fraction=round(float(math.exp(rng.uniform(math.log(5e-4), math.log(1e-2)))), 5),
        dropped_frames=int(rng.integers(0, 4)),
        mouse=mouse,
        tether=_draw_tether(rng, mouse) if rng.random() < 0.5 else None,
        hand_frames=int(rng.integers(15, 41)) if rng.random() < 0.15 else 0,
        seed=int(seed),
        arena_size_mm=round(size, 1),
        walls="sloped" if rng.random() < 0.3 else "vertical",
        reflective_walls=bool(rng.random() < 0.25),
        objects=_draw_objects(rng, mouse) if rng.random() < 0.3 else (),
        bedding_mm=round(rng.uniform(3.0, 12.0), 1) if rng.random() < 0.3 else 0.0,
        dropout_patches=round(rng.uniform(1.0, 4.0), 1) if rng.random() < 0.3 else 0.0,
        flying_pixels=round(rng.uniform(0.1, 0.5), 2) if rng.random() < 0.5 else 0.0,
        behaviour=Behaviour(
            rearing=round(rng.uniform(0.05, 0.25), 2) if rng.random() < 0.4 else 0.0,
            grooming=round(rng.uniform(0.05, 0.2), 2) if rng.random() < 0.4 else 0.0,
            bending=round(rng.uniform(0.0, 1.5), 2) if rng.random() < 0.7 else 0.0,
            walking_speed_mm_s=round(rng.uniform(60.0, 160.0) * (2.0 if rat else 1.0), 1),
        ),
    )
    return params


def draw_session(
    directory: str | os.PathLike, seed: int, num_frames: int = 300, chunk_size: int = 500
) -> SyntheticSession:
    """Draw a session from what labs record and write it with its ground truth.

    Parameters
    ----------
    directory : path-like
        Session directory to create (or reuse).
    seed : int
        Which session (:func:`draw_session_parameters`); the same seed and frame count give
        the same files.
    num_frames : int, default 300
        Frames written.
    chunk_size : int, default 500
        Frames rendered at a time (bounds memory).

    Returns
    -------
    SyntheticSession
        The session; its directory holds the raw session (``depth.dat``, ``depth_ts.txt``,
        ``metadata.json``), ``ground_truth.npz``
        (:func:`~depthextractors.testing.write_ground_truth`: centroid, body axis, heading
        and more per frame; :func:`~depthextractors.testing.read_ground_truth` reads it) and
        ``session.json``: the generator version, the seed, the frame count, the parameters
        (:meth:`SessionParameters.describe`) and the conditions
        (:meth:`SessionParameters.conditions`).
    """
    from .truth import write_ground_truth

    parameters = draw_session_parameters(seed)
    session = parameters.generate(directory, num_frames, chunk_size=chunk_size)
    write_ground_truth(session.directory, session.truth)
    record = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "num_frames": int(num_frames),
        "conditions": parameters.conditions(),
        "parameters": parameters.describe(),
    }
    text = json.dumps(record, indent=2, sort_keys=True)
    (Path(session.directory) / "session.json").write_text(text + "\n", encoding="utf-8")
    return session


def _draw_animal(rng: np.random.Generator, rat: bool) -> MouseShape:
    base = MouseShape.rat(rng.uniform(0.65, 1.1)) if rat else MouseShape().scaled(
        rng.uniform(0.7, 1.25)
    )  # fmt: skip
    jitter = rng.uniform(0.88, 1.12, size=4)
    return replace(
        base,
        half_width_mm=round(base.half_width_mm * float(jitter[0]), 2),
        rear_height_mm=round(base.rear_height_mm * float(jitter[1]), 2),
        nose_height_mm=round(base.nose_height_mm * float(jitter[2]), 2),
        tail_length_mm=round(base.tail_length_mm * float(jitter[3]), 2),
        head_narrowing=round(
            float(np.clip(base.head_narrowing + rng.uniform(-0.1, 0.1), 0.1, 0.5)), 3
        ),
    )


def _draw_view(
    rng: np.random.Generator, camera: CameraModel, mouse: MouseShape, rat: bool
) -> tuple[float, float]:
    """Floor distance and arena size (mm) that fit the animal in the camera's view."""
    body = 2.0 * mouse.half_length_mm
    depth = rng.uniform(750.0, 1100.0) if rat else rng.uniform(500.0, 1100.0)
    wanted = rng.uniform(2.6, 3.5) * body if rat else rng.uniform(300.0, 650.0)
    # The arena must hold the animal comfortably; a larger one needs a farther camera.
    wanted = max(wanted, 7.0 * mouse.half_length_mm)
    while True:
        mm_per_px = camera.mm_per_pixel(depth)[0]
        largest = 0.9 * min(camera.image_size) * mm_per_px
        if wanted <= largest or depth >= 1500:
            return depth, min(wanted, largest)
        depth += 50.0


def _draw_tether(rng: np.random.Generator, mouse: MouseShape) -> Tether:
    kind = rng.choice(["fibre", "cable", "bundle"])
    width = {"fibre": (0.6, 2.0), "cable": (3.0, 6.0), "bundle": (7.0, 14.0)}[str(kind)]
    scale = mouse.half_length_mm / MouseShape().half_length_mm
    head = rng.random() < (0.6 if kind == "fibre" else 0.35)
    offset = rng.uniform(0.4, 0.65) if head else rng.uniform(-0.45, 0.1)
    back = float(mouse.body_height(np.array([offset * mouse.half_length_mm]), np.zeros(1))[0])
    slack = rng.random() < 0.5
    commutator = rng.random() < 0.5
    return Tether(
        width_mm=round(rng.uniform(*width) * (1.0 if kind == "fibre" else min(scale, 1.3)), 2),
        attach_height_mm=round(back + rng.uniform(4.0, 40.0), 1),
        top_height_mm=round(rng.uniform(250.0, 450.0) if commutator else rng.uniform(150, 400), 1),
        attach_offset=round(offset, 3),
        sway_deg=round(rng.uniform(10.0, 40.0), 1),
        sway_period_s=round(rng.uniform(3.0, 10.0), 1),
        route="commutator" if commutator else "wall",
        slack_mm=round(rng.uniform(10.0, 80.0) * scale, 1) if slack else 0.0,
        slack_at=round(rng.uniform(0.12, 0.5), 2),
        bow_mm=round(rng.uniform(0.0, 40.0) * scale, 1) if slack else 0.0,
        commutator_offset=(round(rng.uniform(-0.3, 0.3), 2), round(rng.uniform(-0.3, 0.3), 2)),
        connector_mm=round(rng.uniform(6.0, 14.0) * scale, 1) if rng.random() < 0.5 else 0.0,
        partial_pixels=bool(kind == "fibre"),
    )


def _draw_objects(rng: np.random.Generator, mouse: MouseShape) -> tuple[ArenaObject, ...]:
    scale = max(1.0, mouse.half_length_mm / MouseShape().half_length_mm / 1.5)
    objects = []
    for _ in range(int(rng.integers(1, 3))):
        angle, radius = rng.uniform(-math.pi, math.pi), rng.uniform(0.35, 0.7)
        objects.append(
            ArenaObject(
                shape=str(rng.choice(["cylinder", "block"])),
                position=(round(radius * math.cos(angle), 3), round(radius * math.sin(angle), 3)),
                size_mm=round(rng.uniform(25.0, 70.0) * scale, 1),
                height_mm=round(rng.uniform(30.0, 150.0), 1),
            )
        )
    return tuple(objects)
