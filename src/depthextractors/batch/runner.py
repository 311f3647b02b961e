"""Run many sessions: locally in parallel processes, or on a Dask distributed cluster.

Local runs use :class:`concurrent.futures.ProcessPoolExecutor` (``n_jobs`` sessions at a time,
each in its own process, so a crash or a memory blow-up of one never takes the others down).
Its workers are supervised: each ends at once when the batch process is gone, however it ends
(``kill -9``, a crash, a closed terminal: the operating system closes the batch's end of a
pipe every worker watches, and on Linux also sends the worker ``SIGKILL``), and an
interrupted batch (Ctrl-C) stops its workers before it returns. A session a worker was
extracting is left ``running`` (never complete-looking) and its directory's lock is released
by the system, so a rerun continues where the batch stopped.
Cluster runs submit one task per session to a ``distributed.Client`` — made from a
``scheduler_address``, or from any cluster object (``LocalCluster``, or a dask-jobqueue
``SLURMCluster`` for SLURM):

.. code-block:: python

    from dask_jobqueue import SLURMCluster
    from depthextractors.batch import find_sessions, run_batch
    from depthextractors.config import ExtractionConfig

    cluster = SLURMCluster(cores=2, processes=1, memory="4GB", walltime="02:00:00",
                           job_extra_directives=["--partition=short"])
    cluster.scale(jobs=20)                      # 20 SLURM jobs, one session at a time each
    summary = run_batch(find_sessions("/data/moseq"), ExtractionConfig.from_yaml("config.yaml"),
                        cluster=cluster)
    table = summary.format_table()   # one row per session: status, time, message

No scheduler of our own: the work is one function call per session (:func:`run_session_task`),
which never raises — a failing session becomes a ``failed`` :class:`SessionOutcome` naming the
error, and a worker that dies is reported the same way by the caller.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..config import ExtractionConfig
from ..extraction.executor import default_threads
from ..workflow import LOG_NAME, SessionOutcome, extract_session
from .discovery import Session

__all__ = ["BatchSummary", "run_batch", "run_session_task"]

logger = logging.getLogger(__name__)


def run_session_task(
    session: Session,
    config_values: dict[str, Any],
    skip_completed: bool = True,
    n_threads: int | None = 1,
    progress: bool = False,
) -> SessionOutcome:
    """Extract one session and report what happened; never raises.

    Parameters
    ----------
    session : Session
        The recording and its output directory.
    config_values : dict
        ``ExtractionConfig.to_dict()`` (a plain dict travels to any worker).
    skip_completed : bool, default True
        Leave complete results alone.
    n_threads : int or None, default 1
        Workers of this session's extraction (``n_jobs``); ``None``: the extraction's default
        (worker processes for a raw ``depth.dat``, which a daemonic worker, such as Dask's,
        cannot start: 1 keeps the extraction in one thread).
    progress : bool, default False
        Progress bar of the extraction.

    Returns
    -------
    SessionOutcome
        ``failed`` with the error's first line when anything went wrong (the traceback is in
        the session's ``extract.log``).
    """
    start = time.perf_counter()
    try:
        import warnings

        from ..config import ConfigWarning

        with warnings.catch_warnings():
            # The configuration was checked (and warned about) once, by the caller.
            warnings.simplefilter("ignore", ConfigWarning)
            config = ExtractionConfig.from_dict(dict(config_values), source="batch")
        return extract_session(
            session.input_file,
            session.output_dir,
            config,
            progress=progress,
            skip_completed=skip_completed,
            n_jobs=n_threads,
            name=session.name,
        )
    except BaseException as error:  # a session's failure must never stop the batch
        if isinstance(error, KeyboardInterrupt):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        log_file = session.output_dir / LOG_NAME
        if not log_file.is_file():
            # The failure came before the session log existed (e.g. an unreadable folder).
            try:
                session.output_dir.mkdir(parents=True, exist_ok=True)
                log_file.write_text(traceback.format_exc(), encoding="utf-8")
            except OSError:
                log_file = None
        return SessionOutcome(
            session.name, session.input_file, session.output_dir, "failed", 0,
            time.perf_counter() - start, f"{type(error).__name__}: {message}", log_file,
        )  # fmt: skip


@dataclass
class BatchSummary:
    """What happened to every session of a batch.

    Attributes
    ----------
    outcomes : list of SessionOutcome
        One per session, in the order the sessions were given.
    seconds : float
        Wall time of the batch, seconds.
    """

    outcomes: list[SessionOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[SessionOutcome]:
        """The sessions that failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        """Whether every session has complete results."""
        return not self.failed

    def counts(self) -> dict[str, int]:
        """Number of sessions per status."""
        out: dict[str, int] = {}
        for outcome in self.outcomes:
            out[outcome.status] = out.get(outcome.status, 0) + 1
        return out

    def format_table(self) -> str:
        """A plain-text table: session, status, frames, seconds, message; then totals."""
        header = ("session", "status", "frames", "time (s)", "message")
        rows = [
            (o.name, o.status, f"{o.num_frames:,}", f"{o.seconds:.1f}", o.message)
            for o in self.outcomes
        ]
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
        lines = []
        for row in [header, *rows]:
            cells = [str(row[i]).ljust(widths[i]) for i in range(4)]
            lines.append("  ".join([*cells, str(row[4])]).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths) + "  -------")
        totals = ", ".join(f"{count} {status}" for status, count in sorted(self.counts().items()))
        lines.append(f"{len(self.outcomes)} sessions in {self.seconds:.1f} s: {totals}")
        return "\n".join(lines)

    def write_tsv(self, path: str | os.PathLike) -> Path:
        """Write the table as tab-separated values (with the output directories and logs).

        Parameters
        ----------
        path : path-like
            The file to write (replaced); times are in seconds.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        columns = ("session", "status", "frames", "seconds", "output_dir", "log", "message")
        lines = ["\t".join(columns)]
        for o in self.outcomes:
            values = (
                o.name, o.status, str(o.num_frames), f"{o.seconds:.2f}", str(o.output_dir),
                str(o.log_file or ""), o.message.replace("\t", " "),
            )  # fmt: skip
            lines.append("\t".join(values))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def _threads_per_session(parallel: int) -> int | None:
    """An extraction's workers: its own default when it has the machine to itself (worker
    processes for a raw ``depth.dat``), else the default threads on its share of the CPUs."""
    if parallel <= 1:
        return None
    return default_threads(max(1, (os.cpu_count() or 1) // parallel))


def run_batch(
    sessions: Sequence[Session],
    config: ExtractionConfig | None = None,
    *,
    n_jobs: int = 1,
    client: Any = None,
    cluster: Any = None,
    scheduler_address: str | None = None,
    skip_completed: bool = True,
    progress: bool = True,
) -> BatchSummary:
    """Extract many sessions, in parallel; one failing session never stops the others.

    Parameters
    ----------
    sessions : sequence of Session
        From :func:`~depthextractors.batch.find_sessions`.
    config : ExtractionConfig, optional
        Parameters of every session; moseq2-extract's defaults when not given.
    n_jobs : int, default 1
        Sessions extracted at the same time by local processes (ignored on a cluster).
    client : distributed.Client, optional
        Run on this Dask client.
    cluster : object, optional
        A Dask cluster (``LocalCluster``, dask-jobqueue's ``SLURMCluster``, ...); a client is
        made for it and closed afterwards.
    scheduler_address : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    skip_completed : bool, default True
        Leave sessions with complete results alone; interrupted ones are restarted.
    progress : bool, default True
        Show a progress bar over sessions.

    Returns
    -------
    BatchSummary
        ``summary.failed`` lists the failed sessions; callers exit non-zero if any.
    """
    config = config if config is not None else ExtractionConfig()
    # The reading options and moseq2's fps travel with the parameters to every worker.
    values = {**config.run_options, **config.to_dict(), "fps": config.fps}
    start = time.perf_counter()
    sessions = list(sessions)
    names = [s.name for s in sessions]
    if len(set(names)) != len(names):
        raise ValueError("two sessions have the same name; give each its own directory")
    outputs = [s.output_dir.resolve() for s in sessions]
    shared = sorted({str(o) for o in outputs if outputs.count(o) > 1})
    if shared:
        raise ValueError(
            f"two sessions would write to the same output directory {shared[0]}; give each "
            "session's results directory as a name relative to its recording (output_dir=proc)"
        )
    if client is not None or cluster is not None or scheduler_address is not None:
        outcomes = _run_dask(sessions, values, skip_completed, progress, client, cluster,
                             scheduler_address)  # fmt: skip
    else:
        outcomes = _run_local(sessions, values, skip_completed, progress, max(1, int(n_jobs)))
    return BatchSummary(outcomes, time.perf_counter() - start)


def _failed(session: Session, error: BaseException) -> SessionOutcome:
    return SessionOutcome(
        session.name, session.input_file, session.output_dir, "failed", 0, 0.0,
        f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}",
        session.output_dir / LOG_NAME if (session.output_dir / LOG_NAME).is_file() else None,
    )  # fmt: skip


def _run_local(
    sessions: list[Session], values: dict, skip: bool, progress: bool, n_jobs: int
) -> list[SessionOutcome]:
    results: dict[int, SessionOutcome] = {}
    bar = tqdm(total=len(sessions), desc="Sessions", unit="session", disable=not progress)
    if n_jobs == 1:
        threads = _threads_per_session(1)
        for k, session in enumerate(sessions):
            results[k] = run_session_task(session, values, skip, threads, False)
            bar.update(1)
        bar.close()
        return [results[k] for k in range(len(sessions))]
    # "spawn": a clean interpreter per worker, the same on Linux, macOS and Windows (forking a
    # process that runs threads can deadlock).
    context = multiprocessing.get_context("spawn")
    threads = _threads_per_session(n_jobs)
    pool = ProcessPoolExecutor(
        max_workers=n_jobs, mp_context=context, initializer=_supervised_worker,
        initargs=(os.getpid(),),
    )  # fmt: skip
    try:
        futures = {
            pool.submit(run_session_task, session, values, skip, threads, False): k
            for k, session in enumerate(sessions)
        }
        for future in as_completed(futures):
            k = futures[future]
            try:
                results[k] = future.result()
            except Exception as error:  # the worker process died (killed, out of memory)
                results[k] = _failed(sessions[k], error)
            bar.update(1)
    except BaseException:
        _stop_workers(pool)  # interrupted: no worker goes on without the batch
        raise
    finally:
        bar.close()
    pool.shutdown()
    return [results[k] for k in range(len(sessions))]


#: Exit status of a worker that ended because its batch process was gone.
ORPHANED_EXIT = 70


def _supervised_worker(batch_pid: int) -> None:
    """Initializer of every local worker: end as soon as the batch process is gone.

    Ctrl-C is left to the batch process, which stops its workers itself; the workers' log
    records go to each session's ``extract.log`` only (the batch prints the summary).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("depthextractors").addHandler(logging.NullHandler())
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            # PR_SET_PDEATHSIG: the kernel kills this worker when the batch process dies.
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    parent = multiprocessing.parent_process()
    if os.getppid() != batch_pid or (parent is not None and not parent.is_alive()):
        os._exit(ORPHANED_EXIT)  # the batch died before the signal was asked for
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the batch process's end of the pipe closes: it is gone
        os._exit(ORPHANED_EXIT)

    threading.Thread(target=watch, name="depthextractors-batch-watch", daemon=True).start()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now (an interrupted batch) and wait until they are gone."""
    # The executor keeps its worker processes in _processes; it has no public way to end them.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + 5
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1)


def _run_dask(
    sessions: list[Session],
    values: dict,
    skip: bool,
    progress: bool,
    client: Any,
    cluster: Any,
    scheduler_address: str | None,
) -> list[SessionOutcome]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_as_completed
    except ImportError:
        raise ImportError(
            "running on a Dask cluster needs distributed: pip install 'depthextractors[dask]'"
        ) from None
    own_client = client is None
    if own_client:
        client = Client(cluster) if cluster is not None else Client(scheduler_address)
    try:
        futures = {}
        for k, session in enumerate(sessions):
            future = client.submit(
                run_session_task, session, values, skip, 1, False,
                key=f"depthextractors-{k}-{session.name}-{time.time_ns()}", pure=False,
            )  # fmt: skip
            futures[future] = k
        results: dict[int, SessionOutcome] = {}
        bar = tqdm(total=len(sessions), desc="Sessions", unit="session", disable=not progress)
        for future in dask_as_completed(list(futures)):
            k = futures[future]
            try:
                results[k] = future.result()
            except BaseException as error:  # KilledWorker, lost connection, ...
                results[k] = _failed(sessions[k], error)
            bar.update(1)
        bar.close()
        return [results[k] for k in range(len(sessions))]
    finally:
        if own_client:
            client.close()
