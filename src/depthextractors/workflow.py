"""One session from recording to outputs: extraction, preview movie, report, optional ``.avi``.

:func:`extract_session` is what ``depthextractors extract`` runs, and what every worker of
``batch-extract`` runs for each session. It builds the pipeline from an
:class:`~depthextractors.config.ExtractionConfig`, gives it its writers (``results_00.h5`` and
the preview movie, fed the same chunks), then writes the report. It is idempotent and
resumable:

- it holds the output directory's lock (:class:`~depthextractors.io.output_dir.OutputLock`)
  from before it touches anything there until it is done: a second extraction into the same
  directory stops at once, naming the first; the lock of a run that died is taken over;
- a session counts as done only when ``results_00.yaml`` says ``complete`` **and**
  ``results_00.h5`` exists (the HDF5 writer renames the file into place before it writes
  ``complete``, so a crash never leaves a complete-looking result);
- an interrupted output (``status: running`` or ``failed``, or a ``.partial`` file) is
  restarted from the beginning;
- complete results are never replaced silently: without ``skip_completed`` they are
  extracted again with a warning naming their uuid (as moseq2-extract re-extracts); with it
  they are kept — unless they cannot be read, their two files come from different runs, or
  they were made with other parameters, which one line says before extracting again — and a
  preview movie or report that is missing (a crash after the results were complete) is made
  from ``results_00.h5``.

Where the results go: :mod:`depthextractors.session_outputs`. Each run appends to
``extract.log`` in the output directory: the input, the parameters, the warnings and, on
failure, the traceback.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import ExtractionConfig
from .io.output_dir import OutputLock, check_writable
from .session_outputs import (
    LOG_NAME,
    REPORT_NAME,
    RESULTS_H5,
    RESULTS_YAML,
    default_output_dir,
    reason_to_extract_again,
    resolve_output_dir,
    results_status,
)

__all__ = [
    "LOG_NAME",
    "REPORT_NAME",
    "RESULTS_H5",
    "RESULTS_YAML",
    "SessionOutcome",
    "default_output_dir",
    "extract_session",
    "resolve_output_dir",
    "results_status",
    "session_log",
]

logger = logging.getLogger(__name__)
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
# Files a run writes under a name of its own until complete: left over, they are of runs that
# died (the lock says no other run is writing).
_PARTIAL_PATTERNS = (
    "results_00.h5*.partial", "results_00.mp4*.partial", "report.html*.partial",
    "*.tiff*.partial", "report/*.partial",
)  # fmt: skip


@dataclass
class SessionOutcome:
    """What happened to one session.

    Attributes
    ----------
    name : str
        Short name of the session (its directory or archive name).
    input_file : pathlib.Path
        The recording.
    output_dir : pathlib.Path
        Where its results are.
    status : str
        ``extracted`` (ran now), ``skipped`` (was complete), ``completed`` (was complete; a
        missing movie or report was made) or ``failed``.
    num_frames : int
        Frames in the results (0 when failed).
    seconds : float
        Wall time spent, seconds.
    message : str
        One line: the error for a failed session, else a short summary.
    log_file : pathlib.Path or None
        The session's log.
    outputs : dict
        Paths of what was written (``results``, ``movie``, ``report``, ``avi``).
    """

    name: str
    input_file: Path
    output_dir: Path
    status: str
    num_frames: int = 0
    seconds: float = 0.0
    message: str = ""
    log_file: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the session has complete results now."""
        return self.status != "failed"


# ---------------------------------------------------------------------------------- logging
_capture_lock = threading.Lock()
_capture_count = 0
_saved: dict[str, int] = {}


class _ThreadFilter(logging.Filter):
    """Keep the records of one thread (sessions may share a process on a threaded worker)."""

    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread_id


class _LogFileHandler(logging.FileHandler):
    """The session's log file; a log that cannot be written (a full disk) is given up quietly.

    logging's own handler prints a traceback on stderr for every record it cannot write; the
    error that matters (the results could not be written either) is reported by the run.
    """

    def handleError(self, record: logging.LogRecord) -> None:
        self.setLevel(logging.CRITICAL + 1)


