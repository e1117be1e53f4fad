"""How fast a segment is counted and streamed on a large audience, and in how much memory.

Fills a fresh database (SQLite by default, ``--db postgres`` a new database on
127.0.0.1:5432) with ``--contacts`` contacts (default 100,000) of one workspace: tags,
countries, a plan attribute, 3% opted out of marketing, 1% not on WhatsApp, and for half
of them a conversation whose last inbound message is up to 90 days old. Then times
``contacts.segments.count_segment`` for a few filters and streams one through
``iter_matching_contacts`` (pages of 1,000 contacts), checking the pages add up to the
count, and pages through ``matching_contact_ids`` (ids only, as campaigns select).

Prints one JSON object: seconds per count, the stream's seconds and rows/s, peak RSS::

    .venv/bin/python bench/segments.py --contacts 20000
    .venv/bin/python bench/segments.py --db postgres
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import uvloop
from harness import load_average, migrated_runtime, peak_rss_mb, run_directory, seed_channel
from sqlalchemy import insert

from ovillo.accounts import service as accounts_service
from ovillo.contacts import segments
from ovillo.contacts.models import Contact
from ovillo.core.ids import new_id
from ovillo.core.logging import configure_logging
from ovillo.core.runtime import Runtime
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import Conversation

TAGS = ["vip", "spring", "newsletter", "lead", "churned"]
COUNTRIES = ["MX", "MX", "MX", "ES", "CO", "US", "AR"]
CHUNK = 5_000
# Imported here so the first count does not pay for importing the inbox (segments import it
# lazily).
assert inbox_service.last_inbound_at_of
FILTERS: dict[str, dict[str, Any]] = {
    "everyone": {},
    "tags_any": {"tags_any": ["vip", "lead"]},
    "tags_all_none": {"tags_all": ["vip"], "tags_none": ["churned"]},
    "attribute_equals": {"attributes": [{"key": "plan", "op": "equals", "value": "oro"}]},
    "country": {"countries": ["ES", "CO"]},
    "wrote_in_30_days": {"last_inbound_within_days": 30},
    "combined": {
        "tags_any": ["vip", "spring"],
        "countries": ["MX"],
        "last_inbound_within_days": 60,
        "attributes": [{"key": "plan", "op": "exists"}],
    },
}


async def fill(runtime: Runtime, workspace_id: uuid.UUID, count: int) -> None:
    rng = random.Random(7)
    now = runtime.clock.now()
    channel_id = await seed_channel(runtime.engine, workspace_id=workspace_id, now=now)
    async with runtime.sessionmaker() as session:
        for start in range(0, count, CHUNK):
            contacts: list[dict[str, Any]] = []
            conversations: list[dict[str, Any]] = []
            for n in range(start, min(start + CHUNK, count)):
                contact_id = new_id(now)
                wa_id = f"52155{n:08d}"
                contacts.append(
                    {
                        "id": contact_id, "workspace_id": workspace_id, "wa_id": wa_id,
                        "phone_e164": f"+{wa_id}", "country": rng.choice(COUNTRIES),
                        "name": f"Contact {n}",
                        "attributes": {"plan": rng.choice(["oro", "plata", "bronce"])}
                        if rng.random() < 0.7 else {},
                        "tags": rng.sample(TAGS, rng.randint(0, 3)),
                        "opt_outs": {"marketing": now.isoformat()} if rng.random() < 0.03 else {},
                        "not_on_whatsapp_at": now if rng.random() < 0.01 else None,
                        "created_at": now, "updated_at": now,
                    }
                )  # fmt: skip
                if rng.random() < 0.5:
                    wrote = now - timedelta(minutes=rng.randint(1, 90 * 24 * 60))
                    conversations.append(
                        {
                            "id": new_id(now), "workspace_id": workspace_id,
                            "channel_id": channel_id, "contact_id": contact_id,
                            "status": "open", "last_inbound_at": wrote,
                            "last_activity_at": wrote, "unread_count": 0, "created_at": wrote,
                        }
                    )  # fmt: skip
            await session.execute(insert(Contact), contacts)
            if conversations:
                await session.execute(insert(Conversation), conversations)
            await session.commit()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with run_directory("ovillo-bench-segments-") as directory:
        async with migrated_runtime(args.db, directory) as runtime:
            async with runtime.sessionmaker() as session:
                workspace = await accounts_service.create_workspace(
                    session=session, name="Bench", now=runtime.clock.now()
                )
            started = time.perf_counter()
            await fill(runtime, workspace.id, args.contacts)
            fill_seconds = time.perf_counter() - started
            rss_before = peak_rss_mb()
            counts: dict[str, Any] = {}
            now = runtime.clock.now()
            for name, spec in FILTERS.items():
                async with runtime.sessionmaker() as session:
                    began = time.perf_counter()
                    counted = await segments.count_segment(
                        session=session,
                        workspace_id=workspace.id,
                        spec=segments.SegmentFilter.model_validate(spec),
                        now=now,
                    )
                    counts[name] = {
                        "seconds": round(time.perf_counter() - began, 3),
                        "matching": counted.matching,
                        "excluded_opted_out": counted.excluded_opted_out,
                        "excluded_not_on_whatsapp": counted.excluded_not_on_whatsapp,
                    }
            streamed = 0
            pages = 0
            spec = segments.SegmentFilter.model_validate(FILTERS[args.stream])
            began = time.perf_counter()
            async with runtime.sessionmaker() as session:
                async for page in segments.iter_matching_contacts(
                    session=session, workspace_id=workspace.id, spec=spec, now=now
                ):
                    streamed += len(page)
                    pages += 1
                    session.expunge_all()  # a page at a time: nothing kept
            stream_seconds = time.perf_counter() - began
            # The campaigns' path: ids only, in the database (``matching_contact_ids``).
            ids = 0
            last: uuid.UUID | None = None
            began = time.perf_counter()
            selection = segments.matching_contact_ids(
                dialect=runtime.engine.dialect.name,
                workspace_id=workspace.id,
                spec=spec,
                now=now,
            )
            while True:
                query = selection if last is None else selection.where(Contact.id > last)
                async with runtime.sessionmaker() as session:
                    page_ids = list(await session.scalars(query.order_by(Contact.id).limit(1000)))
                if not page_ids:
                    break
                ids += len(page_ids)
                last = page_ids[-1]
            ids_seconds = time.perf_counter() - began
        return {
            "db": args.db,
            "contacts": args.contacts,
            "fill_seconds": round(fill_seconds, 1),
            "counts": counts,
            "stream_filter": args.stream,
            "stream_rows": streamed,
            "stream_pages": pages,
            "stream_seconds": round(stream_seconds, 2),
            "stream_rows_per_second": round(streamed / stream_seconds) if stream_seconds else None,
            "stream_matches_count": streamed == counts[args.stream]["matching"],
            "ids_rows": ids,
            "ids_seconds": round(ids_seconds, 2),
            "ids_rows_per_second": round(ids / ids_seconds) if ids_seconds else None,
            "peak_rss_mb_before_counts": rss_before,
            "peak_rss_mb": peak_rss_mb(),
            "load_average": load_average(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--stream", choices=sorted(FILTERS), default="everyone")
    args = parser.parse_args()
    configure_logging(level="WARNING", json_output=True)
    print(json.dumps(uvloop.run(run(args)), indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
