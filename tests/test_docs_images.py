"""The pictures the documentation shows are made by ``docs/make_images.py`` and are there."""

import importlib.util
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("make_images", ROOT / "docs" / "make_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_picture_a_page_shows_exists():
    shown = set()
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            if not target.startswith("http"):
                shown.add((page.parent / target).resolve())
                assert (page.parent / target).is_file(), f"{page.name} shows missing {target}"
    # The script's pictures are the ones shown (none left behind unused, none missing).
    images = {path.resolve() for path in (ROOT / "docs" / "images").iterdir()}
    assert images <= shown, sorted(path.name for path in images - shown)


def test_the_script_makes_the_report_and_movie_pictures(tmp_path):
    script = load_script()
    written = script.make_images(tmp_path, frames=150)
    names = {path.name for path in written}
    assert names == {f"report_{name}.svg" for name in script.REPORT_FIGURES} | {
        "preview_movie.png",
        "preview_movie_frames.png",
    }
    for path in written:
        if path.suffix == ".svg":
            root = ElementTree.parse(path).getroot()
            assert root.tag.endswith("svg")
            # A drawing (lines, paths, text) or an embedded picture, not an empty canvas.
            drawn = [element for element in root.iter() if element is not root]
            assert drawn, path.name
            for element in drawn:
                if element.tag.endswith("image"):
                    href = next(v for k, v in element.attrib.items() if k.endswith("href"))
                    assert href.startswith("data:image/png;base64,")
                    assert len(href) > 1000
    one = cv2.imread(str(tmp_path / "preview_movie.png"))
    frames = cv2.imread(str(tmp_path / "preview_movie_frames.png"))
    # Twice the movie's size; three frames of it with two 6-pixel gaps.
    assert frames.shape[0] == 3 * one.shape[0] // 2 + 12
    assert frames.shape[1] * 2 == one.shape[1]
    # The movie frame holds its number and time (light text on the black strip on top) and
    # the animal in colour.
    assert (one[:48].max(axis=-1) > 150).sum() > 100
    hue = cv2.cvtColor(one, cv2.COLOR_BGR2HSV)
    assert np.count_nonzero((hue[..., 1] > 100) & (hue[..., 2] > 100)) > 200
