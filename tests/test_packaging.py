"""The package installs from a clean checkout: a wheel holds every subpackage and data file,
the declared dependencies are requirements.txt's, and no module imports the command line."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_dependencies_match_requirements() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert project["dependencies"] == pinned


def test_nothing_imports_the_command_line() -> None:
    """kapviz.cli imports the command modules; an import back would be a cycle."""
    offenders = []
    for path in sorted((ROOT / "kapviz").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("kapviz/cli.py", "kapviz/__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            if "kapviz.cli" in modules:
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_wheel_holds_subpackages_migrations_and_templates(tmp_path: Path) -> None:
    """`pip wheel --no-deps` on a copy of the checkout (the build writes egg-info beside the
    sources) gives a wheel with every package, the migrations and the template files."""
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(
        ROOT / "kapviz", source / "kapviz", ignore=shutil.ignore_patterns("__pycache__")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("kapviz-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected_packages = {
        p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "kapviz").rglob("*.py")
    }
    for package in expected_packages:
        assert any(n.startswith(package + "/") and n.endswith(".py") for n in names), package
    versions = [p.name for p in (ROOT / "kapviz/db/migrations/versions").glob("*.py")]
    assert versions and {f"kapviz/db/migrations/versions/{v}" for v in versions} <= names
    assert "kapviz/db/migrations/env.py" in names
    assert "kapviz/db/migrations/script.py.mako" in names
    templates = [p.name for p in (ROOT / "kapviz/io/template_files").iterdir()]
    assert {f"kapviz/io/template_files/{t}" for t in templates} <= names
    assert "kapviz/io/mappings/kap_redcap.toml" in names
