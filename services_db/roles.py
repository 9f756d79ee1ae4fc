"""Staff roles (what each may do: ``services_db.access``), in a module of their own so that the command line can
offer them in its ``--help`` without importing SQLAlchemy (``services_db.access`` re-exports :class:`Role`)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    PCC_EDITOR = "pcc_editor"
    ANALYST = "analyst"
    ADMIN = "admin"
