"""The README's two commands stay what CI and users run."""

from __future__ import annotations

import re

from tests.conftest import REPO, SAMPLE_CLIP


def _commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line for block in blocks[:2] for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    main_job, tests = _commands()
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [tests]
    assert "pytest" in tests and "pip install" in tests


def test_main_job_upscales_the_bundled_sample() -> None:
    main_job, _ = _commands()
    assert "sr-stream samples/traffic_4s.mp4" in main_job and "pip install" in main_job
    assert SAMPLE_CLIP.is_file() and SAMPLE_CLIP.stat().st_size < 1_000_000
