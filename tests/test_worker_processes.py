"""Worker processes for the first frame pass (issue 17): the same results as threads, one clear
error when a worker stops, and the cases where the frames stay in threads."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from depthextractors import (
    EMTracker,
    H5ResultsWriter,
    MomentsTracker,
    NumpyDepthExtractor,
    SessionExtraction,
    open_depth_video,
)
from depthextractors.extraction import executor
from depthextractors.extraction.frame_processes import main_script_guarded
from depthextractors.io import InMemoryResultsWriter
from depthextractors.testing import generate_synthetic_session


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    directory = tmp_path_factory.mktemp("workers") / "session"
    generate_synthetic_session(directory, 130, seed=5)
    return directory


class _ArenaHeightsWriter(InMemoryResultsWriter):
    """Results in memory, and the arena heights a preview movie would get."""

    arena_heights_step = 2

    def __init__(self):
        super().__init__()
        self.arena_heights = []

    def write(self, chunk):
        self.arena_heights.append(np.array(chunk.arena_heights))
        super().write(chunk)


def _extract(recording, tracker="moments", **job):
    extraction = SessionExtraction(
        open_depth_video(recording), tracker=EMTracker() if tracker == "em" else MomentsTracker()
    )
    writer = _ArenaHeightsWriter()
    results = extraction.run(writer, progress=False, **job)
    return results, np.concatenate(writer.arena_heights)


def _same(a, b, context):
    np.testing.assert_array_equal(a.frames[:], b.frames[:], err_msg=context)
    np.testing.assert_array_equal(a.frames_mask[:], b.frames_mask[:], err_msg=context)
    assert a.scalars.keys() == b.scalars.keys()
    for name in a.scalars:
        np.testing.assert_array_equal(a.scalars[name][:], b.scalars[name][:], err_msg=name)
    for name in ("flips", "flip_confidence"):
        np.testing.assert_array_equal(getattr(a, name)[:], getattr(b, name)[:], err_msg=name)


@pytest.mark.parametrize("tracker", ["moments", "em"])
def test_worker_processes_give_the_results_of_threads(recording, tracker):
    reference, arena = _extract(recording, tracker, workers="threads", n_jobs=1)
    assert reference.metadata["job"]["workers"] == "threads"
    assert reference.valid.mean() > 0.9
    for chunk_size in (9, 1000):
        results, heights = _extract(
            recording, tracker, workers="processes", n_jobs=2, chunk_size=chunk_size
        )
        assert results.metadata["job"] == {
            "n_jobs": 2, "chunk_size": chunk_size, "workers": "processes",
        }  # fmt: skip
        _same(reference, results, f"{tracker}, chunk_size={chunk_size}")
        np.testing.assert_array_equal(arena, heights)


@pytest.mark.parametrize("view", ["frame_trim", "frame_slice"])
def test_worker_processes_read_the_frames_a_trim_or_a_slice_leaves(recording, view):
    """Frames left out at both ends: the workers read the same source frames as threads."""
    results = {}
    for workers in ("threads", "processes"):
        video = open_depth_video(recording)
        if view == "frame_trim":
            extraction = SessionExtraction(video, frame_trim=(7, 4))
        else:
            extraction = SessionExtraction(video.frame_slice(7, 126))
        results[workers] = extraction.run(
            InMemoryResultsWriter(), progress=False, workers=workers, chunk_size=40, n_jobs=2
        )
    assert len(results["processes"]) == 130 - 7 - 4
    assert results["processes"].metadata["job"]["workers"] == "processes"
    _same(results["threads"], results["processes"], view)


def test_auto_uses_processes_for_a_long_raw_file_with_two_workers(recording, monkeypatch):
    results, _ = _extract(recording, n_jobs=2)  # 130 frames: not worth starting processes
    assert results.metadata["job"]["workers"] == "threads"
    monkeypatch.setattr(executor, "PROCESSES_MIN_FRAMES", 100)
    results, _ = _extract(recording, n_jobs=2)
    assert results.metadata["job"]["workers"] == "processes"
    results, _ = _extract(recording, n_jobs=1)
    assert results.metadata["job"]["workers"] == "threads"


def test_a_recording_read_in_order_stays_in_threads(recording):
    video = open_depth_video(recording)
    in_memory = NumpyDepthExtractor(video.get_video(0, 60), video.get_sampling_frequency())
    extraction = SessionExtraction(in_memory)
    with pytest.warns(UserWarning, match="NumpyDepthExtractor recordings are read in order"):
        results = extraction.run(
            InMemoryResultsWriter(), progress=False, workers="processes", n_jobs=2
        )
    assert results.metadata["job"] == {"n_jobs": 2, "chunk_size": 1000, "workers": "threads"}


def test_a_strategy_a_worker_cannot_import_stays_in_threads(recording):
    class LocalTracker(MomentsTracker):  # defined in a function: it cannot be pickled
        pass

    extraction = SessionExtraction(open_depth_video(recording), tracker=LocalTracker())
    with pytest.warns(UserWarning, match="cannot be sent to a worker process"):
        results = extraction.run(
            InMemoryResultsWriter(), progress=False, workers="processes", n_jobs=2
        )
    assert results.metadata["job"]["workers"] == "threads"


def _fake_main(monkeypatch, path):
    main = types.ModuleType("__main__")
    main.__file__ = str(path)
    monkeypatch.setitem(sys.modules, "__main__", main)


def test_an_unguarded_main_script_keeps_the_frames_in_threads(recording, tmp_path, monkeypatch):
    script = tmp_path / "extract_all.py"
    script.write_text("from depthextractors import extract_session\nextract_session('x')\n")
    _fake_main(monkeypatch, script)
    assert not main_script_guarded()
    extraction = SessionExtraction(open_depth_video(recording), num_frames=40)
    with pytest.warns(UserWarning, match='outside `if __name__ == "__main__":`'):
        results = extraction.run(
            InMemoryResultsWriter(), progress=False, workers="processes", n_jobs=2
        )
    assert results.metadata["job"]["workers"] == "threads"


def test_main_scripts_that_workers_may_import(tmp_path, monkeypatch):
    script = tmp_path / "guarded.py"
    script.write_text("def run():\n    pass\n\n\nif __name__ == '__main__':\n    run()\n")
    _fake_main(monkeypatch, script)
    assert main_script_guarded()
    _fake_main(monkeypatch, tmp_path / "gone.py")  # cannot be read: not taken as guarded
    assert not main_script_guarded()
    interactive = types.ModuleType("__main__")  # a notebook or the interpreter's prompt
    monkeypatch.setitem(sys.modules, "__main__", interactive)
    assert main_script_guarded()


class _DyingTracker(MomentsTracker):
    """Moments, but a worker process that tracks frame content summing to a multiple of 7 is
    killed (as the kernel's out-of-memory killer would)."""

    def track(self, image, origin=(0, 0), raw=None):
        if multiprocessing.parent_process() is not None and int(image.sum()) % 7 == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().track(image, origin, raw)


def test_a_worker_that_dies_gives_one_clear_error_and_no_results(recording, tmp_path):
    extraction = SessionExtraction(open_depth_video(recording), tracker=_DyingTracker())
    with pytest.raises(RuntimeError, match=r"worker process .* stopped .* --workers threads"):
        extraction.run(H5ResultsWriter(tmp_path), progress=False, workers="processes", n_jobs=2)
    assert not (tmp_path / "results_00.h5").exists()


def _extract_in_a_daemon(recording, queue):
    try:
        extraction = SessionExtraction(open_depth_video(recording), num_frames=30)
        with pytest.warns(UserWarning, match="daemonic process"):
            results = extraction.run(
                InMemoryResultsWriter(), progress=False, workers="processes", n_jobs=2
            )
        queue.put(results.metadata["job"]["workers"])
    except BaseException as error:  # the test reads what went wrong
        queue.put(repr(error))


def test_a_daemonic_process_extracts_in_threads(recording):
    """A Dask worker (a daemonic process) cannot start processes: the frames stay in threads."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_extract_in_a_daemon, args=(recording, queue), daemon=True)
    process.start()
    outcome = queue.get(timeout=120)
    process.join(timeout=30)
    assert outcome == "threads"


_SLOW_SCRIPT = """
import sys, time
from depthextractors import MomentsTracker, SessionExtraction, open_depth_video
from depthextractors.io import InMemoryResultsWriter


class SlowTracker(MomentsTracker):
    def track(self, image, origin=(0, 0), raw=None):
        time.sleep(0.05)
        return super().track(image, origin, raw)


if __name__ == "__main__":
    extraction = SessionExtraction(open_depth_video(sys.argv[1]), tracker=SlowTracker())
    extraction.run(InMemoryResultsWriter(), progress=False, workers="processes", n_jobs=2)
"""


def _descendants(pid):
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError):
                continue
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree - {pid}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_the_workers_end_when_the_extraction_is_killed(recording, tmp_path):
    script = tmp_path / "slow_extraction.py"
    script.write_text(_SLOW_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), str(recording)])
    deadline = time.monotonic() + 60
    workers = set()
    while len(workers) < 3 and time.monotonic() < deadline:  # the fork server and 2 workers
        time.sleep(0.2)
        workers = _descendants(process.pid)
    assert len(workers) >= 3, "the worker processes did not start"
    process.kill()  # as `kill -9` or the out-of-memory killer: no chance to stop them
    process.wait()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    for pid in left:  # so that a failure here leaves nothing running behind the tests
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes {left} outlived the extraction"
