"""Template import benchmark: export the demo clinic, import it into empty databases, time it.

    python benchmarks/bench_import.py                 # 20,000 patients; SQLite and PostgreSQL
    python benchmarks/bench_import.py --no-pg --patients 2000
    python benchmarks/bench_import.py --folder EXPORT # import an existing template folder
    nice -n 10 python benchmarks/bench_import.py --fhir-ndjson-mb 1024   # FHIR NDJSON, 1 GB

With --fhir-ndjson-mb, a generated FHIR bulk export instead: Patient.ndjson and an
Observation.ndjson of about that size (PHQ-9 and GAD-7 totals, 10 %; heart rates without an
encounter, 15 %, and laboratory results, 75 %, which are skipped and counted), imported with
`python -m kapviz import` in a child process into an empty SQLite database; prints the
wall-clock time and the child's peak resident memory (target: below 1 GB for 1 GB).

Generates the demo clinic once into a temp SQLite file, exports it in the template, then
imports that folder into an empty SQLite database and an empty database on a throwaway
PostgreSQL server (read, validate and write timed separately: wall-clock seconds, and in
brackets the CPU seconds of this process, which a busy machine inflates less; the
PostgreSQL server's own work is not in them), and finally
re-imports it (which must change nothing). The load average is printed with every line:
on a shared machine it moves the wall-clock figures several-fold. Target (issue 8): the
whole import in at most 60 s on each backend. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kapviz.db.engine import make_engine  # noqa: E402
from kapviz.db.migrate import upgrade  # noqa: E402
from kapviz.io.export import export_template  # noqa: E402
from kapviz.io.template import read_template  # noqa: E402
from kapviz.io.validate import ExistingKeys, validate  # noqa: E402
from kapviz.io.write import write_batch  # noqa: E402

log = logging.getLogger("bench_import")
TARGET_SECONDS = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options: clinic size and seed, or a ready folder; which backends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, help="import this template folder instead")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument(
        "--fhir-ndjson-mb",
        type=int,
        metavar="MB",
        help="benchmark a generated FHIR NDJSON export of about MB megabytes",
    )
    return parser.parse_args(argv)  # fmt: skip


MAX_PATIENTS = 20_000
LABS = [("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 91),
        ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 182),
        ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 13.9),
        ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 27.1)]  # fmt: skip


def observation(n: int, patient: str, when: str, kind: int, value: int) -> dict:
    """A Synthea-like Observation: kinds 0-1 scores (PHQ-9, GAD-7), the rest skipped by rule."""
    import uuid

    if kind == 0:
        code, text, unit, number, cat = "44261-6", "PHQ-9 total score [Reported]", "{score}", (
            value % 28), "survey"  # fmt: skip
    elif kind == 1:
        code, text, unit, number, cat = "70274-6", "GAD-7 total score [Reported]", "{score}", (
            value % 22), "survey"  # fmt: skip
    elif kind < 5:
        code, text, unit, number, cat = "8867-4", "Heart rate", "/min", 60 + value % 40, (
            "vital-signs")  # fmt: skip
    else:
        code, text, unit, number, cat = (*LABS[value % len(LABS)], "laboratory")
    return {
        "resourceType": "Observation", "id": str(uuid.UUID(int=n)), "status": "final",
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-"
                             "observation-lab"]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "observation-category", "code": cat}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": text}],
                 "text": text},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when, "issued": when,
        "valueQuantity": {"value": number, "unit": unit, "system": "http://unitsofmeasure.org",
                          "code": unit},
    }  # fmt: skip


def write_fhir_export(folder: Path, megabytes: int, seed: int) -> tuple[int, int]:
    """Patient.ndjson and an Observation.ndjson of about `megabytes`: (patients, lines)."""
    import json
    import random
    from datetime import datetime, timedelta

    rng = random.Random(seed)
    sample = json.dumps(observation(0, "p00000", "2026-01-01T09:00:00-08:00", 5, 0))
    lines = megabytes * 1024 * 1024 // (len(sample) + 1)
    patients = max(10, min(MAX_PATIENTS, lines // 100))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "Patient.ndjson").open("w") as out:
        for p in range(patients):
            out.write(
                json.dumps(
                    {
                        "resourceType": "Patient",
                        "id": f"p{p:05d}",
                        "gender": rng.choice(["female", "male"]),
                        "birthDate": f"{rng.randint(1950, 2000)}-01-01",
                    }
                )
                + "\n"
            )
    start = datetime(2024, 1, 1, 8, 0)
    with (folder / "Observation.ndjson").open("w") as out:
        for n in range(lines):
            p, j = n % patients, n // patients
            when = (start + timedelta(hours=6 * j, minutes=p % 60)).isoformat() + "-08:00"
            out.write(json.dumps(observation(n, f"p{p:05d}", when, (n // patients + p) % 20,
                                             rng.randrange(1000))) + "\n")  # fmt: skip
    return patients, lines


def bench_fhir_ndjson(tmp: Path, megabytes: int, seed: int) -> None:
    """Import a generated NDJSON export with the CLI in a child process: time and peak RSS."""
    import resource
    import subprocess

    folder = tmp / "fhir"
    t0 = time.perf_counter()
    patients, lines = write_fhir_export(folder, megabytes, seed)
    size = sum(f.stat().st_size for f in folder.iterdir()) / 1024**2
    log.info("generated %s: %d patients, %s Observations, %.0f MB: %.1f s", folder, patients,
             f"{lines:,}", size, time.perf_counter() - t0)  # fmt: skip
    url = f"sqlite:///{tmp / 'fhir.db'}"
    before = load_average()
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "kapviz", "import", str(folder), "--db", url,
                           "--skip-invalid"], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - c0.ru_utime - c0.ru_stime
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    for line in done.stdout.splitlines():
        log.info("    %s", line)
    if done.returncode:
        log.info("exit %d: %s", done.returncode, done.stderr[-2000:])
    verdict = "OK" if peak_mb < 1024 else "OVER TARGET"
    log.info("FHIR NDJSON %.0f MB import: %.1f s (%.1f CPU s), peak RSS %.0f MB (target < 1024 "
             "MB: %s; %s before, %s after)", size, wall, cpu, peak_mb, verdict, before,
             load_average())  # fmt: skip


def load_average() -> str:
    """The 1-minute load average (with the core count), e.g. "load 3.4 on 2 cores"."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def import_once(url: str, folder: Path) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Read, validate and write `folder` into `url`: (wall, CPU) seconds per step, summary."""
    engine = make_engine(url)
    upgrade(engine)
    seconds: dict[str, tuple[float, float]] = {}
    start = last = (time.perf_counter(), time.process_time())

    def step(name: str) -> None:
        nonlocal last
        now = (time.perf_counter(), time.process_time())
        seconds[name] = (now[0] - last[0], now[1] - last[1])
        last = now

    batch = read_template(folder)
    step("read")
    with engine.connect() as conn:
        existing = ExistingKeys.load(conn)
    validated = validate(batch, existing=existing)
    step("validate")
    if validated.problems:
        raise SystemExit(f"{len(validated.problems)} problems, e.g. {validated.problems[0]}")
    result = write_batch(engine, validated, source=str(folder), kind="template")
    step("write")
    seconds["total"] = (time.perf_counter() - start[0], time.process_time() - start[1])
    engine.dispose()
    return seconds, result.summary_lines()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings per backend."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kapviz-import-")))
        if args.fhir_ndjson_mb:
            bench_fhir_ndjson(tmp, args.fhir_ndjson_mb, args.seed)
            return 0
        folder = args.folder
        if folder is None:
            from kapviz.demo import generate_clinic

            source = make_engine(f"sqlite:///{tmp / 'source.db'}")
            t0 = time.perf_counter()
            generate_clinic(source, patients=args.patients, seed=args.seed)
            log.info("demo clinic, %d patients: %.1f s", args.patients, time.perf_counter() - t0)
            folder = tmp / "export"
            t0 = time.perf_counter()
            export_template(source, folder)
            log.info("export: %.1f s", time.perf_counter() - t0)
            source.dispose()
        for f in sorted(folder.glob("*.csv")):
            log.info("  %-17s %10s rows", f.name, f"{sum(1 for _ in f.open()) - 1:,}")
        targets = [("sqlite", f"sqlite:///{tmp / 'target.db'}")]
        if not args.no_pg:
            from tests import pg  # the test helper owns the throwaway-server recipe

            server = stack.enter_context(pg.postgres_server())
            url = pg.create_database(server)
            stack.callback(pg.drop_database, server, url)
            targets.append(("postgresql", url))
        for backend, url in targets:
            for label in ("import", "re-import"):
                before = load_average()
                seconds, summary = import_once(url, folder)
                steps = ", ".join(f"{k} {w:.1f} s ({c:.1f})" for k, (w, c) in seconds.items())
                verdict = "OK" if seconds["total"][0] <= TARGET_SECONDS else "OVER TARGET"
                log.info("%s %s: %s (target <= %.0f s: %s; %s before, %s after)", backend,
                         label, steps, TARGET_SECONDS, verdict, before, load_average())  # fmt: skip
                for line in summary:
                    log.info("    %s", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
