"""The ``ovillo`` command."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from ovillo import __version__
from ovillo.core.logging import configure_logging
from ovillo.core.settings import Settings, get_settings

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer(
    name="ovillo",
    help="Ovillo: a self-hostable WhatsApp Business Platform.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

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
    import uvicorn

    from ovillo.app import create_app
    from ovillo.migrations import upgrade

    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log.json_output)
    bind_host = host or settings.server.host
    bind_port = port if port is not None else settings.server.port
    if migrate:
        upgrade(settings)
    url = f"http://{bind_host}:{bind_port}"
    console.print(f"[bold green]Ovillo {__version__}[/] is starting at [link={url}]{url}[/]")
    console.print(f"  API docs:  {url}/docs")
    console.print(f"  Health:    {url}/healthz")
    config = uvicorn.Config(
        create_app(settings=settings),
        host=bind_host,
        port=bind_port,
        log_config=None,
        proxy_headers=True,
    )
    asyncio.run(_serve_embedded(uvicorn.Server(config), settings))


async def _serve_embedded(server: uvicorn.Server, settings: Settings) -> None:
    """The web app, and in the embedded default the emulator beside it on its own port."""
    if not settings.emulator.enabled:
        await server.serve()
        return
    from ovillo.emulator.server import EmulatorServer

    emulator = EmulatorServer(host=settings.emulator.host, port=settings.emulator.port)
    console.print(
        f"  Emulator:  {emulator.url} (Meta's Cloud API, emulated; /docs for its control API)"
    )
    emulator_task = asyncio.create_task(emulator.serve(), name="emulator")
    try:
        await server.serve()
    finally:
        emulator.stop()
        await emulator_task


@app.command()
def emulator(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8081, help="Port to listen on."),
) -> None:
    """Run the Cloud API emulator alone (Graph API paths and the /_emulator control API)."""
    from ovillo.emulator.server import EmulatorServer

    settings = get_settings()
    configure_logging(level=settings.log.level, json_output=settings.log.json_output)
    server = EmulatorServer(host=host, port=port)
    console.print(f"[bold green]Cloud API emulator[/] listening at {server.url}")
    console.print(f"  Graph API:    {server.url}/v23.0/...")
    console.print(f"  Control API:  {server.url}/_emulator (docs at {server.url}/docs)")
    asyncio.run(server.serve())


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


if __name__ == "__main__":  # pragma: no cover
    app()
