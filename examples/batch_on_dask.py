"""Batch extraction of several sessions on a Dask distributed cluster, then the moseq2 index.

Every session becomes one task on the cluster; there is no scheduler of our own. Here the
cluster is a ``distributed.LocalCluster`` inside this process (one worker, threads), so the
example runs anywhere; on a real cluster pass any cluster object instead, e.g. dask-jobqueue's
``SLURMCluster`` (see docs/batch.md), or ``scheduler_address="tcp://host:8786"``.

The batch is resumable: run it again and completed sessions are skipped.

Run it with ``python examples/batch_on_dask.py [data_folder]``; without an argument it makes
three small synthetic sessions (150 frames each) in a temporary folder, one of them broken, to
show that a failing session is reported without stopping the others. Needs the ``dask`` extra:
``pip install 'depthextractors[dask]'``.
"""

import sys
import tempfile
from pathlib import Path

from distributed import LocalCluster

from depthextractors.batch import find_sessions, generate_index, run_batch
from depthextractors.config import ExtractionConfig


def main(data: Path) -> None:
    sessions = find_sessions(data)
    print(f"found {len(sessions)} sessions: {[session.name for session in sessions]}")
    # moseq2-extract's config keys; the preview movie and the report are left out to be quick.
    config = ExtractionConfig(chunk_size=100, write_movie=False, write_report=False)

    with LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as cluster:
        summary = run_batch(sessions, config, cluster=cluster, progress=False)
        print(summary.format_table())
        # Running again skips the completed sessions (and would retry the failed one).
        again = run_batch(sessions, config, cluster=cluster, progress=False)
        print(f"second run: {again.counts()}")

    print(
        f"failed: {[outcome.name for outcome in summary.failed]} "
        f"(the batch command exits with 1 when a session failed)"
    )
    index, count = generate_index(data, data / "moseq2-index.yaml")
    print(f"{index.name} lists {count} completed extractions (moseq2-pca's input)")


def make_sessions(data: Path) -> None:
    from depthextractors.testing import generate_synthetic_session

    for number, seed in enumerate((10, 12)):
        generate_synthetic_session(data / f"session_{number}", 150, seed=seed)
    broken = data / "session_broken"
    broken.mkdir()
    (broken / "depth.dat").write_bytes(b"\x00" * 1001)  # less than one frame


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            make_sessions(Path(folder))
            main(Path(folder))
