"""Every ``bash`` and ``python`` block of README.md runs, in order, as a reader would run it
(one shell per block, in one scratch folder, with one data root), with smaller settings where
the README's are long (:data:`TINY`).  Syntax references are ``text`` blocks and are not run.

Install steps (``python3 -m venv``, ``. .venv/bin/activate``, ``pip install``) are dropped:
the suite already runs inside the installed package.  The test command's own steps
(``ruff check``, ``mypy``, ``python -m pytest``) are dropped too: ``.ci/run`` runs them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_DATA

README = REPO / "README.md"
_BLOCK = re.compile(r"^```(bash|python)[ \t]*\n(.*?)^```", re.S | re.M)

#: (pattern, replacement): long settings made short; the command stays the same otherwise.
TINY: tuple[tuple[str, str], ...] = (
    (r"--seeds 0-499\b", "--seeds 0-2"),
    (r"--seeds 0-199\b", "--seeds 0-2"),
    (r"--max-evals 150\b", "--max-evals 12"),
    (r"--n-boot 1000\b", "--n-boot 50"),
    (r"seeds=range\(500\)", "seeds=range(3)"),
    (r"max_evals=150\b", "max_evals=12"),
)
_DROP = re.compile(r"^\s*(python3? -m venv\b|\. \S*activate\b|pip install\b|python3? -m pytest\b"
                   r"|ruff check\b|mypy\b)")


def _blocks() -> list[tuple[str, str, int]]:
    text = README.read_text()
    out = []
    for m in _BLOCK.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.append((m.group(1), m.group(2), line))
    return out


def _shell(code: str) -> str:
    """The block's commands with install and test steps dropped and TINY applied."""
    code = code.replace("\\\n", " ")
    lines = []
    for line in code.splitlines():
        parts = [p for p in line.split("&&") if not _DROP.match(p)]
        if parts and any(p.strip() for p in parts):
            lines.append("&&".join(parts).strip())
    return _tiny("\n".join(lines))


def _tiny(code: str) -> str:
    for pat, rep in TINY:
        code = re.sub(pat, rep, code)
    return code.replace("../shared/data", str(SHARED_DATA))


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("readme")
    env = {**os.environ, "BENCHBENCH_DATA": str(work / "data"), "MPLBACKEND": "Agg",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    env.pop("CI", None)
    return work, env


def test_readme_has_runnable_blocks() -> None:
    kinds = {k for k, _, _ in BLOCKS}
    assert kinds == {"bash", "python"}, kinds
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("kind,code,line", BLOCKS, ids=[f"L{b[2]}" for b in BLOCKS])
def test_readme_block(kind: str, code: str, line: int,
                      scratch: tuple[Path, dict[str, str]]) -> None:
    work, env = scratch
    if "../shared/data" in code and not SHARED_DATA.exists():
        pytest.skip(f"README block at line {line} reads {SHARED_DATA}, which is absent")
    needs_torch = any(w in code for w in ("benchbench.nn", "proxies score", "data build",
                                          "validate", "-train", "data latency"))
    if needs_torch and importlib.util.find_spec("torch") is None:
        pytest.skip(f"README block at line {line} needs torch")
    if kind == "bash":
        cmd = ["bash", "-euo", "pipefail", "-c", _shell(code)]
    else:
        cmd = [sys.executable, "-c", _tiny(code)]
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (f"README block at line {line} failed:\n{code}\n--- stdout\n"
                               f"{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}")
