"""The documentation site builds with MkDocs in strict mode: any warning fails the build.

Strict mode rejects broken links between pages, missing pages, pages left out of the
navigation, docstrings mkdocstrings cannot parse and commands mkdocs-click cannot render.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=environment,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "WARNING" not in completed.stderr, completed.stderr
    # The generated pages have content: every command, the API of the main classes.
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("extract", "find-roi", "batch-extract", "export-nwb", "--bg-roi-depth-range"):
        assert command in cli, f"the CLI reference lacks {command}"
    api = (site / "api" / "extractors" / "index.html").read_text(encoding="utf-8")
    assert "RawDepthExtractor" in api
    assert "get_video" in api
    changelog = (site / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Unreleased" in changelog
