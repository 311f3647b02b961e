"""Many sessions: discovery, parallel and distributed extraction, index and aggregate.

.. code-block:: python

    from depthextractors.batch import find_sessions, run_batch
    from depthextractors.config import ExtractionConfig

    sessions = find_sessions("/data/moseq")                     # depth.dat, .avi, .mkv, ...
    summary = run_batch(sessions, ExtractionConfig.from_yaml("config.yaml"), n_jobs=2)
    table = summary.format_table()   # one row per session: status, time, message

On a cluster, pass ``scheduler_address="tcp://host:8786"`` or ``cluster=`` any Dask cluster
object (``distributed.LocalCluster``; for SLURM, ``dask_jobqueue.SLURMCluster``; see
:mod:`depthextractors.batch.runner` and ``docs/batch.md``).
"""

from ..workflow import (
    LOG_NAME,
    REPORT_NAME,
    SessionOutcome,
    default_output_dir,
    extract_session,
    results_status,
)
from .discovery import DEFAULT_EXTENSIONS, Session, find_sessions
from .index import aggregate_results, build_file_name, find_extractions, generate_index
from .runner import BatchSummary, run_batch, run_session_task

__all__ = [
    "DEFAULT_EXTENSIONS",
    "LOG_NAME",
    "REPORT_NAME",
    "BatchSummary",
    "Session",
    "SessionOutcome",
    "aggregate_results",
    "build_file_name",
    "default_output_dir",
    "extract_session",
    "find_extractions",
    "find_sessions",
    "generate_index",
    "results_status",
    "run_batch",
    "run_session_task",
]
