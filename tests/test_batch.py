"""batch-extract: discovery, local processes, a real Dask LocalCluster, resume, failures;
generate-index and aggregate-results."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml
from click.testing import CliRunner

from depthextractors import read_results
from depthextractors.batch import (
    aggregate_results,
    build_file_name,
    find_sessions,
    generate_index,
    results_status,
    run_batch,
)
from depthextractors.cli import main
from depthextractors.config import ExtractionConfig
from depthextractors.testing import generate_synthetic_session

NUM_SESSIONS = 6
FRAMES = 150


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Six small synthetic sessions (session_0 ... session_5), generated once."""
    root = tmp_path_factory.mktemp("recordings")
    for k in range(NUM_SESSIONS):
        generate_synthetic_session(root / f"session_{k}", FRAMES, seed=10 + k)
    return root


def linked_copy(source: Path, target: Path) -> Path:
    """A copy of a recordings tree whose files are hard links (inputs are only read)."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def statuses(summary_file: Path) -> dict[str, str]:
    rows = [line.split("\t") for line in summary_file.read_text().splitlines()[1:]]
    return {row[0]: row[1] for row in rows}


def test_find_sessions_rules(tmp_path):
    for name in ("a/depth.dat", "a/depth.avi", "a/ir.avi", "a/depth_ts.txt", "b/ir.dat",
                 "c/rec.mkv", "c/other.bag", "d/session_9.tar.gz", "d/.depth.avi.partial",
                 "e/depth.dat", "e/proc/depth.dat", "f/results_00.h5", "f/depth.dat"):  # fmt: skip
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    found = {s.name: s for s in find_sessions(tmp_path)}
    assert sorted(found) == ["a", "c/other", "c/rec", "d/session_9", "e"]
    assert found["a"].input_file.name == "depth.dat"  # raw wins over its converted .avi
    assert found["a"].output_dir == tmp_path / "a" / "proc"
    assert found["c/rec"].output_dir == tmp_path / "c" / "rec" / "proc"
    assert found["d/session_9"].output_dir == tmp_path / "d" / "session_9" / "proc"
    only_bags = find_sessions(tmp_path, extensions=(".bag",))
    assert [s.name for s in only_bags] == ["c"]
    assert only_bags[0].output_dir == tmp_path / "c" / "proc"


def test_batch_with_two_local_processes_then_a_rerun_skips_all(recordings, tmp_path):
    root = linked_copy(recordings, tmp_path / "local")
    result = cli("batch-extract", root, "--n-jobs", 2)
    assert result.exit_code == 0, result.output
    summary = root / "batch-summary.tsv"
    assert statuses(summary) == {f"session_{k}": "extracted" for k in range(NUM_SESSIONS)}
    assert f"{NUM_SESSIONS} sessions" in result.output
    assert "6 extracted" in result.output
    for k in range(NUM_SESSIONS):
        proc = root / f"session_{k}" / "proc"
        assert results_status(proc) == "complete"
        assert len(read_results(proc)) == FRAMES
        for name in ("results_00.mp4", "report.html", "extract.log"):
            assert (proc / name).is_file(), (k, name)
    mtimes = {k: (root / f"session_{k}/proc/results_00.h5").stat().st_mtime_ns for k in range(6)}
    start = time.perf_counter()
    again = cli("batch-extract", root, "--n-jobs", 2)
    assert again.exit_code == 0, again.output
    assert statuses(summary) == {f"session_{k}": "skipped" for k in range(NUM_SESSIONS)}
    assert "6 skipped" in again.output
    assert time.perf_counter() - start < 60
    for k, mtime in mtimes.items():
        assert (root / f"session_{k}/proc/results_00.h5").stat().st_mtime_ns == mtime


def test_batch_on_a_dask_local_cluster_with_one_corrupt_session(recordings, tmp_path):
    distributed = pytest.importorskip("distributed")
    root = linked_copy(recordings, tmp_path / "dask")
    corrupt = root / "session_corrupt"
    corrupt.mkdir()
    (corrupt / "depth.dat").write_bytes(b"\x01" * 1001)  # not a whole Kinect frame
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as cluster:
        result = cli("batch-extract", root, "--scheduler-address", cluster.scheduler_address)
    assert result.exit_code == 1, result.output
    table = statuses(root / "batch-summary.tsv")
    assert table.pop("session_corrupt") == "failed"
    assert table == {f"session_{k}": "extracted" for k in range(NUM_SESSIONS)}
    assert "session_corrupt" in result.output.splitlines()[-1]  # the error line names it
    assert "1 of 7 sessions failed" in result.output
    log = (corrupt / "proc" / "extract.log").read_text()
    assert "Traceback" in log
    assert "less than one frame" in log
    for k in range(NUM_SESSIONS):
        assert results_status(root / f"session_{k}" / "proc") == "complete"


def test_the_report_is_written_under_the_extractions_opencv_thread_limits(
    tmp_path, monkeypatch
):
    """A batch's threads set OpenCV's thread count as sessions enter and leave their
    extraction, and one set while an OpenCV call runs on another thread can kill the process:
    the report's PNG encoding died of a floating point exception while a second session's
    arena step began. The report (and the cautions it holds) is written under the same
    counted limits as the extraction and the arena step."""
    from depthextractors.extraction import executor
    from depthextractors.io import report
    from depthextractors.workflow import extract_session

    users_while_writing = []
    write_report = report.write_report

    def recording(*args, **kwargs):
        users_while_writing.append(executor._limits_users)
        return write_report(*args, **kwargs)

    monkeypatch.setattr(report, "write_report", recording)
    generate_synthetic_session(tmp_path / "session", 60, seed=3)
    config = ExtractionConfig(write_movie=False)
    assert extract_session(tmp_path / "session", tmp_path / "proc", config).status == "extracted"
    assert users_while_writing == [1]
    assert executor._limits_users == 0


def test_a_session_killed_midway_is_completed_by_the_rerun(tmp_path):
    distributed = pytest.importorskip("distributed")
    session = tmp_path / "root" / "long_session"
    generate_synthetic_session(session, 900, seed=4)
    proc = session / "proc"
    process = subprocess.Popen(
        [sys.executable, "-m", "depthextractors", "extract", str(session), "--chunk-size", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    def partials():
        return list(proc.glob("results_00.h5.*.partial")) if proc.is_dir() else []

    while not partials() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert partials(), "the extraction never started writing"
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert results_status(proc) == "running"  # a crash leaves nothing that looks complete
    assert not (proc / "results_00.h5").exists()
    sessions = find_sessions(tmp_path / "root")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        summary = run_batch(sessions, ExtractionConfig(), cluster=cluster, progress=False)
    assert [o.status for o in summary.outcomes] == ["extracted"]
    assert results_status(proc) == "complete"
    assert len(read_results(proc)) == 900
    assert not partials()
    assert "restarting an interrupted" in (proc / "extract.log").read_text()
    rerun = run_batch(sessions, ExtractionConfig(), progress=False)
    assert [o.status for o in rerun.outcomes] == ["skipped"]


def test_missing_movie_is_made_from_the_results_on_rerun(recordings, tmp_path):
    root = linked_copy(recordings, tmp_path / "movie")
    sessions = [s for s in find_sessions(root) if s.name == "session_0"]
    first = run_batch(sessions, ExtractionConfig(write_report=False), progress=False)
    assert first.ok
    movie = root / "session_0" / "proc" / "results_00.mp4"
    movie.unlink()
    again = run_batch(sessions, ExtractionConfig(), progress=False)
    assert [o.status for o in again.outcomes] == ["completed"]
    assert movie.is_file()
    assert (root / "session_0" / "proc" / "report.html").is_file()


def test_generate_index_and_aggregate_results(recordings, tmp_path):
    root = linked_copy(recordings, tmp_path / "agg")
    sessions = [s for s in find_sessions(root) if s.name in ("session_0", "session_1")]
    assert run_batch(sessions, ExtractionConfig(write_movie=False), progress=False).ok
    # An interrupted extraction is never indexed or aggregated.
    broken = root / "session_2" / "proc"
    broken.mkdir()
    shutil.copy(root / "session_0" / "proc" / "results_00.h5", broken / "results_00.h5")
    (broken / "results_00.yaml").write_text("status: running\ncomplete: false\n")

    index_file = tmp_path / "moseq2-index.yaml"
    result = cli("generate-index", "-i", root, "-o", index_file)
    assert result.exit_code == 0, result.output
    assert "Warning: " in result.output
    assert "session_2/proc/results_00.h5 is not a complete extraction" in result.output
    index = yaml.safe_load(index_file.read_text())
    assert index["pca_path"] == ""
    assert len(index["files"]) == 2
    names = sorted(entry["metadata"]["SessionName"] for entry in index["files"])
    assert names == ["synthetic-round-10", "synthetic-round-11"]
    for entry in index["files"]:
        h5, status = (Path(p) for p in entry["path"])
        assert h5.is_file()
        assert status.is_file()
        assert entry["group"] == "default"
        with h5py.File(h5) as handle:
            assert handle["metadata/uuid"][()].decode() == entry["uuid"]

    out = tmp_path / "aggregate"
    result = cli("aggregate-results", "-i", root, "-o", out, "-f", "{SessionName}_{SubjectName}")
    assert result.exit_code == 0, result.output
    expected = {"synthetic-round-10_synthetic-mouse-10_results_00",
                "synthetic-round-11_synthetic-mouse-11_results_00"}  # fmt: skip
    assert {p.stem for p in out.glob("*.h5")} == expected
    assert {p.stem for p in out.glob("*.yaml")} == expected
    aggregated_index = yaml.safe_load((root / "moseq2-index.yaml").read_text())
    assert {Path(e["path"][0]).parent for e in aggregated_index["files"]} == {out.resolve()}
    # Idempotent: a second run copies nothing new and keeps the same files.
    again = cli("aggregate-results", "-i", root, "-o", out, "-f", "{SessionName}_{SubjectName}")
    assert again.exit_code == 0, again.output
    assert {p.stem for p in out.glob("*.h5")} == expected


def test_build_file_name_as_moseq2():
    metadata = {"SessionName": "Open Field", "SubjectName": "MouseOne",
                "StartTime": "2026-01-01T10:20:30.123+00:00"}  # fmt: skip
    assert build_file_name(metadata, "{start_time}_{session_name}_{subject_name}") == (
        "2026-01-01_10-20-30_open-field_mouse_one"
    )
    assert build_file_name(metadata, "{SessionName}_{SubjectName}", snake_case=False) == (
        "Open-Field_MouseOne"
    )
    with pytest.raises(KeyError):
        build_file_name(metadata, "{cage}")


def test_generate_index_counts_each_uuid_once(recordings, tmp_path):
    root = linked_copy(recordings, tmp_path / "idx")
    sessions = [s for s in find_sessions(root) if s.name == "session_3"]
    assert run_batch(sessions, ExtractionConfig(write_movie=False, write_report=False),
                     progress=False).ok  # fmt: skip
    copy = root / "copy"
    copy.mkdir()
    for name in ("results_00.h5", "results_00.yaml"):
        shutil.copy(root / "session_3" / "proc" / name, copy / name)
    _path, count = generate_index(root, tmp_path / "index.yaml")
    assert count == 1
    copied, _ = aggregate_results(root, "{SessionName}", tmp_path / "agg")
    assert len({p.name for p in copied}) == 1
