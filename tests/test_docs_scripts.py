"""Every Python block in README and docs/ runs when saved as a script, as a user pastes it.

A page's blocks are joined in order into one ``.py`` file and run with ``python file.py`` in a
folder holding what the pages name: a synthetic session at ``session_01/`` (2,100 frames, as
README's example slices 100-2,000) and at ``depthextractors_demo/session/``, a folder of two
sessions at ``moseq_data/`` and a ``config.yaml`` written by ``depthextractors generate-config``.
The sessions are made once; each page's folder links to their files, so what a page writes
stays in its own folder. Running the file in a new
process (not ``exec`` in the test's own) is what catches a missing ``if __name__ ==
"__main__":`` guard around process pools and names a block uses but no block defines.

A block that cannot run on a test machine (a SLURM cluster, say) is preceded in the page by
``<!-- not run: <reason> -->``; it must still be valid Python, and the reason is checked to
be there.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    path
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    if "```python" in path.read_text(encoding="utf-8")
)
BLOCK = re.compile(
    r"(<!--\s*not run:\s*(?P<reason>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.S
)
# Seconds a page's script may take on a loaded 2-core machine.
SCRIPT_TIMEOUT_S = 240


def page_blocks(page: Path) -> list[tuple[str, str | None]]:
    """``(code, reason it is not run or None)`` of each Python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [(m["code"], m["reason"]) for m in BLOCK.finditer(text)]


# What a page's script must have written, beside running without error.
EXPECTED_OUTPUTS = {
    "README.md": ["session_01/proc/results_00.h5", "session_01.nwb"],
}


@pytest.fixture(scope="module")
def sandbox_template(tmp_path_factory) -> Iterator[Path]:
    """The files the pages name, made once (each test links to them)."""
    from depthextractors.testing import generate_synthetic_session

    root = tmp_path_factory.mktemp("docs_sandbox")
    # Azure NFOV binned frames (320x288) keep README's 2,100 frames to 390 MB, quick to
    # write. The batch page extracts moseq_data/ with moseq2's mouse-sized defaults, which
    # warn (an error here) on these smaller animals: those two stay Kinect v2 sessions.
    small = "azure_nfov_binned"
    generate_synthetic_session(root / "session_01", 2_100, camera=small, seed=2)
    generate_synthetic_session(root / "depthextractors_demo" / "session", 450, camera=small)
    for k in (1, 2):
        generate_synthetic_session(root / "moseq_data" / f"session_0{k}", 300, seed=10 + k)
    made = subprocess.run(
        [sys.executable, "-c", "from depthextractors.cli import main; main()",
         "generate-config", "-o", "config.yaml"],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    yield root
    shutil.rmtree(root)  # gigabytes: not kept for pytest's last three runs


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_page_runs_as_a_script(page, sandbox_template, tmp_path):
    blocks = page_blocks(page)
    assert blocks, f"{page.name}: no Python block found"
    runnable = []
    for number, (code, reason) in enumerate(blocks, start=1):
        ast.parse(code, filename=f"{page.name} block {number}")  # even blocks not run
        if reason is None:
            runnable.append(code)
        else:
            assert len(reason) > 10, f"{page.name} block {number}: say why it is not run"
    if not runnable:
        pytest.skip(f"{page.name}: every block needs what a test machine lacks")
    folder = tmp_path / "work"
    shutil.copytree(sandbox_template, folder, copy_function=os.symlink)
    script = folder / f"{page.stem}_example.py"
    script.write_text("\n\n".join(runnable), encoding="utf-8")
    # Warnings are errors: a page's example that warns tells its reader something it does
    # not show (README's export, for one, must find every field DANDI requires). Except Dask's
    # note that its dashboard port is taken: the tests run in parallel, and another test's
    # cluster may hold it (the cluster then serves its dashboard on another port).
    result = subprocess.run(
        [sys.executable, "-W", "error::UserWarning",
         "-W", "ignore:Port 8787 is already in use:UserWarning", script.name],
        cwd=folder, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"{page.name} saved as a script failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    for name in EXPECTED_OUTPUTS.get(page.name, []):
        assert (folder / name).is_file(), f"{page.name}: the script did not write {name}"
    if page.name == "README.md":  # its example extracts frames 100-2,000
        from depthextractors import read_results

        assert len(read_results(folder / "session_01" / "proc")) == 1900
