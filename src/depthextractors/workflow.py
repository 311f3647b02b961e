"""One session from recording to outputs: extraction, preview movie, report, optional ``.avi``.

:func:`extract_session` is what ``depthextractors extract`` runs, and what every worker of
``batch-extract`` runs for each session. It builds the pipeline from an
:class:`~depthextractors.config.ExtractionConfig`, gives it its writers (``results_00.h5`` and
the preview movie, fed the same chunks), then writes the report. It is idempotent and
resumable:

- a session counts as done only when ``results_00.yaml`` says ``complete`` **and**
  ``results_00.h5`` exists (the HDF5 writer renames the file into place before it writes
  ``complete``, so a crash never leaves a complete-looking result);
- an interrupted output (``status: running`` or ``failed``, or a ``.partial`` file) is
  restarted from the beginning;
- with ``skip_completed``, a done session is not extracted again, but a preview movie or report
  that is missing (a crash after the results were complete) is made from ``results_00.h5``.

Each run appends to ``extract.log`` in the output directory: the input, the parameters, the
warnings and, on failure, the traceback.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import ExtractionConfig

__all__ = [
    "LOG_NAME",
    "REPORT_NAME",
    "RESULTS_H5",
    "RESULTS_YAML",
    "SessionOutcome",
    "default_output_dir",
    "extract_session",
    "results_status",
    "session_log",
]

logger = logging.getLogger(__name__)

RESULTS_YAML = "results_00.yaml"
RESULTS_H5 = "results_00.h5"
REPORT_NAME = "report.html"
LOG_NAME = "extract.log"
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


def default_output_dir(input_file: str | os.PathLike) -> Path:
    """Where moseq2-extract puts a session's results: ``proc`` beside the recording.

    For an archive ``session_1.tar.gz`` it is ``session_1/proc`` beside the archive.

    Parameters
    ----------
    input_file : path-like
        The recording (or its session directory).

    Returns
    -------
    pathlib.Path
    """
    path = Path(input_file)
    if path.is_dir():
        return path / "proc"
    name = path.name.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return path.parent / path.name[: -len(suffix)] / "proc"
    return path.parent / "proc"


def results_status(output_dir: str | os.PathLike) -> str:
    """State of an output directory: ``missing``, ``running``, ``failed`` or ``complete``.

    ``complete`` needs ``results_00.yaml`` with ``complete: true`` and ``results_00.h5``
    beside it; an unreadable status file counts as ``failed`` (restart it).

    Parameters
    ----------
    output_dir : path-like
        A session's output directory.

    Returns
    -------
    str
    """
    output_dir = Path(output_dir)
    status_file = output_dir / RESULTS_YAML
    if not status_file.is_file():
        return "missing"
    try:
        with open(status_file, encoding="utf-8") as stream:
            status = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError):
        return "failed"
    if not isinstance(status, dict):
        return "failed"
    if status.get("complete") is True:
        return "complete" if (output_dir / RESULTS_H5).is_file() else "failed"
    # moseq2-extract writes complete: false while it runs and no status key.
    return "failed" if status.get("status") == "failed" else "running"


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
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
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
    return input_file.parent.name or input_file.stem


def _finish_outputs(
    input_file: Path,
    output_dir: Path,
    config: ExtractionConfig,
    results: Any,
    progress: bool,
    log: logging.Logger,
    outputs: dict[str, Path],
) -> None:
    """Preview movie (if missing), report, and the optional .avi of a raw recording."""
    from .io.movie import MOVIE_NAME, write_preview_movie

    movie = output_dir / MOVIE_NAME
    if config.write_movie and not movie.is_file():
        log.info("making the preview movie from %s", output_dir / RESULTS_H5)
        try:
            outputs["movie"] = write_preview_movie(results, config.open_video(input_file), movie)
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
    n_jobs: int = 2,
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
        given.
    config : ExtractionConfig, optional
        Parameters; moseq2-extract's defaults when not given.
    progress : bool, default False
        Show progress bars.
    skip_completed : bool, default False
        Leave a session with complete results alone (only a missing movie or report is made).
    n_jobs : int, default 2
        Threads of the extraction.
    log_file : bool, default True
        Append the session's log to ``extract.log`` in ``output_dir``.
    name : str, optional
        Name shown in summaries; the session directory's name by default.

    Returns
    -------
    SessionOutcome

    Raises
    ------
    Exception
        Whatever the extraction raises (the log file gets the traceback first); batch runs
        catch it per session.
    """
    start = time.perf_counter()
    input_file = Path(input_file)
    config = config if config is not None else ExtractionConfig()
    output_dir = Path(output_dir) if output_dir is not None else default_output_dir(input_file)
    name = name or _name(input_file)
    if not input_file.exists():
        raise FileNotFoundError(f"{input_file} does not exist")
    output_dir.mkdir(parents=True, exist_ok=True)
    log_path = output_dir / LOG_NAME if log_file else None
    outputs: dict[str, Path] = {}
    with session_log(log_path) as log:
        log.info("session %s: %s -> %s", name, input_file, output_dir)
        try:
            status = results_status(output_dir)
            if skip_completed and status == "complete":
                count, outcome = _complete(input_file, output_dir, config, progress, log, outputs)
                return SessionOutcome(
                    name, input_file, output_dir, outcome, count, time.perf_counter() - start,
                    "already extracted", log_path, {"results": output_dir / RESULTS_H5, **outputs},
                )  # fmt: skip
            if status in ("running", "failed"):
                log.info("restarting an interrupted or failed extraction (status: %s)", status)
            results = _run_extraction(input_file, output_dir, config, progress, n_jobs, log)
            outputs["results"] = output_dir / RESULTS_H5
            _finish_outputs(input_file, output_dir, config, results, progress, log, outputs)
        except BaseException as error:
            log.error("failed: %s: %s\n%s", type(error).__name__, error, traceback.format_exc())
            raise
        seconds = time.perf_counter() - start
        valid = float(results.valid.mean()) if len(results) else 0.0
        message = f"{len(results)} frames, {100 * valid:.1f}% with the animal"
        log.info("done in %.1f s: %s", seconds, message)
    return SessionOutcome(
        name, input_file, output_dir, "extracted", len(results), seconds, message, log_path,
        outputs,
    )  # fmt: skip


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
    n_jobs: int,
    log: logging.Logger,
) -> Any:
    from .io.movie import MOVIE_NAME, PreviewMovieWriter
    from .io.results_h5 import H5ResultsWriter

    video = config.open_video(input_file)
    log.info("recording: %r, camera %s", video, video.camera.name)
    log.info("parameters:\n%s", yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())
    writers: list[Any] = [H5ResultsWriter(output_dir)]
    if config.write_movie:
        writers.append(PreviewMovieWriter(output_dir / MOVIE_NAME))
    else:
        (output_dir / MOVIE_NAME).unlink(missing_ok=True)  # an old movie would not match
    extraction = config.build_extraction(video)
    arena = extraction.find_roi()
    log.info(
        "arena: %d pixels, true depth %.1f mm", int(arena.roi.mask.sum()), arena.roi.true_depth
    )
    return extraction.run(writers, job=config.job_options(n_jobs=n_jobs, progress=progress))
