"""The package installs from a clean checkout: a wheel holds every subpackage and data file,
the declared dependencies are requirements.txt's, and no module imports the command line."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
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


def _build_wheel(tmp_path: Path) -> Path:
    """`pip wheel --no-deps` on a copy of the checkout (the build writes egg-info beside the
    sources), as a fresh clone would build."""
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
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.mark.network
def test_wheel_holds_subpackages_migrations_and_templates(wheel: Path) -> None:
    """The wheel has every package, the API, the migrations and the template files."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected_packages = {
        p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "kapviz").rglob("*.py")
    }
    for package in expected_packages:
        assert any(n.startswith(package + "/") and n.endswith(".py") for n in names), package
    versions = [p.name for p in (ROOT / "kapviz/db/migrations/versions").glob("*.py")]
    assert versions and {f"kapviz/db/migrations/versions/{v}" for v in versions} <= names
    assert "kapviz/db/migrations/env.py" in names
    assert {"kapviz/__init__.py", "kapviz/api.py", "kapviz/api_commands.py"} <= names
    assert "kapviz/db/migrations/script.py.mako" in names
    templates = [p.name for p in (ROOT / "kapviz/io/template_files").iterdir()]
    assert {f"kapviz/io/template_files/{t}" for t in templates} <= names
    assert "kapviz/io/mappings/kap_redcap.toml" in names


@pytest.mark.network
def test_wheel_installs_and_connects_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    """`pip install --no-deps` of the wheel into a fresh virtualenv, then `import kapviz;
    kapviz.connect(...)` from a directory without the sources: the analyst's notebook case.

    The dependencies come from this environment (a .pth file), so only kapviz is installed.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    ours = [p for p in sys.path if p.endswith("site-packages")]
    (site / "kapviz_test_deps.pth").write_text("\n".join(ours) + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = tmp_path / "notebook"
    elsewhere.mkdir()
    db = elsewhere / "clinic.db"
    script = (
        "import kapviz, sys\n"
        "from kapviz.db.engine import make_engine\n"
        "from kapviz.demo import generate_clinic\n"
        f"url = 'sqlite:///{db.as_posix()}'\n"
        "generate_clinic(make_engine(url), patients=20, seed=3)\n"
        "table = kapviz.connect(url).outcomes('PHQ-9', by='site')\n"
        "print(kapviz.__file__)\n"
        "print(int(table['courses'].sum()))\n"
    )
    run = subprocess.run(
        [str(python), "-c", script], cwd=elsewhere, capture_output=True, text=True,
        timeout=300, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    where, courses = run.stdout.split()
    assert where.startswith(str(site)), where  # the installed copy, not the checkout
    assert int(courses) > 0


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str:
    return _canonical(re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0])


def test_every_imported_package_is_declared() -> None:
    """Each third-party import in kapviz/ comes from a distribution pyproject.toml declares,
    or one a declared distribution requires (a fresh environment then has it)."""
    declared = {
        _name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "dependencies"]
    }  # fmt: skip
    required = set(declared)
    for dist in declared:
        for requirement in metadata.requires(dist) or []:
            if "extra ==" not in requirement:
                required.add(_name(requirement))
    modules = set()
    for path in (ROOT / "kapviz").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m != "kapviz"}
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module)
        for module in third_party
        if not {_canonical(d) for d in providers.get(module, [])} & required
    }
    assert missing == {}


@pytest.mark.network
def test_pip_install_from_a_fresh_clone(tmp_path: Path) -> None:
    """`git clone` then `pip install .` into a fresh virtualenv, then the API from another
    directory: what an analyst does, and what CI runs.

    The virtualenv sees this environment's packages through a .pth file, so pip resolves
    every declared dependency as already installed and installs kapviz alone (the index
    serves only the build backend, setuptools); test_every_imported_package_is_declared
    checks that the declarations are complete.
    """
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "clone"
    cloned = subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", str(clone)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if cloned.returncode != 0 and "not a git repository" in cloned.stderr:
        pytest.skip("the checkout is not a git repository")
    assert cloned.returncode == 0, cloned.stderr
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    ours = [p for p in sys.path if p.endswith("site-packages")]
    (site / "kapviz_test_deps.pth").write_text("\n".join(ours) + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "."],
        cwd=clone, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = tmp_path / "analysis"
    elsewhere.mkdir()
    db = elsewhere / "clinic.db"
    script = (
        "import kapviz\n"
        "from kapviz import explore\n"
        "from kapviz.db.engine import make_engine\n"
        "from kapviz.demo import generate_clinic\n"
        f"url = 'sqlite:///{db.as_posix()}'\n"
        "generate_clinic(make_engine(url), patients=20, seed=5)\n"
        "clinic = kapviz.connect(url)\n"
        "print(kapviz.__file__)\n"
        "print(int(clinic.outcomes('PHQ-9', by='site')['courses'].sum()))\n"
        "print(int(clinic.adverse_events()['dosing_sessions'].iloc[0]))\n"
        "view = explore.ExploreView('sedation_rate', by=('route',))\n"
        "print(int(explore.run(clinic, view).table['denominator'].sum()))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run(
        [str(python), "-c", script], cwd=elsewhere, capture_output=True, text=True,
        timeout=300, check=False, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    where, courses, doses, sedation_doses = run.stdout.split()
    assert where.startswith(str(site)), where  # the installed copy, not the clone
    assert int(courses) > 0 and int(doses) > 0 and int(sedation_doses) == int(doses)
    command = subprocess.run(
        [str(venv / "bin" / "kapviz"), "query", "adverse-events", "--db", f"sqlite:///{db}",
         "--json"],
        cwd=elsewhere, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert command.returncode == 0, command.stderr
    assert json.loads(command.stdout)[0]["dosing_sessions"] == int(doses)