@contextmanager
def session_log(path: str | os.PathLike | None) -> Iterator[logging.Logger]:
    """Append this thread's depthextractors log records and warnings to ``path``.

    Yields the logger to write session messages to. Warnings raised with :mod:`warnings` are
    routed through logging while the block runs, so they land in the file too. Only records of
    the calling thread are kept, so sessions running in threads of one process (a threaded
    Dask worker) keep separate logs; messages of the extraction's own worker threads are not
    in the file.

    Parameters
    ----------
    path : path-like or None
        The log file (appended to); ``None`` logs nowhere but still yields a logger.

    Yields
    ------
    logging.Logger
    """
    global _capture_count
    session_logger = logging.getLogger("depthextractors.session")
    if path is None:
        yield session_logger
        return
    handler = _LogFileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.setLevel(logging.INFO)
    handler.addFilter(_ThreadFilter(threading.get_ident()))
    package = logging.getLogger("depthextractors")
    targets = [package, logging.getLogger("py.warnings")]
    for target in targets:
        target.addHandler(handler)
    with _capture_lock:
        # Process-wide settings, shared by sessions running in threads of one worker: set by
        # the first session to start, restored by the last to finish.
        if _capture_count == 0:
            _saved["level"] = package.level
            if package.getEffectiveLevel() > logging.INFO:
                package.setLevel(logging.INFO)
            logging.captureWarnings(True)
        _capture_count += 1
    try:
        yield session_logger
    finally:
        with _capture_lock:
            _capture_count -= 1
            if _capture_count == 0:
                logging.captureWarnings(False)
                package.setLevel(_saved.get("level", logging.NOTSET))
        for target in targets:
            target.removeHandler(handler)
        handler.close()


# ---------------------------------------------------------------------------------- session
def _name(input_file: Path) -> str:
    name = input_file.name
    lowered = name.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    if input_file.is_dir():
        return name
    place = default_output_dir(input_file).parent
    if place != input_file.parent:  # a second recording of its directory
        return f"{input_file.parent.name}/{place.name}"
    return input_file.parent.name or input_file.stem


def _finish_outputs(
    input_file: Path,
    output_dir: Path,
    config: ExtractionConfig,
    results: Any,
    progress: bool,
    log: logging.Logger,
    outputs: dict[str, Path],
    movie_failed: bool = False,
) -> None:
    """Preview movie (if missing and not just failed), report, and the optional .avi of a raw
    recording."""
    from .extraction.executor import worker_thread_limits
    from .io.movie import MOVIE_NAME
    from .io.movie_writer import write_preview_movie

    # The movie and the report call OpenCV on this thread: changing OpenCV's thread count
    # (a batch's other session entering or leaving its extraction) while one of its parallel
    # calls runs here kills the process, so they run under the same limits as the extraction.
    with worker_thread_limits():
        movie = output_dir / MOVIE_NAME
        if config.write_movie and not movie.is_file() and not movie_failed:
            log.info("making the preview movie from %s", output_dir / RESULTS_H5)
            try:
                video = config.open_video(input_file)
                outputs["movie"] = write_preview_movie(results, video, movie)
            except Exception as error:
                log.warning("the preview movie could not be written: %s", error)
        elif movie.is_file():
            outputs["movie"] = movie
        if config.write_report:
            report = output_dir / REPORT_NAME
            try:
                from .io.report import write_report

                outputs["report"] = write_report(results, output_dir)
            except Exception as error:
                log.warning("the report could not be written: %s", error, exc_info=True)
                if report.is_file():
                    outputs["report"] = report
        # The report puts these at its top; the log and the terminal say them too, for whoever
        # does not open it. Like the report, they never fail the extraction that is written.
        try:
            from .io.report import cautions

            found = cautions(results)
        except Exception as error:
            log.warning("the cautions could not be checked: %s", error, exc_info=True)
            found = []
        for caution in found:
            log.warning("accuracy at risk: %s", caution, extra={"names_keys": True})
    if config.compress and input_file.suffix.lower() == ".dat":
        avi = input_file.with_suffix(".avi")
        if avi.exists():
            log.info("%s exists; not converting %s again", avi, input_file.name)
        else:
            from .extractors.writers import convert_raw_to_avi

            outputs["avi"] = convert_raw_to_avi(
                input_file,
                avi,
                chunk_size=config.compress_chunk_size,
                threads=config.compress_threads,
                progress=progress,
            )


