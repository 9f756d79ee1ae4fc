"""A PCC editor updates their services through the real bot over HTTP (the Telegram Bot API emulator): sends a
spreadsheet as a document, reads the preview, confirms, and the directory changes; a stranger sending the same
file gets only the victim flow and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session

from mapping.areas import AreaRegistry
from services_db import access, repository
from services_db.db import make_engine
from services_db.formats import write_services
from tests.e2e.conftest import Record, RunningBot, User, labels
from tests.services_db.factories import DRAMA_PHONES, PLACES, area_service, phone

pytestmark = pytest.mark.e2e

OWN = "pcc-E23000010"
LEEDS_LAD = PLACES["leeds"][2]


def texts(records: list[Record]) -> str:
    return "\n".join(r["message"].get("text") or "" for r in records)


def _directory(bot: RunningBot) -> dict[str, object]:
    engine = make_engine(bot.config.effective_database_url)
    try:
        with Session(engine) as session:
            return {r.id: r for r in repository.list_services(session=session)}
    finally:
        engine.dispose()


def _register_editor(bot: RunningBot, telegram_user_id: int) -> None:
    engine = make_engine(bot.config.effective_database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            registry = AreaRegistry.default()
            repository.upsert_commissioners(session=session, commissioners=[registry.commissioner_for("E23000010")])
            repository.create_service(
                session=session,
                record=area_service(LEEDS_LAD, service_id="example-leeds-hub", commissioner_code=OWN),
                actor="setup",
            )
            access.add_account(
                session=session,
                name="Leeds team",
                role="pcc_editor",
                commissioner_code=OWN,
                telegram_user_id=telegram_user_id,
                actor="setup",
            )
    finally:
        engine.dispose()


async def test_upload_preview_confirm(signpost_bot: RunningBot, make_user: Callable[..., User]) -> None:
    editor, stranger = make_user(signpost_bot, "Editor"), make_user(signpost_bot, "Stranger")
    _register_editor(signpost_bot, editor.id)
    directory = _directory(signpost_bot)
    hub = directory["example-leeds-hub"]
    # As a team does: its export (the shipped West Yorkshire entries too) with one row edited and one added.
    others = [r for r in directory.values() if r.commissioner_code == OWN and r.id != "example-leeds-hub"]
    edited = area_service(
        LEEDS_LAD,
        service_id="example-leeds-hub",
        commissioner_code=OWN,
        channels=(phone(DRAMA_PHONES[4]),),
    )
    new = area_service(LEEDS_LAD, service_id="example-leeds-new", name="Example Leeds centre", commissioner_code=OWN)
    content = write_services([edited, new, *others], "csv").encode("utf-8")

    # A stranger's document is just something the victim flow cannot read.
    await stranger.tg.send_document("services.csv", content, "text/csv")
    got = await stranger.until(lambda got: bool(got))
    assert "Preview" not in texts(got) and not any("Confirm" in labels(m) for m in got)

    await editor.tg.send_document("services.csv", content, "text/csv")
    got = await editor.until(lambda got: any("Confirm" in labels(m) for m in got), timeout=60)
    preview = next(m for m in got if "Confirm" in labels(m))
    text = preview["message"]["text"]
    assert "Preview of services.csv: 1 added, 1 changed" in text
    assert "+ added example-leeds-new" in text and DRAMA_PHONES[4] in text
    assert _directory(signpost_bot)["example-leeds-hub"] == hub  # nothing yet

    await editor.press(preview, "Confirm")
    done = await editor.until(lambda got: "Done:" in texts(got), timeout=60)
    assert "Done: 1 added, 1 changed, 0 closed." in texts(done)
    after = _directory(signpost_bot)
    assert "example-leeds-new" in after
    assert after["example-leeds-hub"].channels[0].value == DRAMA_PHONES[4]  # type: ignore[attr-defined]

    await editor.tg.send_command("/myservices")
    listed = await editor.until(lambda got: "example-leeds-new" in texts(got))
    assert "last checked on" in texts(listed)
