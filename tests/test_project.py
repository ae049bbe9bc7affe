"""The project's own promises: a pure `twin/`, lint and strict typing, README ↔ CI."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TWIN = REPO / "twin"

# I/O, wall clock and global randomness belong in services/, never in the pure core.
FORBIDDEN_IMPORTS = {
    "kafka", "prometheus_client", "http", "socket", "sqlite3", "urllib", "requests",
    "services", "time", "random", "threading", "subprocess", "asyncio",
}  # fmt: skip
FORBIDDEN_CALLS = {"now", "utcnow", "today"}  # datetime.now() & co.: the wall clock


def _twin_modules() -> list[Path]:
    return sorted(TWIN.rglob("*.py"))


@pytest.mark.parametrize("path", _twin_modules(), ids=lambda p: str(p.relative_to(TWIN)))
def test_twin_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        else:
            names = []
        bad = FORBIDDEN_IMPORTS.intersection(names)
        assert not bad, f"{path.name}:{node.lineno} imports {bad}: I/O belongs in services/"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in FORBIDDEN_CALLS, (
                f"{path.name}:{node.lineno} reads the wall clock ({node.func.attr})"
            )
            if isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "random":
                # np.random.<fn>(...) draws from global state; default_rng(seed) is allowed
                assert node.func.attr == "default_rng", (
                    f"{path.name}:{node.lineno} uses global random state (np.random.{node.func.attr})"
                )


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff")
    assert ruff, "ruff is a test dependency (pip install -e '.[test]')"
    res = subprocess.run(
        [ruff, "check", "twin", "services", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_on_twin() -> None:
    res = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    commands = [line.strip() for b in blocks for line in b.splitlines() if line.strip()]
    assert "scripts/test" in commands
    assert any(c.startswith("pip install -e '.[plots]'") for c in commands)
    assert "twin run demo --log demo.twinlog" in commands
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test\s*$", ci, flags=re.M)


def test_numpy_runs_the_pinned_kernels_here() -> None:
    """`twin` is imported before numpy (here, in `twin run` and in the services), so numpy
    runs without its AVX-512 kernels: logs are the same on every x86-64 machine (and the
    golden logs hold on this one)."""
    import twin

    assert twin.numpy_kernels_pinned()
    code = "import services.cli, twin; print(twin.numpy_kernels_pinned())"
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert res.stdout.strip() == "True"


def test_importing_numpy_before_twin_warns_where_it_matters() -> None:
    """`import numpy, twin` warns (with the value to set) when numpy then runs kernels other
    than the pinned ones; `import twin, numpy` never does, and pins them."""
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    import {first}, {second}\n"
        "import twin; print(len(w), twin.numpy_kernels_pinned())"
    )
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    for first, second in (("numpy", "twin"), ("twin", "numpy")):
        out = subprocess.run([sys.executable, "-c", code.format(first=first, second=second)],
                             cwd=REPO, env=env, capture_output=True, text=True, check=True)  # fmt: skip
        count, pinned = out.stdout.split()
        assert int(count) == (0 if pinned == "True" else 1), (first, out.stdout)
        if first == "twin":
            assert pinned == "True"
