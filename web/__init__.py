"""The web console for PCC teams, analysts and admins: FastAPI + Jinja2, server-rendered, a thin adapter.

Every decision goes through :mod:`services_db.access` and every change through :mod:`services_db`'s repository
and importer, exactly as in the chat app: the console holds no rule of its own. See :func:`web.app.create_app`.
"""

from __future__ import annotations

from web.app import create_app
from web.config import WebConfig

__all__ = ["WebConfig", "create_app"]
