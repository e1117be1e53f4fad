"""The `ovillo` command's own surface."""

from __future__ import annotations

from typer.testing import CliRunner

from ovillo import __version__
from ovillo.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("version", "serve", "db"):
        assert command in result.output


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_db_upgrade_creates_the_database_file() -> None:
    # The autouse fixture runs us in a temporary directory: the default URL is var/ here.
    result = runner.invoke(app, ["db", "upgrade"], env={"OVILLO_LOG__JSON_OUTPUT": "true"})
    assert result.exit_code == 0, result.output
    from pathlib import Path

    assert Path("var/ovillo.sqlite3").exists()
