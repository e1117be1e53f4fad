"""The ``ovillo`` command."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from ovillo import __version__
from ovillo.core.garbage import settle_after_startup
from ovillo.core.logging import configure_logging
from ovillo.core.settings import get_settings

app = typer.Typer(
    name="ovillo",
    help="Ovillo: a self-hostable WhatsApp Business Platform.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
contacts_app = typer.Typer(help="A workspace's contacts.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")

console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print Ovillo's version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Interface to listen on [default: settings]."),
    port: int | None = typer.Option(None, help="Port to listen on [default: 8000]."),
    migrate: bool = typer.Option(True, help="Upgrade the database schema before serving."),
) -> None:
    """Run the web app: UI, REST API, webhook receiver."""
    from ovillo.migrations import upgrade
    from ovillo.server import PlatformServer

    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log.json_output)
    bind_host = host or settings.server.host
    bind_port = port if port is not None else settings.server.port
    if migrate:
        upgrade(settings)
    server = PlatformServer(settings, host=bind_host, port=bind_port)
    console.print(
        f"[bold green]Ovillo {__version__}[/] is running at [link={server.url}]{server.url}[/]"
    )
    console.print(f"  API docs:  {server.url}/docs")
    console.print(f"  Health:    {server.url}/healthz")
    if server.emulator is not None:
        console.print(
            f"  Emulator:  {server.emulator.url} (Meta's Cloud API, emulated; "
            "its control API is documented at /docs there)"
        )
    settle_after_startup()
    asyncio.run(server.serve())


@app.command()
def emulator(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8081, help="Port to listen on."),
    state: str = typer.Option(
        "var/emulator.sqlite3",
        help="SQLite file keeping numbers, templates, customers and media across restarts "
        "('' keeps everything in memory).",
    ),
    in_memory: bool = typer.Option(False, help="Keep everything in memory (same as --state '')."),
) -> None:
    """Run the Cloud API emulator alone (Graph API paths and the /_emulator control API)."""
    from pathlib import Path

    from ovillo.emulator.emulator import Emulator, EmulatorConfig
    from ovillo.emulator.server import EmulatorServer

    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log.json_output)
    state_path = None if in_memory or not state else Path(state)
    server = EmulatorServer(
        Emulator(config=EmulatorConfig(state_path=state_path)), host=host, port=port
    )
    console.print(f"[bold green]Cloud API emulator[/] listening at {server.url}")
    console.print(f"  Graph API:    {server.url}/v23.0/...")
    console.print(f"  Control API:  {server.url}/_emulator (docs at {server.url}/docs)")
    console.print(f"  State:        {state_path or 'in memory'}")
    server.run()


@app.command()
def worker(
    migrate: bool = typer.Option(False, help="Upgrade the database schema before starting."),
) -> None:
    """Run the background worker: send pipelines, webhook processing, timers.

    Run as many as you like against one PostgreSQL database; they share the work through
    it. On SQLite run none beside `ovillo serve` (it runs one inside, by default).
    """
    from ovillo.core.runtime import Runtime
    from ovillo.worker.runtime import Worker

    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log.json_output)
    if migrate:
        from ovillo.migrations import upgrade

        upgrade(settings)

    async def run() -> None:
        import signal

        runtime = Runtime.from_settings(settings)
        background = Worker(runtime)
        settle_after_startup()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # A second signal while stopping falls through to the default (kill).
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(background.stop()))
        console.print(f"[bold green]Ovillo worker[/] {background.holder} started")
        try:
            await background.run()
        finally:
            await runtime.aclose()

    asyncio.run(run())


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
) -> None:
    """Upgrade the database schema (Alembic)."""
    from ovillo.migrations import upgrade

    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log.json_output)
    upgrade(settings, revision)
    console.print(f"database at revision {revision}")


@contacts_app.command("import")
def contacts_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .csv or .xlsx file."),
    workspace: str = typer.Option(..., help="The workspace's id (or its name)."),
    default_country: str | None = typer.Option(
        None, help="ISO country (like MX) of numbers written without +country code."
    ),
    map_: list[str] = typer.Option(
        [],
        "--map",
        help="COLUMN=TARGET, repeatable; TARGET is phone, name, first_name, last_name, "
        "country, tags, skip or attribute:KEY. Other columns are mapped from their headers.",
    ),
    tag: list[str] = typer.Option([], help="A tag to give every imported contact; repeatable."),
    rejects: Path | None = typer.Option(
        None, help="Where to write the rejected rows [default: FILE.rejects.csv beside FILE]."
    ),
) -> None:
    """Import contacts from a spreadsheet: one contact per number, rejected rows reported."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ovillo.accounts import service as accounts_service
    from ovillo.contacts import importing
    from ovillo.contacts.models import ContactImport
    from ovillo.core.errors import OvilloError
    from ovillo.core.runtime import Runtime

    settings = get_settings()
    configure_logging(level="WARNING", json_output=settings.log.json_output)
    rejects_path = rejects or file.with_name(f"{file.stem}.rejects.csv")

    async def run() -> ContactImport:
        runtime = Runtime.from_settings(settings)
        try:
            async with runtime.sessionmaker() as session:
                found = await accounts_service.find_workspace_or_raise(
                    session=session, key=workspace
                )
                started = await importing.check_local_file(
                    session=session,
                    workspace_id=found.id,
                    path=file,
                    default_country=default_country,
                    overrides=importing.parse_overrides(map_),
                    tags=tag,
                    now=runtime.clock.now(),
                )
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                bar = progress.add_task("rows read", total=None)
                done = await importing.run_import(
                    engine=runtime.engine,
                    sessionmaker=runtime.sessionmaker,
                    clock=runtime.clock,
                    import_id=started.id,
                    path=file,
                    holder=importing.process_holder(),
                    on_progress=lambda state: progress.update(bar, completed=state.rows_read),
                )
            if done.rejected:
                with rejects_path.open("w", encoding="utf-8", newline="") as target:
                    async for text in importing.rejects_csv(
                        sessionmaker=runtime.sessionmaker, contact_import=done
                    ):
                        target.write(text)
            return done
        finally:
            await runtime.aclose()

    try:
        done = asyncio.run(run())
    except OvilloError as error:
        console.print(f"[bold red]Not imported:[/] {error}")
        raise typer.Exit(code=2) from None
    typer.echo(
        f"{done.rows_read} rows read: {done.created} contacts created, "
        f"{done.updated} updated, {done.rejected} rejected"
    )
    if done.rejected:
        typer.echo(f"rejected rows: {rejects_path}")
    if done.error:
        console.print(f"[bold red]The import stopped:[/] {done.error}")
        raise typer.Exit(code=1)


if __name__ == "__main__":  # pragma: no cover
    app()
