"""Faults around the outputs: one writer per folder, killed runs and batches, full disks,
ranges that do not fit, and results that must be extracted again (issue 14, items 2-4, 6, 8).

Every failure must end in one ``Error:`` line (no traceback without ``--debug``), leave nothing
that looks complete, and let a rerun finish the job.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from depthextractors import read_results
from depthextractors.batch import find_sessions
from depthextractors.cli import main
from depthextractors.config import ExtractionConfig
from depthextractors.io import OutputBusyError, OutputLock, ResultsFileError, results_h5_writer
from depthextractors.testing import generate_synthetic_session
from depthextractors.workflow import extract_session, results_status

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from sessions import read_datasets  # noqa: E402

FAST = ["--no-movie", "--write-report", "false"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error: ")]


def nothing_complete_looking(proc: Path) -> None:
    assert results_status(proc) != "complete"
    assert not (proc / "results_00.h5").exists()
    assert not list(proc.glob("**/*.partial"))


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # not Linux: ask the system
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def depthextractors(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "depthextractors", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs,
    )  # fmt: skip


def names_holder(lock_file, pid: int) -> bool:
    try:
        return str(pid) in lock_file.read_text()
    except FileNotFoundError:
        return False


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("faults") / "session"
    generate_synthetic_session(directory, 300, seed=11)
    return directory


@pytest.fixture(scope="module")
def clean(session, tmp_path_factory):
    """The session extracted once, undisturbed: the datasets every rerun must reproduce."""
    out = tmp_path_factory.mktemp("clean") / "proc"
    result = cli("extract", session, "--output-dir", out, "--chunk-size", 50, *FAST)
    assert result.exit_code == 0, result.output
    return read_datasets(out / "results_00.h5")


# ---------------------------------------------------------------------------------- the lock
def test_one_lock_per_directory_names_its_holder(tmp_path):
    with OutputLock(tmp_path) as lock:
        assert lock.held
        content = yaml.safe_load((tmp_path / "extraction.lock").read_text())
        assert content["pid"] == os.getpid()
        with pytest.raises(OutputBusyError, match=f"process {os.getpid()} on host "):
            OutputLock(tmp_path).acquire()  # a second extraction in this very process too
    assert not (tmp_path / "extraction.lock").exists()
    with OutputLock(tmp_path):
        pass


def test_the_lock_of_a_killed_holder_is_taken_over_with_one_line(tmp_path, caplog):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from depthextractors.io import OutputLock; "
         f"OutputLock({str(tmp_path)!r}).acquire(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(OutputBusyError, match=f"process {holder.pid}"):
        OutputLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with caplog.at_level("WARNING", logger="depthextractors"):
        lock = OutputLock(tmp_path).acquire()
    lock.release()
    lines = [r.getMessage() for r in caplog.records if "taking over" in r.getMessage()]
    assert len(lines) == 1
    assert f"process {holder.pid} on host" in lines[0]
    assert "did not finish" in lines[0]


def test_a_second_extraction_into_the_same_folder_stops_at_once(session, tmp_path):
    out = tmp_path / "proc"
    first = depthextractors("extract", session, "--output-dir", out, "--chunk-size", 20, *FAST)
    # The lock's file is made before its holder writes who it is: wait for both.
    assert wait_for(
        lambda: names_holder(out / "extraction.lock", first.pid) and first.poll() is None
    )
    start = time.monotonic()
    second = cli("extract", session, "--output-dir", out, "--min-height", 12, *FAST)
    assert time.monotonic() - start < 5
    assert second.exit_code == 1
    errors = error_lines(second.output)
    assert len(errors) == 1, second.output
    assert "is being written by another extraction" in errors[0]
    assert f"process {first.pid} on host" in errors[0]
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    # The folder is the first run's alone: its YAML and HDF5 name the same run.
    status = yaml.safe_load((out / "results_00.yaml").read_text())
    assert status["complete"] is True
    assert status["parameters"]["min_height"] == 10
    assert read_results(out).uuid == status["uuid"]
    assert not (out / "extraction.lock").exists()


def test_yaml_and_hdf5_of_two_runs_are_refused_everywhere(session, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        result = cli("extract", session, "--output-dir", out, "--num-frames", 40, *FAST)
        assert result.exit_code == 0, result.output
    shutil.copy(b / "results_00.h5", a / "results_00.h5")  # a's YAML beside b's HDF5
    with pytest.raises(ResultsFileError, match="come from two different extractions"):
        read_results(a)
    for args in (
        ["report", a],
        ["export-nwb", a, "-o", tmp_path / "x.nwb"],
        ["generate-index", "-i", tmp_path, "-o", tmp_path / "index.yaml"],
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        errors = error_lines(result.output)
        assert len(errors) == 1, args
        assert "come from two different extractions" in errors[0], args
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.nwb").exists()


def test_results_are_marked_complete_only_for_the_run_that_made_them(session, tmp_path):
    """A status file replaced by another run meanwhile is left alone; this run gives up."""

    class Intruder(results_h5_writer.H5ResultsWriter):
        def finish(self):
            status = yaml.safe_load(self.yaml_path.read_text())
            status["uuid"] = "another-run"
            self.yaml_path.write_text(yaml.safe_dump(status))
            return super().finish()

    config = ExtractionConfig(num_frames=30, write_movie=False)
    extraction = config.build_extraction(config.open_video(session))
    with pytest.raises(OutputBusyError, match="was replaced by another extraction"):
        extraction.run(Intruder(tmp_path), progress=False)
    assert yaml.safe_load((tmp_path / "results_00.yaml").read_text())["uuid"] == "another-run"
    assert not (tmp_path / "results_00.h5").exists()
    assert not list(tmp_path.glob("*.partial"))
    assert not (tmp_path / "extraction.lock").exists()


# ---------------------------------------------------------------------------------- kills
class _Progress:
    """Follows the frames an ``extract -p`` subprocess reports on its progress bar."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.frames = -1
        self._process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        text = ""
        while chunk := self._process.stdout.read(64):
            text = (text + chunk)[-400:]
            found = re.findall(r"Extracting:.*?\| *(\d+)/\d+", text)
            if found:
                self.frames = max(self.frames, int(found[-1]))


