"""PlaneROI with its defaults on the real arena backgrounds: IoU with the reference masks.

For each real Kinect v2 background of ``../shared/data/real/arena_backgrounds`` (moseq2-extract's
own test fixtures), finds the arena with ``PlaneROI()`` (the defaults a user gets, also those of
``depthextractors find-roi`` without options) and with the two departures from moseq2-extract's
algorithm switched off (``exclude_sloped_walls=False, retry_implausible=False``), and prints the
IoU with the reference mask, the IoU between the two, the notes and problems the arena step
reported and the time per arena (best of ``--repeats``). With ``--moseq2-masks DIR`` (a folder of
``m2roi_<arena>.npy`` boolean masks made by moseq2-extract 1.4.0 with its defaults on the same
backgrounds) it also prints the IoU with moseq2-extract's own answer.

Usage: python benchmarks/bench_arenas.py [--arenas DIR] [--moseq2-masks DIR] [--repeats 3]
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import tifffile
from _common import best_of

from depthextractors.cameras import get_camera
from depthextractors.extraction import PlaneROI

ARENAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "arena_backgrounds"
REFERENCES = {
    "bucket": "bucket",
    "bearbox": "bearbox",
    "cross": "cross",
    "odorbox": "odorbox",
    "chamber_gradient": "chamber",
}
BARS = {"chamber_gradient": 0.90}
MOSEQ2_ALGORITHM = {"exclude_sloped_walls": False, "retry_implausible": False}


def load_background(folder: Path, name: str) -> np.ndarray:
    """A ``bground_<name>.tiff`` in millimetres (stored value / scale_factor)."""
    with tifffile.TiffFile(folder / f"bground_{name}.tiff") as tiff:
        page = tiff.pages[0]
        scale = float(json.loads(page.description)["scale_factor"])
        return page.asarray().astype(np.float64) / scale


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arenas", type=Path, default=ARENAS)
    parser.add_argument("--moseq2-masks", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    camera = get_camera("kinect_v2")
    header = f"{'arena':<10} {'bar':>5} {'defaults':>9} {'moseq2 alg.':>11} {'def. vs alg.':>12}"
    if args.moseq2_masks is not None:
        header += f" {'def. vs m2':>10} {'alg. vs m2':>10} {'m2 vs ref':>9}"
    print("IoU with the reference masks (Kinect v2 real backgrounds)")
    print(header + f" {'time':>7}")
    notes = []
    for name, reference_name in REFERENCES.items():
        background = load_background(args.arenas, name)
        reference = tifffile.imread(args.arenas / f"roi_{reference_name}_01.tiff") > 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = PlaneROI().find(background, camera)
            moseq2_alg = PlaneROI(**MOSEQ2_ALGORITHM).find(background, camera)
            seconds = best_of(args.repeats, lambda image=background: PlaneROI().find(image, camera))
        line = (
            f"{reference_name:<10} {BARS.get(name, 0.95):>5.2f} {iou(found.mask, reference):>9.3f} "
            f"{iou(moseq2_alg.mask, reference):>11.3f} {iou(found.mask, moseq2_alg.mask):>12.3f}"
        )
        if args.moseq2_masks is not None:
            theirs = np.load(args.moseq2_masks / f"m2roi_{name}.npy")
            line += (
                f" {iou(found.mask, theirs):>10.3f} {iou(moseq2_alg.mask, theirs):>10.3f}"
                f" {iou(theirs, reference):>9.3f}"
            )
        print(line + f" {seconds * 1000:>5.0f} ms")
        notes += [f"{reference_name}: {text}" for text in (*found.notes, *found.problems)]
    print("\nWhat the arena step reported with the defaults:")
    for text in notes:
        print(f"  {text}")


if __name__ == "__main__":
    main()
