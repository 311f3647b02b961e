"""The code in the documentation runs as written."""

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.DOTALL)


@pytest.fixture
def tutorial_module(monkeypatch):
    """A real module for the page's code, so its classes pickle as they would in a user's file."""
    module = types.ModuleType("new_camera_tutorial")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_new_camera_tutorial_runs_and_passes_the_conformance_check(
    tmp_path, monkeypatch, tutorial_module
):
    monkeypatch.chdir(tmp_path)
    namespace = tutorial_module.__dict__
    blocks = python_blocks("new_camera.md")
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, "new_camera.md", "exec"), namespace)
    extractor = namespace["extractor"]
    assert extractor.get_num_frames() == 24
    np.testing.assert_array_equal(extractor.get_video(), namespace["video"])


def test_new_camera_extractor_reads_real_png_depth(
    real_data, tmp_path, monkeypatch, tutorial_module
):
    """The tutorial's class on real 16-bit PNG depth frames (Redwood RGB-D)."""
    import cv2

    from depthextractors.testing import check_depth_extractor

    monkeypatch.chdir(tmp_path)
    namespace = tutorial_module.__dict__
    exec(compile(python_blocks("new_camera.md")[0], "new_camera.md", "exec"), namespace)
    extractor = namespace["PngSequenceExtractor"](real_data / "redwood_rgbd")
    assert extractor.get_num_frames() == 5
    assert extractor.get_image_size() == (480, 640)
    expected = np.stack(
        [
            cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            for path in sorted((real_data / "redwood_rgbd").glob("*.png"))
        ]
    )
    check_depth_extractor(extractor, expected)
    assert 300 < np.median(expected[expected > 0]) < 5000  # millimetres indoors


def test_quickstart_snippet_runs(tmp_path, monkeypatch):
    from depthextractors.testing import generate_synthetic_session

    monkeypatch.chdir(tmp_path)
    generate_synthetic_session(tmp_path / "depthextractors_demo" / "session", 450, seed=0)
    namespace: dict = {}
    for block in python_blocks("quickstart.md"):
        exec(compile(block, "quickstart.md", "exec"), namespace)
    assert namespace["frames"].shape == (50, 424, 512)
    assert namespace["times"].shape == (300,)


def test_extraction_snippet_runs(tmp_path, monkeypatch):
    from depthextractors.testing import generate_synthetic_session

    monkeypatch.chdir(tmp_path)
    generate_synthetic_session(tmp_path / "depthextractors_demo" / "session", 200, seed=1)
    namespace: dict = {}
    for block in python_blocks("extraction.md"):
        exec(compile(block, "extraction.md", "exec"), namespace)
    results = namespace["results"]
    assert len(results) == 200
    assert results.valid.mean() > 0.95
    assert (tmp_path / "depthextractors_demo" / "proc" / "results_00.h5").is_file()


def test_testing_kit_page_snippet_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    blocks = python_blocks("api/testing.md")
    assert len(blocks) == 1
    exec(compile(blocks[0], "api/testing.md", "exec"), namespace)
    np.testing.assert_array_equal(namespace["truth"].heading, namespace["session"].truth.heading)
    assert (tmp_path / "drawn" / "seed_0007" / "session.json").is_file()


@pytest.mark.parametrize("page", sorted(path.name for path in DOCS.glob("*.md")))
def test_pages_link_to_existing_pages(page):
    for target in re.findall(r"\]\(([^)#]+\.md)\)", (DOCS / page).read_text()):
        assert (DOCS / target).resolve().exists(), f"{page} links to missing {target}"


def test_examples_page_tracker_runs_in_an_extraction(tmp_path):
    from depthextractors import InMemoryResultsWriter, SessionExtraction, open_depth_video
    from depthextractors.testing import generate_synthetic_session

    session = generate_synthetic_session(tmp_path / "session", 120, seed=1)
    namespace: dict = {}
    blocks = python_blocks("examples.md")
    assert len(blocks) == 1
    exec(compile(blocks[0], "examples.md", "exec"), namespace)
    tracker = namespace["LargestBlobTracker"]()
    results = SessionExtraction(open_depth_video(session.directory), tracker=tracker).run(
        InMemoryResultsWriter(), progress=False
    )
    assert results.valid.mean() > 0.95
    rows, cols = np.nonzero(results.roi)
    x = np.asarray(results.scalars["centroid_x_px"]) + cols.min()
    y = np.asarray(results.scalars["centroid_y_px"]) + rows.min()
    error = np.hypot(x - session.truth.centroid_px[:, 0], y - session.truth.centroid_px[:, 1])
    assert np.nanmedian(error) < 0.5


def test_quickstart_shows_what_the_demo_prints(tmp_path):
    from click.testing import CliRunner

    from depthextractors.cli import main

    page = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    shown = re.search(r"It prints.*?```text\n(.*?)```", page, re.S)
    assert shown, "quickstart.md shows no output of the demo"
    result = CliRunner().invoke(
        main, ["demo", "--output-dir", str(tmp_path / "demo"), "--num-frames", "60", "--no-movie"]
    )
    assert result.exit_code == 0, result.output

    def shape(text: str) -> list[str]:
        # Each line's first word, numbers as N: the lines the demo prints, in order.
        return [re.sub(r"\d[\d,.]*", "N", line.split()[0]) for line in text.splitlines()]

    printed = [line for line in result.output.splitlines() if "movie" not in line.split()[:1]]
    expected = [line for line in shown[1].splitlines() if "movie" not in line.split()[:1]]
    assert shape("\n".join(printed)) == shape("\n".join(expected))
    assert str((tmp_path / "demo" / "session").resolve()) in result.output  # says where