def extract_session(
    input_file: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    config: ExtractionConfig | None = None,
    *,
    progress: bool = False,
    skip_completed: bool = False,
    n_jobs: int | None = None,
    log_file: bool = True,
    name: str | None = None,
) -> SessionOutcome:
    """Extract one session: ``results_00.h5``, the preview movie and the report.

    Parameters
    ----------
    input_file : path-like
        The recording (``depth.dat``, ``.avi``, ``.mkv``, ``.bag``, ``.tar.gz``) or its
        session directory.
    output_dir : path-like, optional
        Results directory; :func:`default_output_dir` (``proc`` beside the recording) when not
        given; a relative one is taken from the recording's place (:func:`resolve_output_dir`).
    config : ExtractionConfig, optional
        Parameters; moseq2-extract's defaults when not given.
    progress : bool, default False
        Show progress bars.
    skip_completed : bool, default False
        Keep complete results made with these parameters (only a missing movie or report is
        made). Without it, complete results are extracted again, with a warning naming them.
    n_jobs : int, optional
        Threads of the extraction; by default
        :func:`~depthextractors.extraction.executor.default_threads` (1 on a machine with 2
        CPUs, up to 4 on larger ones).
    log_file : bool, default True
        Append the session's log to ``extract.log`` in ``output_dir``.
    name : str, optional
        Name shown in summaries; the session directory's name by default.

    Returns
    -------
    SessionOutcome

    Raises
    ------
    OutputBusyError
        If another extraction is writing into ``output_dir`` (nothing is touched).
    Exception
        Whatever the extraction raises (the log file gets the traceback first); batch runs
        catch it per session.
    """
    start = time.perf_counter()
    input_file = Path(input_file)
    config = config if config is not None else ExtractionConfig()
    if not input_file.exists():
        raise FileNotFoundError(f"{input_file} does not exist")
    output_dir, name = resolve_output_dir(input_file, output_dir), name or _name(input_file)
    check_writable(output_dir)
    lock = OutputLock(output_dir).acquire(quiet=True)
    try:
        _remove_partial_files(output_dir)
        log_path = output_dir / LOG_NAME if log_file else None
        with session_log(log_path) as log:
            log.info("session %s: %s -> %s", name, input_file, output_dir)
            for message in filter(None, [lock.takeover_message()]):
                log.warning("%s", message)
            try:
                outcome = _extract_or_keep(
                    input_file, output_dir, config, progress, skip_completed, n_jobs, log, lock
                )
            except BaseException as error:
                # The traceback goes to the log file only; the terminal gets the error once.
                log.error(
                    "failed: %s: %s\n%s", type(error).__name__, error, traceback.format_exc(),
                    extra={"file_only": True},
                )  # fmt: skip
                raise
    finally:
        lock.release()
    status, count, message, outputs = outcome
    return SessionOutcome(
        name, input_file, output_dir, status, count, time.perf_counter() - start, message,
        log_path, outputs,
    )  # fmt: skip


def _remove_partial_files(output_dir: Path) -> None:
    for pattern in _PARTIAL_PATTERNS:
        for stale in output_dir.glob(pattern):
            with suppress(OSError):
                stale.unlink()


def _extract_or_keep(
    input_file: Path,
    output_dir: Path,
    config: ExtractionConfig,
    progress: bool,
    skip_completed: bool,
    n_jobs: int | None,
    log: logging.Logger,
    lock: OutputLock,
) -> tuple[str, int, str, dict[str, Path]]:
    """Keep complete results or extract; ``(status, frames, message, outputs)``."""
    start = time.perf_counter()
    outputs: dict[str, Path] = {}
    status = results_status(output_dir)
    if status == "complete":
        reason = reason_to_extract_again(output_dir, config) if skip_completed else None
        if skip_completed and reason is None:
            count, outcome = _complete(input_file, output_dir, config, progress, log, outputs)
            outputs = {"results": output_dir / RESULTS_H5, **outputs}
            return outcome, count, "already extracted", outputs
        if reason is not None:
            log.warning("extracting %s again: %s", output_dir, reason)
        else:
            log.warning(
                "%s holds complete results (%s); extracting again replaces them "
                "(skip_completed=True keeps them)", output_dir, _describe_results(output_dir),
            )  # fmt: skip
    elif status in ("running", "failed"):
        log.info("restarting an interrupted or failed extraction (status: %s)", status)
    results, movie_failed = _run_extraction(
        input_file, output_dir, config, progress, n_jobs, log, lock
    )
    outputs["results"] = output_dir / RESULTS_H5
    _finish_outputs(input_file, output_dir, config, results, progress, log, outputs, movie_failed)
    seconds = time.perf_counter() - start
    valid = float(results.valid.mean()) if len(results) else 0.0
    message = f"{len(results)} frames, {100 * valid:.1f}% with the animal"
    log.info("done in %.1f s: %s", seconds, message)
    return "extracted", len(results), message, outputs


def _describe_results(output_dir: Path) -> str:
    """``uuid 4895e640-..., extracted 2026-01-01 10:20`` of complete results."""
    from .io.results_h5 import status_uuid

    uuid = status_uuid(output_dir / RESULTS_YAML) or "unknown"
    with suppress(OSError):
        made = time.localtime((output_dir / RESULTS_H5).stat().st_mtime)
        return f"uuid {uuid}, extracted {time.strftime('%Y-%m-%d %H:%M', made)}"
    return f"uuid {uuid}"


