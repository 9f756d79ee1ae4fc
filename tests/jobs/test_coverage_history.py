"""`signpost coverage history`: coverage over time from the stored snapshots."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from services_db.models import CoverageSnapshot
from services_db.snapshots import snapshot_series
from signpost.cli import app

runner = CliRunner()


def _snapshots(engine: Engine) -> None:
    rows = [
        (date(2026, 11, 1), "E23000003", 1000, 250),
        (date(2026, 11, 1), "E23000010", 3000, 0),
        (date(2026, 11, 2), "E23000003", 1000, 500),
        (date(2026, 11, 2), "E23000010", 3000, 1500),
    ]
    with Session(engine) as session:
        for day, code, population, covered in rows:
            session.add(
                CoverageSnapshot(
                    taken_on=day,
                    level="pfa",
                    area_code=code,
                    strand="any",
                    population=population,
                    population_covered=covered,
                    method="test",
                )
            )
            session.add(
                CoverageSnapshot(
                    taken_on=day,
                    level="pfa",
                    area_code=code,
                    strand="race",
                    population=population,
                    population_covered=0,
                    method="test",
                )
            )
        session.commit()


def test_series_for_one_area_and_for_england_and_wales(engine: Engine) -> None:
    _snapshots(engine)
    with Session(engine) as session:
        lancashire = snapshot_series(session=session, area_code="E23000003")
        everywhere = snapshot_series(session=session)
        race = snapshot_series(session=session, strand="race")
    assert [(p.taken_on.day, p.pct) for p in lancashire] == [(1, 25.0), (2, 50.0)]
    assert [(p.population, p.population_covered) for p in everywhere] == [(4000, 250), (4000, 2000)]
    assert [p.pct for p in race] == [0.0, 0.0]


def test_history_command_prints_and_draws(cli_database: Engine, tmp_path: Path) -> None:
    _snapshots(cli_database)
    png, table = tmp_path / "history.png", tmp_path / "history.csv"
    result = runner.invoke(app, ["coverage", "history", "--area", "E23000003", "--png", str(png), "--csv", str(table)])
    assert result.exit_code == 0, result.output
    assert "50.0%" in result.output and "Lancashire" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table.read_text(encoding="utf-8").splitlines()[2].startswith("2026-11-02,E23000003,any,1000,500,50.00")


def test_history_refuses_what_it_cannot_show(cli_database: Engine) -> None:
    assert runner.invoke(app, ["coverage", "history", "--area", "E07000123"]).exit_code == 2
    assert runner.invoke(app, ["coverage", "history", "--strand", "age"]).exit_code == 2
    empty = runner.invoke(app, ["coverage", "history"])
    assert empty.exit_code == 0 and "No coverage snapshots" in empty.output


def test_local_and_national_series_are_kept_apart_and_methods_are_not_joined(
    cli_database: Engine, tmp_path: Path
) -> None:
    from mapping.report.history import runs_by_method

    rows = [
        (date(2026, 11, 1), "local", "PROXY: postcode counts", 1000, 100),
        (date(2026, 11, 1), "with_national", "PROXY: postcode counts", 1000, 1000),
        (date(2026, 11, 2), "local", "PROXY: postcode counts", 1000, 150),
        (date(2026, 11, 3), "local", "Census 2021 usual residents", 2000, 500),
        (date(2026, 11, 3), "with_national", "Census 2021 usual residents", 2000, 2000),
    ]
    with Session(cli_database) as session:
        for day, scope, method, population, covered in rows:
            session.add(
                CoverageSnapshot(
                    taken_on=day,
                    level="pfa",
                    area_code="E23000003",
                    strand="any",
                    population=population,
                    population_covered=covered,
                    method=method,
                    scope=scope,
                )
            )
        session.commit()
        local = snapshot_series(session=session)
        merged = snapshot_series(session=session, scope="with_national")
    assert [p.pct for p in local] == [10.0, 15.0, 25.0]
    assert [p.pct for p in merged] == [100.0, 100.0]
    assert [[p.taken_on.day for p in run] for run in runs_by_method(local)] == [[1, 2], [3]]
    png = tmp_path / "h.png"
    result = runner.invoke(app, ["coverage", "history", "--png", str(png)])
    assert result.exit_code == 0 and "25.0%" in result.output and "local" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    merged_out = runner.invoke(app, ["coverage", "history", "--include-national"])
    assert merged_out.exit_code == 0 and "100.0%" in merged_out.output and "15.0%" not in merged_out.output
