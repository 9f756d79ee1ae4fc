"""Who the command line acts as: the operator, named by OS account and host in the audit trail.

The command line needs the database's own credentials, so whoever runs it is the system operator and no role
check could bind them (they could edit the database directly). Staff work through the bot and the web console,
where their role is checked; the audit trail says plainly which changes came from an operator.
"""

from __future__ import annotations

import getpass
import os
import re
import socket

from signpost.cli.console import CONTROL_CHARACTERS, escape_controls, fail

__all__ = ["operator_actor"]


def _os_user() -> str:
    """The OS account running the process (from the uid, not from $USER or $LOGNAME, which anyone can set)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no pwd module (Windows) or a uid without a passwd entry (containers)
        return getpass.getuser() if os.name == "nt" else f"uid {os.getuid()}"


def _shown(text: str) -> str:
    """``text`` on one line with its hidden characters as codes (``\\n``, ``\\u202e``)."""
    return escape_controls(text).replace("\n", "\\n").replace("\t", "\\t")


def operator_actor(for_whom: str | None = None) -> str:
    """``"operator alice@host"``, with ``" for <note>"`` when the operator says on whose behalf they act; a note
    with control or invisible characters is refused (exit 2)."""
    actor = f"operator {_os_user()}@{socket.gethostname()}"
    note = (for_whom or "").strip()
    hidden = CONTROL_CHARACTERS.search(note) or re.search("[\t\n]", note)  # one line in the audit trail
    if hidden:
        fail(
            f"--actor '{_shown(note)}' contains a control or invisible character"
            f" ({_shown(hidden.group())} at character {hidden.start() + 1}), which would show false text in"
            " the audit trail: type the name again without it"
        )
    return (f"{actor} for {note}" if note else actor)[:120]