def _complete(
    input_file: Path,
    output_dir: Path,
    config: ExtractionConfig,
    progress: bool,
    log: logging.Logger,
    outputs: dict[str, Path],
) -> tuple[int, str]:
    """Make what complete results lack (movie, report; added to ``outputs``); their frame
    count and the outcome: ``completed`` if something was made, else ``skipped``."""
    from .io import read_results

    results = read_results(output_dir)
    before = {p.name for p in output_dir.iterdir()}
    _finish_outputs(input_file, output_dir, config, results, progress, log, outputs)
    made = {p.name for p in output_dir.iterdir()} - before
    log.info("results are complete; %s", f"made {sorted(made)}" if made else "skipped")
    return len(results), "completed" if made else "skipped"


def _run_extraction(
    input_file: Path,
    output_dir: Path,
    config: ExtractionConfig,
    progress: bool,
    n_jobs: int | None,
    log: logging.Logger,
    lock: OutputLock,
) -> tuple[Any, bool]:
    """The extraction's results, and whether its preview movie failed."""
    from .io.movie import MOVIE_NAME
    from .io.movie_writer import PreviewMovieWriter
    from .io.results_h5_writer import H5ResultsWriter

    video = config.open_video(input_file)
    log.info("recording: %r, camera %s", video, video.camera.name)
    _check_fps(config, video, log)
    log.info("parameters:\n%s", yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())
    writers: list[Any] = [H5ResultsWriter(output_dir, lock=lock)]
    movie = PreviewMovieWriter(output_dir / MOVIE_NAME) if config.write_movie else None
    if movie is not None:
        writers.append(movie)
    else:
        (output_dir / MOVIE_NAME).unlink(missing_ok=True)  # an old movie would not match
    extraction = config.build_extraction(video)
    arena = extraction.find_roi()
    log.info(
        "arena: %d pixels, true depth %.1f mm", int(arena.roi.mask.sum()), arena.roi.true_depth
    )
    extraction = _follow_animal(config, video, extraction, log)
    try:
        options = (
            {"progress": progress} if n_jobs is None else {"n_jobs": n_jobs, "progress": progress}
        )
        results = extraction.run(writers, job=config.job_options(**options))
    except BaseException:
        # The movie may be finished before the results fail: it must not outlive them.
        (output_dir / MOVIE_NAME).unlink(missing_ok=True)
        raise
    return results, movie is not None and movie.error is not None


def _follow_animal(
    config: ExtractionConfig, video: Any, extraction: Any, log: logging.Logger
) -> Any:
    """The extraction with its size-dependent settings following the animal (``animal``).

    ``mouse`` keeps moseq2's settings, and warns when the measured animal is too narrow for
    its tail filter; ``rat`` and ``auto`` change the keys still at moseq2's defaults
    (:func:`~depthextractors.extraction.animal_size.size_changes`), and the results record
    the values used.
    """
    from .extraction.animal_size import (
        AnimalSizeWarning,
        filter_may_erase,
        preset_size,
        size_changes,
    )

    arena = extraction.arena
    measured = arena.animal
    if measured is not None:
        log.info("animal: %s", measured.describe())
    if config.animal == "mouse":
        tail = config.tail_filter_size[0]
        if measured is not None and filter_may_erase(
            measured.width_px, config.tail_filter_size, config.tail_filter_iters
        ):
            warnings.warn(
                f"the animal is about {measured.width_px:.0f} pixels wide and the tail filter "
                f"({tail}x{tail} px, tail_filter_size) may erase it; set animal: auto to size "
                "the filters for it, or a smaller tail_filter_size",
                AnimalSizeWarning,
                stacklevel=2,
            )
        return extraction
    if config.animal == "rat":
        size = preset_size("rat", video.camera, arena.roi.true_depth)
    elif measured is None:
        warnings.warn(
            "animal: auto could not measure the animal (fewer than 5 of the sampled frames "
            "showed one); moseq2's mouse settings are used",
            AnimalSizeWarning,
            stacklevel=2,
        )
        return extraction
    else:
        size = measured
    changes = size_changes(config, size)
    log.info("animal: %s settings: %s", config.animal, changes or "moseq2's (no change)")
    if not changes:
        return extraction
    sized = config.updated(changes, source=f"animal: {config.animal}").build_extraction(video)
    sized.arena = arena
    return sized


def _check_fps(config: ExtractionConfig, video: Any, log: logging.Logger) -> None:
    """Say so when moseq2's ``fps`` is not the recording's frame rate (it is not used here)."""
    if config.fps is None:
        return
    rate = float(video.get_sampling_frequency())
    if rate > 0 and abs(config.fps - rate) > 0.01 * rate:
        log.warning(
            "fps %g is not the recording's frame rate (%.2f Hz): times, speeds and the preview "
            "movie follow the recording's own timestamps here, so fps is ignored",
            config.fps, rate,
        )  # fmt: skip