def test_chaos_kill_at_random_moments_then_rerun_gives_the_clean_results(session, clean, tmp_path):
    """``kill -9`` of ``extract`` at five seeded moments; each rerun gives the clean results.

    Three moments are drawn among the frames of the extraction (the run is killed once its
    progress bar has passed that many), so they fall while the results are written whatever the
    load of the machine; two in time from when the run takes the folder (arena, background or
    writing).
    """
    out = tmp_path / "proc"
    args = ("extract", session, "--output-dir", out, "--chunk-size", 50, *FAST)
    rng = np.random.default_rng(14)
    moments = [("frames", int(f)) for f in rng.integers(0, 250, 3)]
    moments += [("seconds", float(t)) for t in rng.uniform(0.0, 1.5, 2)]
    interrupted = 0
    for kind, moment in [moments[0], moments[3], moments[1], moments[4], moments[2]]:
        # Every chunk shown on the progress bar (tqdm reads its defaults from the environment).
        victim = depthextractors(*args, "-p", env={**os.environ, "TQDM_MININTERVAL": "0"})
        progress = _Progress(victim)
        if kind == "frames":
            wait_for(lambda v=victim, p=progress, m=moment: p.frames >= m or v.poll() is not None)
        else:
            wait_for(lambda v=victim: (out / "extraction.lock").exists() or v.poll() is not None)
            time.sleep(moment)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        interrupted += results_status(out) == "running"
        if results_status(out) == "complete":  # killed before it began, or after it finished
            status = yaml.safe_load((out / "results_00.yaml").read_text())
            assert read_results(out).uuid == status["uuid"]
        rerun = cli(*args)
        assert rerun.exit_code == 0, (moment, rerun.output)
        assert "Traceback" not in rerun.output
        found = read_datasets(out / "results_00.h5")
        assert sorted(found) == sorted(clean)
        for name, array in clean.items():
            np.testing.assert_array_equal(found[name], array, err_msg=f"{name} after {moment}")
        assert not list(out.glob("*.partial"))
        assert not (out / "extraction.lock").exists()
    assert interrupted >= 3, "the kills should land while the results are being written"


