"""Composition root: builds settings, database and indexes, and hands them to what needs them. No logic.

Settings (pydantic-settings), the database (SQLAlchemy) and the lookups are imported by the functions that build
them, not by this module: every `signpost` command imports it, and `--help` should not pay for them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from telegram.ext import Application

    from jobs.runner import JobContext, Notifier
    from mapping.geocoder import NominatimGeocoder
    from signpost.config import Settings

log = logging.getLogger(__name__)
# The settings whose values every bot worker on one database must share.
CHAT_KEY_SETTING = "SIGNPOST_CHAT_KEY_SECRET"
WEBHOOK_SETTING = "TELEGRAM_WEBHOOK_SECRET"


@lru_cache(maxsize=1)
def settings() -> Settings:
    from mapping.postcodes import PostcodeDirectory
    from services_db.db import restrict
    from signpost.config import Settings

    config = Settings()
    # The data directory holds the embedded database and generated secrets: its owner's alone (0700).
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    restrict(config.data_dir, 0o700)
    # The postcode reverse index (GPS points, import place checks) is kept between runs in the data folder.
    PostcodeDirectory.default().set_cache_dir(config.data_dir / "cache")
    return config


def geocoder(config: Settings | None = None) -> NominatimGeocoder | None:
    """The online geocoder when ``SIGNPOST_GEOCODER`` is on, else ``None``.

    Only the staff commands (``signpost find``, ``signpost locate``) use it: a victim's words never leave the
    server, so the bot always locates offline.
    """
    config = config or settings()
    if not config.geocoder_enabled:
        return None
    from mapping.geocoder import NominatimGeocoder

    return NominatimGeocoder(user_agent=config.geocoder_user_agent)


def database(config: Settings | None = None, *, seed_new: bool = True) -> Engine:
    """The configured database, migrated to the current schema; a brand-new one is seeded with the national
    directory, an existing one brought up to the shipped entries users left unchanged (``seed_new=False``
    does neither)."""
    from services_db.db import make_engine

    config = config or settings()
    return _brought_up_to_date(make_engine(config.effective_database_url), seed_new=seed_new)


def database_for_reading(config: Settings | None = None) -> Engine:
    """The configured database for a command that only reads the directory: as :func:`database`, but when it
    needs no migration and no shipped entries applied (the usual case) it is handed over as it is, and the ORM
    models, a quarter of a quick read's time, are never built (read it through ``services_db.reading``)."""
    from services_db.db import make_engine
    from services_db.reading import directory_is_current

    config = config or settings()
    engine = make_engine(config.effective_database_url)
    return engine if directory_is_current(engine) else _brought_up_to_date(engine, seed_new=True)


def _brought_up_to_date(engine: Engine, *, seed_new: bool) -> Engine:
    from services_db.db import migrate

    migrate(engine)
    if seed_new:
        from sqlmodel import Session

        from services_db.seed import seed_if_new, seed_if_shipped_changed

        with Session(engine, expire_on_commit=False) as session:
            if seed_if_new(session=session) is None:
                seed_if_shipped_changed(session=session)
    return engine


def job_context(config: Settings | None = None, *, notify: Notifier | None = None) -> JobContext:
    """The context scheduled jobs run with; ``notify`` delivers staff messages on Telegram when the bot runs."""
    config = config or settings()
    from jobs.runner import JobContext

    return JobContext(
        engine=database(config),
        data_dir=config.data_dir,
        stale_after_days=config.stale_after_days,
        notify=notify,
        options={  # an empty setting (``SIGNPOST_CENSUS=`` in a .env) is no file
            "population": config.population_source or None,
            "census": config.census_source or None,
            "lsoa_lookup": config.lsoa_lookup_source or None,
            "partial": config.population_partial,
        },
    )


def web_app(config: Settings | None = None, *, engine: Engine | None = None) -> Any:
    """The web console (a FastAPI app) over the configured database."""
    from web import WebConfig, create_app  # FastAPI and Jinja2 load only for `signpost web`

    config = config or settings()
    return create_app(
        WebConfig(
            engine=engine or database(config),
            data_dir=config.data_dir,
            public_url=config.web_url,
            secure_cookies=config.web_secure_cookies,
            session_hours=config.web_session_hours,
            tiles_url=config.web_tiles_url,
            tiles_attribution=config.web_tiles_attribution,
            telegram_bot_token=config.telegram_bot_token,
            telegram_base_url=config.telegram_base_url,
            stale_after_days=config.stale_after_days,
        )
    )


