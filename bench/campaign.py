"""A campaign of N recipients (100,000 by default) on one number at 1,000 mps.

Runs the platform as a deployment (tests/deployment.py): `ovillo emulator`, `ovillo serve`
(worker not embedded) and one `ovillo worker`, on a fresh PostgreSQL database made for the
run and dropped after (``--db sqlite``: a fresh SQLite file). The audience is written
straight into the database; the template is approved through the emulator; the campaign
is launched through the REST API and the clock runs until the emulator has accepted every
recipient's message.

Figures from the emulator's own log (its ``accepted_at``): messages/s achieved against the
cap, the most accepted in any sliding 1-second window (must not cross the cap), recipients
sent more than once (must be 0); the worker's peak RSS (``VmHWM``); the time from launch to
the last accepted send and to the campaign's ``completed``. The CPU milliseconds each
process used per recipient from launch (the rate follows the machine's load; this figure
much less); with ``--settle``, also until the worker has applied every status webhook. The
webhook POSTs the emulator made from launch, and serve's CPU per POST.

    .venv/bin/python bench/campaign.py
    .venv/bin/python bench/campaign.py --recipients 20000 --db sqlite
    .venv/bin/python bench/campaign.py --recipients 5000 --settle

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

# bench/ is not a package: reach tests/ from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from harness import cpu_seconds, fresh_database, load_average, pace_figures, process_peak_rss_mb
from sqlalchemy import func, select
from tests.campaign_scene import campaign_state, launch, set_up_campaign
from tests.deployment import Deployment, emulator_messages, emulator_stats

from ovillo.channels.models import WebhookEvent, WebhookEventState
from ovillo.core.db import create_engine
from ovillo.core.settings import DatabaseSettings


def cpu_of(services: dict[str, Any]) -> dict[str, float]:
    """CPU seconds each service has used so far."""
    return {name: cpu_seconds(service.pid) for name, service in services.items()}


async def pending_webhook_events(engine: Any) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            select(func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.state == WebhookEventState.PENDING)
        )
    return int(found or 0)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="ovillo-bench-campaign-"))
    load_before = load_average()
    async with fresh_database(args.db, directory) as database_url:
        engine = create_engine(DatabaseSettings(url=database_url))
        try:
            async with Deployment(
                directory=directory,
                database_url=database_url,
                settings={"OVILLO_LOG__LEVEL": args.log_level},
            ) as deployment:
                started = time.monotonic()
                # The worker applies the template's approval webhook: start it first.
                worker = await deployment.start_worker()
                scene = await set_up_campaign(
                    deployment, engine, recipients=args.recipients, mps=args.mps
                )
                scene_s = time.monotonic() - started
                rss_samples: list[float] = []
                async with (
                    httpx.AsyncClient(base_url=deployment.url, timeout=120) as http,
                    httpx.AsyncClient(base_url=deployment.emulator_url, timeout=120) as emulator,
                ):
                    services = {
                        "worker": worker,
                        "serve": deployment.serve,
                        "emulator": deployment.emulator,
                    }
                    posts_before = (await emulator_stats(emulator))["webhooks_delivered"]
                    cpu_before = cpu_of(services)
                    launched = time.monotonic()
                    await launch(http, scene)
                    sent_at: float | None = None
                    completed_at: float | None = None
                    while time.monotonic() - launched < args.send_seconds:
                        rss = process_peak_rss_mb(worker.pid)
                        if rss is not None:
                            rss_samples.append(rss)
                        if sent_at is None:
                            stats = await emulator_stats(emulator)
                            if stats["sent"] >= args.recipients:
                                sent_at = time.monotonic()
                        state = await campaign_state(http, scene)
                        if state["state"] in ("completed", "stopped", "cancelled"):
                            completed_at = time.monotonic()
                            break
                        await asyncio.sleep(0.5)
                    cpu_sent = cpu_of(services)
                    # --settle: on until the worker has applied every status webhook, so
                    # its CPU figure includes them (about three per message).
                    settled_at: float | None = None
                    while args.settle and time.monotonic() - launched < args.send_seconds:
                        if await pending_webhook_events(engine) == 0:
                            settled_at = time.monotonic()
                            break
                        await asyncio.sleep(0.5)
                    cpu_settled = cpu_of(services)
                    posts = (await emulator_stats(emulator))["webhooks_delivered"] - posts_before
                    final = await campaign_state(http, scene)
                    log = await emulator_messages(emulator)
        finally:
            await engine.dispose()
    accepted = sorted(
        datetime.fromisoformat(m["accepted_at"]).timestamp()
        for m in log
        if m.get("type") == "template"
    )
    per_recipient = Counter(m["to"] for m in log if m.get("type") == "template")
    pace = pace_figures(accepted, args.mps) if accepted else {}
    return {
        "bench": "campaign",
        "db": args.db,
        "recipients": args.recipients,
        "cap_mps": args.mps,
        "accepted": len(accepted),
        "sent_twice": sum(1 for count in per_recipient.values() if count > 1),
        "never_sent": args.recipients - len(per_recipient),
        "rate_mps": pace.get("rate_mps"),
        "share_of_cap": round(pace["rate_mps"] / args.mps, 3) if pace.get("rate_mps") else None,
        "steady_mps": pace.get("steady_mps"),
        "max_in_any_1s": pace.get("max_in_any_1s"),
        "crossed_cap": pace.get("crossed_cap"),
        "worker_peak_rss_mb": max(rss_samples) if rss_samples else None,
        "scene_s": round(scene_s, 1),
        "launch_to_last_send_s": round(sent_at - launched, 1) if sent_at else None,
        "launch_to_completed_s": round(completed_at - launched, 1) if completed_at else None,
        "launch_to_statuses_applied_s": round(settled_at - launched, 1) if settled_at else None,
        # CPU milliseconds per recipient of each process from launch: the figure that
        # holds on a machine shared with other work, where the rate follows the load.
        "cpu_ms_per_message_to_completed": {
            name: round(1000 * (cpu_sent[name] - cpu_before[name]) / args.recipients, 2)
            for name in cpu_before
        },
        "cpu_ms_per_message_to_statuses_applied": {
            name: round(1000 * (cpu_settled[name] - cpu_before[name]) / args.recipients, 2)
            for name in cpu_before
        }
        if settled_at
        else None,
        # The emulator batches the status webhooks of a lane that falls behind into one POST
        # (emulator/webhooks.py), so a faster platform gets more, smaller POSTs: serve's CPU
        # per POST tells its own cost apart from that.
        "webhook_posts": posts,
        "serve_cpu_ms_per_post": round(
            1000 * (cpu_settled["serve"] - cpu_before["serve"]) / posts, 3
        )
        if posts
        else None,
        "campaign": {"state": final["state"], "counts": final["counts"]},
        "load": {"before": load_before, "after": load_average()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--mps", type=int, default=1000)
    parser.add_argument("--send-seconds", type=float, default=1800.0)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--settle",
        action="store_true",
        help="after the campaign completes, wait until every status webhook is applied",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))  # noqa: T201 - the bench's output


if __name__ == "__main__":
    main()