def test_a_killed_batch_leaves_no_worker_and_the_rerun_completes(tmp_path):
    root = tmp_path / "root"
    for k in range(3):  # the smaller Azure frames: the kill, not the frame size, is tested
        generate_synthetic_session(root / f"s{k}", 900, camera="azure_nfov_binned", seed=20 + k)
    batch = depthextractors(
        "batch-extract", root, "--n-jobs", 2, "--chunk-size", 100, *FAST, start_new_session=True
    )
    locks = lambda: sorted(root.glob("s*/proc/extraction.lock"))  # noqa: E731
    assert wait_for(lambda: len(locks()) == 2 and all(p.read_text() for p in locks()), 120)
    workers = [yaml.safe_load(p.read_text())["pid"] for p in locks()]
    assert batch.pid not in workers
    assert all(alive(pid) for pid in workers)
    batch.send_signal(signal.SIGKILL)
    batch.communicate()
    assert wait_for(lambda: not any(alive(pid) for pid in workers), 5), "a worker survived"
    assert all(results_status(lock.parent) != "complete" for lock in locks())
    rerun = cli("batch-extract", root, *FAST)
    assert rerun.exit_code == 0, rerun.output
    assert "3 sessions" in rerun.output
    for k in range(3):
        assert results_status(root / f"s{k}" / "proc") == "complete"
        assert len(read_results(root / f"s{k}" / "proc")) == 900


# ---------------------------------------------------------------------------------- full disks
class _DiskFullAfter:
    """Makes the results file's writes fail with ENOSPC once ``budget`` bytes are written."""

    def __init__(self, budget: int):
        self.budget = budget

    def __call__(self, original):
        budget = self

        def write(file, data):
            size = memoryview(data).nbytes
            if file.error is None and budget.budget < size:
                file.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            budget.budget -= size
            return original(file, data)

        return write


@pytest.mark.parametrize("budget", [0, 2_000, 60_000, 200_000], ids=lambda b: f"after {b} bytes")
def test_a_full_disk_ends_in_one_line_and_leaves_nothing_complete(
    session, tmp_path, monkeypatch, budget
):
    guard = results_h5_writer._FailSafeFile
    monkeypatch.setattr(guard, "write", _DiskFullAfter(budget)(guard.write))
    out = tmp_path / "proc"
    result = cli("extract", session, "--output-dir", out, "--chunk-size", 50, *FAST)
    assert result.exit_code == 1, result.output
    errors = error_lines(result.output)
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"Error: cannot write {out / 'results_00.h5'}: No space left")
    assert "it needs up to" in errors[0]
    assert "300 frames of 80 x 80 pixels" in errors[0]
    assert "free there" in errors[0]
    assert "Traceback" not in result.output
    nothing_complete_looking(out)
    status = yaml.safe_load((out / "results_00.yaml").read_text())
    assert status["status"] == "failed"
    assert "No space left" in status["error"]
    assert not (out / "extraction.lock").exists()
    monkeypatch.undo()
    rerun = cli("extract", session, "--output-dir", out, "--chunk-size", 50, *FAST)
    assert rerun.exit_code == 0, rerun.output


def test_a_short_write_of_an_image_is_a_full_disk(session, tmp_path, monkeypatch):
    import tifffile

    def short(*args, **kwargs):
        raise OSError("217088 requested and 65416 written")

    monkeypatch.setattr(tifffile, "imwrite", short)
    out = tmp_path / "proc"
    result = cli("extract", session, "--output-dir", out, *FAST)
    assert result.exit_code == 1
    errors = error_lines(result.output)
    assert len(errors) == 1, result.output
    assert "No space left on device (65416 of 217088 bytes written)" in errors[0]
    nothing_complete_looking(out)


