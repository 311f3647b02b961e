"""Make the pictures of the report and the preview movie that the documentation shows.

Extracts the synthetic session ``depthextractors demo`` makes (Kinect v2 frame size, a round
arena, seed 0) with the default parameters and copies into ``docs/images/``:

- ``report_<figure>.svg``: figures of its report (``report/<figure>.svg``, the drawings the
  report's HTML holds), as a reader of ``report.html`` sees them;
- ``preview_movie.png``: one frame of ``results_00.mp4`` (frame number and time on top, the
  crop enlarged on the left, the arena on the right), shown twice its size;
- ``preview_movie_frames.png``: three frames of the movie one above the other.

Usage::

    python docs/make_images.py [--frames 900] [--output docs/images]

``tests/test_docs_images.py`` runs it into a temporary folder and checks that what the pages
show is there.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

#: The report's figures the documentation shows.
REPORT_FIGURES = ("roi_overlay", "crops", "centroid_path", "speed", "quality")
#: The movie frames shown (as fractions of the session).
MOVIE_FRACTIONS = (0.2, 0.5, 0.8)


def movie_frames(path: Path, numbers: list[int]) -> list[np.ndarray]:
    """The movie's frames ``numbers`` as BGR images."""
    wanted = set(numbers)
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                found[index] = frame.to_ndarray(format="bgr24")
            if len(found) == len(wanted):
                break
    return [found[number] for number in numbers]


def make_images(output: Path, frames: int = 900) -> list[Path]:
    """Extract the demo session and write the documentation's pictures into ``output``.

    Parameters
    ----------
    output : pathlib.Path
        Folder the pictures go to (made if missing).
    frames : int, default 900
        Length of the synthetic session, frames (30 per second).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from depthextractors.config import ExtractionConfig
    from depthextractors.testing import generate_synthetic_session
    from depthextractors.workflow import extract_session

    output.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        session = Path(scratch) / "session"
        generate_synthetic_session(session, frames, seed=0)
        extract_session(session, session / "proc", ExtractionConfig())
        for name in REPORT_FIGURES:
            target = output / f"report_{name}.svg"
            shutil.copyfile(session / "proc" / "report" / f"{name}.svg", target)
            written.append(target)
        numbers = [int(frames * fraction) for fraction in MOVIE_FRACTIONS]
        images = movie_frames(session / "proc" / "results_00.mp4", numbers)
        one = cv2.resize(images[1], None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        gap = np.full((6, images[0].shape[1], 3), 255, np.uint8)
        stacked = np.concatenate([part for image in images for part in (image, gap)][:-1])
        for name, image in (("preview_movie", one), ("preview_movie_frames", stacked)):
            target = output / f"{name}.png"
            if not cv2.imwrite(str(target), image):
                raise OSError(f"could not write {target}")
            written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900, help="frames of the session")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).resolve().parent / "images",
        help="folder for the pictures (docs/images)",
    )  # fmt: skip
    arguments = parser.parse_args()
    for path in make_images(arguments.output, arguments.frames):
        print(path)


if __name__ == "__main__":
    main()
