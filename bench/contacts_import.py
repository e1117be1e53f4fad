"""How fast `ovillo contacts import` brings a large file in, and in how much memory.

Writes a CSV of ``--rows`` rows (default 1,000,000) into a temporary directory: semicolons,
a BOM, Mexican numbers in the ways people write them, names with accents, an attribute and
tags, with ``--bad-share`` rows broken (letters, too short, no number, too long a name) and
``--duplicate-share`` rows repeating an earlier number (same name, another plan and
tags). Imports it into a fresh database
(SQLite by default, ``--db postgres`` a new database on 127.0.0.1:5432) with
``contacts.importing`` as the CLI does, and checks the outcome: every row counted once,
one contact per number, the rejects as many as the broken rows.

Prints one JSON object: rows/s (overall, per CPU second of this process, and for each tenth
of the file), seconds, peak RSS of the process (``ru_maxrss``) before and after the import
(the generator's share is the "before"), counts::

    .venv/bin/python bench/contacts_import.py --rows 20000
    .venv/bin/python bench/contacts_import.py            # 1,000,000 rows
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import time
from pathlib import Path
from typing import Any

import uvloop
from harness import load_average, migrated_runtime, peak_rss_mb, run_directory
from sqlalchemy import func, select

from ovillo.accounts import service as accounts_service
from ovillo.contacts import importing
from ovillo.contacts.models import Contact, ContactImport
from ovillo.core.logging import configure_logging

NAMES = ["María", "José", "Núñez", "Pérez", "Gómez", "Ramírez", "Sofía", "Peña", "Ana", "Luis"]
PLANS = ["oro", "plata", "bronce"]
BROKEN = ["llámame", "12", "", "55 1234"]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_file(path: Path, *, rows: int, bad_share: float, duplicate_share: float) -> int:
    """The file; how many rows in it are broken."""
    rng = random.Random(7)
    broken = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write("Celular;Nombre;Plan;Etiquetas\r\n")
        for n in range(rows):
            draw = rng.random()
            if draw < bad_share:
                broken += 1
                name = "Sin Número"
                if rng.random() < 0.2:
                    phone, name = f"55{10_000_000 + n:08d}", "x" * 250
                else:
                    phone = rng.choice(BROKEN)
            else:
                # A repeat names an earlier number (merged), written another way.
                number = rng.randrange(max(n, 1)) if draw < bad_share + duplicate_share else n
                # A person's name goes with their number, as in a real list's repeats.
                name = f"{NAMES[number % 10]} {NAMES[number // 10 % 10]}"
                local = f"55{10_000_000 + number:08d}"
                phone = rng.choice(
                    [local, f"+52 1 {local[:2]} {local[2:6]} {local[6:]}", f"52{local}"]
                )
            tags = "vip,feria" if n % 10 == 0 else ""
            handle.write(f'{phone};"{name}";{rng.choice(PLANS)};{tags}\r\n')
    return broken


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with run_directory("ovillo-bench-import-", keep=args.keep) as directory:
        source = directory / "contacts.csv"
        started = time.perf_counter()
        broken = write_file(
            source, rows=args.rows, bad_share=args.bad_share, duplicate_share=args.duplicate_share
        )
        generate_seconds = time.perf_counter() - started
        rss_before = peak_rss_mb()
        async with migrated_runtime(args.db, directory) as runtime:
            async with runtime.sessionmaker() as session:
                workspace = await accounts_service.create_workspace(
                    session=session, name="Bench", now=runtime.clock.now()
                )
                begun = await importing.check_local_file(
                    session=session,
                    workspace_id=workspace.id,
                    path=source,
                    default_country="MX",
                    overrides={"Etiquetas": "tags"},
                    now=runtime.clock.now(),
                )
            # Rows/s of each tenth of the file: does the rate fall as the table grows?
            marks: list[tuple[int, float]] = []

            def progress(contact_import: ContactImport) -> None:
                tenth = max(args.rows // 10, 1)
                if contact_import.rows_read // tenth > marks[-1][0] // tenth:
                    marks.append((contact_import.rows_read, time.perf_counter()))

            importing.process_holder()  # the worker's modules imported before the clock starts
            started, cpu_started = time.perf_counter(), cpu_seconds()
            marks.append((0, started))
            done = await importing.run_import(
                engine=runtime.engine,
                sessionmaker=runtime.sessionmaker,
                clock=runtime.clock,
                import_id=begun.id,
                path=source,
                holder=importing.process_holder(),
                on_progress=progress,
            )
            seconds = time.perf_counter() - started
            cpu = cpu_seconds() - cpu_started
            async with runtime.sessionmaker() as session:
                contacts = await session.scalar(
                    select(func.count())
                    .select_from(Contact)
                    .where(Contact.workspace_id == workspace.id)
                )
        return {
            "db": args.db,
            "rows": args.rows,
            "file_mb": round(source.stat().st_size / 1e6, 1),
            "status": done.status,
            "error": done.error,
            "seconds": round(seconds, 1),
            "rows_per_second": round(done.rows_read / seconds),
            # This process's CPU time (not the database server's): steadier than wall time
            # on a shared machine.
            "cpu_seconds": round(cpu, 1),
            "rows_per_cpu_second": round(done.rows_read / cpu),
            "rows_per_second_by_tenth": [
                round((rows - rows_before) / (at - before))
                for (rows_before, before), (rows, at) in itertools.pairwise(marks)
                if at > before
            ],
            "created": done.created,
            "updated": done.updated,
            "rejected": done.rejected,
            "broken_rows_written": broken,
            "contacts": contacts,
            "every_row_counted": done.rows_read == args.rows
            and done.created + done.updated + done.rejected == args.rows,
            "one_contact_per_number": contacts == done.created,
            "rejects_match": done.rejected == broken,
            "peak_rss_mb_before_import": rss_before,
            "peak_rss_mb": peak_rss_mb(),
            "generate_seconds": round(generate_seconds, 1),
            "batch_rows": importing.BATCH_ROWS,
            "load_average": load_average(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bad-share", type=float, default=0.01, help="rows broken on purpose")
    parser.add_argument("--duplicate-share", type=float, default=0.05, help="rows repeated")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    configure_logging(level="WARNING", json_output=True)
    print(json.dumps(uvloop.run(run(args)), indent=2, ensure_ascii=False))  # noqa: T201


if __name__ == "__main__":
    main()