def _small_filesystem_command(directory: Path, size: str, command: list[str]) -> list[str] | None:
    """``command`` run with a tmpfs of ``size`` mounted on ``directory`` (None: cannot mount)."""
    script = f'mount -t tmpfs -o size={size} tmpfs "{directory}" && exec "$@"'
    if shutil.which("unshare") is None:
        return None
    # A private mount namespace (as root) or a user namespace (unprivileged): nothing outside
    # the command sees the mount, and it goes away with it.
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    probe = subprocess.run([*prefix, "sh", "-c", script, "sh", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    return [*prefix, "sh", "-c", script, "sh", *command]


@pytest.mark.parametrize("size", ["900k", "1400k", "1900k"])
def test_a_small_real_file_system_gives_one_line_and_no_crash(session, tmp_path, size):
    small = tmp_path / "small"
    small.mkdir()
    out = small / "proc"
    report = tmp_path / "after.txt"
    extract = [sys.executable, "-m", "depthextractors", "extract", str(session), "--output-dir",
               str(out), "--chunk-size", "50"]  # fmt: skip
    # What is left is listed from inside, before the private mount goes away.
    inner = [
        "sh",
        "-c",
        f'"$@"; rc=$?; ls -a "{out}" > "{report}"; '
        f'cat "{out}/results_00.yaml" >> "{report}" 2>/dev/null; exit $rc',
        "sh",
        *extract,
    ]
    command = _small_filesystem_command(small, size, inner)
    if command is None:
        pytest.skip("no tmpfs can be mounted here (the monkeypatched full disk runs anyway)")
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert all(line.startswith(("Error: ", "Warning: ")) for line in lines), completed.stderr
    left = report.read_text()
    assert ".partial" not in left
    assert "extraction.lock" not in left
    if completed.returncode == 0 and size != "900k":
        # The results fitted once the optional outputs (movie, report) gave up their space:
        # complete, and each output that could not be written named in a warning.
        assert "results_00.h5\n" in left
        assert "complete: true" in left
        assert lines, "an output did not fit, and nothing said so"
        assert all("No space left on device" in line for line in lines), completed.stderr
        return
    assert completed.returncode == 1, completed.stderr  # not 139: no crash
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, completed.stderr
    assert "No space left on device" in errors[0]
    assert "results_00.h5\n" not in left
    assert "complete: true" not in left


# ---------------------------------------------------------------------------------- ranges
def test_a_trim_that_leaves_no_frame_is_an_error_in_each_language(session):
    result = cli("extract", session, "--frame-trim", 200, 150, *FAST)
    assert result.exit_code == 2
    assert error_lines(result.output) == [
        "Error: --frame-trim 200 150 removes 350 frames but there are only 300 of the "
        "recording; trim fewer frames (at most 299 in all)"
    ]
    config = ExtractionConfig(frame_trim=(60, 60), num_frames=100)
    with pytest.raises(ValueError, match=r"frame_trim=\(60, 60\) removes 120 frames but there "
                       r"are only 100 asked for \(num_frames\)"):  # fmt: skip
        config.build_extraction(config.open_video(session))


def test_num_frames_beyond_the_recording_says_by_how_much(session, tmp_path):
    result = cli("extract", session, "--output-dir", tmp_path, "--num-frames", 500, *FAST)
    assert result.exit_code == 0, result.output
    assert (
        "Warning: --num-frames 500 is beyond the recording's 300 frames: all 300 are extracted "
        "(200 fewer than asked)" in result.output
    )
    assert len(read_results(tmp_path)) == 300


# ---------------------------------------------------------------------------------- reruns
def test_complete_results_are_replaced_with_a_warning_naming_them(session, tmp_path):
    first = cli("extract", session, "--output-dir", tmp_path, "--num-frames", 30, *FAST)
    assert first.exit_code == 0, first.output
    old = read_results(tmp_path).uuid
    again = cli("extract", session, "--output-dir", tmp_path, "--num-frames", 30, *FAST)
    assert again.exit_code == 0
    assert f"holds complete results (uuid {old}, extracted " in again.output
    assert "extracting again replaces them (--skip-completed keeps them)" in again.output
    assert read_results(tmp_path).uuid != old


def test_skip_completed_extracts_again_what_cannot_be_kept(session, tmp_path):
    args = ("extract", session, "--output-dir", tmp_path, "--num-frames", 30, *FAST)
    assert cli(*args).exit_code == 0
    kept = cli(*args, "--skip-completed")
    assert kept.exit_code == 0
    assert "already extracted" in kept.output
    assert "Warning" not in kept.output
    other = cli(*args, "--skip-completed", "--min-height", 12, "--crop-size", 64, 64)
    assert other.exit_code == 0
    assert (
        f"Warning: extracting {tmp_path} again: they were made with other parameters "
        "(--crop-size [80, 80] -> [64, 64], --min-height 10 -> 12)" in other.output
    )
    assert read_results(tmp_path).parameters["min_height"] == 12
    with h5py.File(tmp_path / "results_00.h5", "r+") as handle:
        del handle["frames"]  # a damaged file
    damaged = cli(*args, "--skip-completed", "--min-height", 12, "--crop-size", 64, 64)
    assert damaged.exit_code == 0
    assert "again: results_00.h5 cannot be read" in damaged.output
    (tmp_path / "results_00.h5").write_bytes(b"not hdf5 at all")
    garbage = cli(*args, "--skip-completed", "--min-height", 12, "--crop-size", 64, 64)
    assert garbage.exit_code == 0
    assert "again: results_00.h5 cannot be read" in garbage.output
    assert len(read_results(tmp_path)) == 30


def test_failures_print_no_traceback_and_keep_it_in_the_log(session, tmp_path):
    (tmp_path / "proc").mkdir()
    result = cli("extract", session, "--output-dir", tmp_path / "proc", "--frame-trim", 0, 300,
                 *FAST)  # fmt: skip
    assert result.exit_code == 2
    assert len(error_lines(result.output)) == 1
    assert "Traceback" not in result.output
    busy = OutputLock(tmp_path / "proc").acquire()
    try:
        outcome = cli("extract", session, "--output-dir", tmp_path / "proc", *FAST)
    finally:
        busy.release()
    assert len(error_lines(outcome.output)) == 1
    assert "Traceback" not in outcome.output


def test_sessions_of_a_batch_keep_their_own_log_of_a_failure(tmp_path):
    root = tmp_path / "root"
    generate_synthetic_session(root / "s0", 40, seed=1)
    (root / "s0" / "proc").mkdir(parents=True)
    with OutputLock(root / "s0" / "proc"):
        result = cli("batch-extract", root, *FAST)
    assert result.exit_code == 1
    assert "OutputBusyError" in result.output
    assert "Traceback" not in result.output
    [session] = find_sessions(root)
    assert extract_session(session.input_file, session.output_dir).status == "extracted"


def test_commands_reading_results_wait_for_no_one_but_refuse_a_busy_folder(session, tmp_path):
    out = tmp_path / "proc"
    assert cli("extract", session, "--output-dir", out, "--num-frames", 20, *FAST).exit_code == 0
    with OutputLock(out):
        for args in (["report", out], ["export-nwb", out, "-o", tmp_path / "x.nwb"]):
            result = cli(*args)
            assert result.exit_code == 1, result.output
            [line] = error_lines(result.output)
            assert line.startswith(
                f"Error: {out} is being written by another extraction (process {os.getpid()} on "
            )
            assert "wait for it to finish (or stop it), then run again" in result.output
    assert cli("report", out).exit_code == 0