def _warm_lookups() -> None:
    from mapping.places import Gazetteer
    from mapping.postcodes import PostcodeDirectory

    PostcodeDirectory.default().build_reverse_index()
    Gazetteer.default().warm()


def telegram_application(
    config: Settings | None = None,
    *,
    engine: Engine | None = None,
    with_jobs: bool = False,
    extensions: Sequence[Callable[[Application], None]] = (),  # type: ignore[type-arg]
    webhook_secret: str | None = None,
    rotate_chat_key_secret: bool = False,
    rotate_webhook_secret: bool = False,
) -> Application:  # type: ignore[type-arg]
    """The Telegram bot: engine + signposter over the directory, conversation store, staff ``extensions``; with
    ``with_jobs`` the scheduled jobs run in the bot's event loop and notify staff through it.

    The chat-key secret, and ``webhook_secret`` when serving a webhook, are checked against the fingerprints the
    database keeps (``services_db.shared_secrets``: raises ``SecretMismatch``); ``rotate_*`` replaces one."""
    # Imported here so that commands which never touch Telegram do not load it.
    from bot.adapters.telegram import VictimBot, build_application, staff_notifier
    from bot.adapters.telegram_admin import StaffBot
    from bot.engine import Engine as ConversationEngine
    from bot.persistence import SECRET_FILE, ChatKeyer, ConversationStore, chat_key_secret
    from bot.signposter import DirectorySignposter
    from jobs.schedule import build_scheduler
    from mapping.crs import prepare_thread
    from services_db.shared_secrets import check_shared_secret

    config = config or settings()
    if not config.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set: put the token from @BotFather in the environment or .env")
    engine = engine or database(config)
    secret = chat_key_secret(configured=config.chat_key_secret, data_dir=config.data_dir)
    check_shared_secret(engine=engine, setting=CHAT_KEY_SETTING, secret=secret, replace=rotate_chat_key_secret)
    if webhook_secret is not None:
        check_shared_secret(
            engine=engine, setting=WEBHOOK_SETTING, secret=webhook_secret.encode(), replace=rotate_webhook_secret
        )
        if not config.chat_key_secret and not config.is_sqlite:
            log.warning(
                "SIGNPOST_CHAT_KEY_SECRET is not set: this worker uses the secret generated in %s, known to this "
                "machine only, so a worker elsewhere on this database refuses to start. Set one "
                "SIGNPOST_CHAT_KEY_SECRET on every worker (and start one of them once with --rotate-chat-key-secret)",
                config.data_dir / SECRET_FILE,
            )
    signposter = DirectorySignposter.from_database(engine, background=True)  # never waits on the database
    conversations = ConversationEngine(signposter, stale_after_days=config.stale_after_days)
    # Notes travel sealed in the conversation row, so any worker can take the next answer.
    ttl = timedelta(hours=config.conversation_ttl_hours)
    store = ConversationStore(engine, keyer=ChatKeyer(secret), ttl=ttl, notes=conversations)
    victim_bot = VictimBot(engine=conversations, store=store, thread_setup=prepare_thread)
    staff = StaffBot.from_database(  # PCC team commands
        engine, stale_after_days=config.stale_after_days, console_url=config.web_url
    )
    on_start: list[Callable[[Application], Awaitable[None]]] = [staff.set_staff_menus]  # type: ignore[type-arg]
    on_stop: list[Callable[[Application], Awaitable[None]]] = []  # type: ignore[type-arg]

    async def warm_lookups(application: Application) -> None:  # type: ignore[type-arg]
        # Build the GPS and place-name lookups in the background, so the first shared location is quick too.
        threading.Thread(target=_warm_lookups, name="warm-lookups", daemon=True).start()
        victim_bot.start_threads()  # and the store threads, each with its PROJ transforms

    on_start.append(warm_lookups)
    if with_jobs:
        schedulers: list[Any] = []

        async def start_jobs(application: Application) -> None:  # type: ignore[type-arg]
            context = job_context(config, notify=staff_notifier(application))
            schedulers.append(build_scheduler(engine, context))
            schedulers[-1].start()

        async def stop_jobs(application: Application) -> None:  # type: ignore[type-arg]
            for scheduler in schedulers:
                scheduler.shutdown(wait=False)

        on_start.append(start_jobs)
        on_stop.append(stop_jobs)
    return build_application(
        token=config.telegram_bot_token,
        victim_bot=victim_bot,
        base_url=config.telegram_base_url,
        base_file_url=config.telegram_base_file_url,
        extensions=[staff.extension, *extensions],
        on_start=on_start,
        on_stop=on_stop,
    )
