"""The README's Python example runs as written, on a fresh SQLite store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_python_example_runs_a_whole_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README shows the Python API"
    monkeypatch.setenv("CLOSEDLOOP_DATABASE_URL", f"sqlite:///{tmp_path}/readme.sqlite3")
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102
    center = namespace["center"]
    warning = center.warning(namespace["w"].id)  # type: ignore[attr-defined]
    assert warning.status == "closed"
