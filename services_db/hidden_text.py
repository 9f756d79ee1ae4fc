"""Characters a reader cannot see, or that make text read otherwise than it is stored: one list for the import,
account names and anything else people type that others will read (an audit trail, a victim's screen)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["HIDDEN_PATTERN", "hidden_character"]

# Characters nobody can see or that reverse the text around them (U+202E shows "gnp.exe" as "exe.png"), control
# characters other than newline and tab, and lone surrogates (JSON "\ud800"), which no output can encode.
# The format characters (Unicode category Cf) are listed by hand: computing them costs every start 0.3 s.
HIDDEN_PATTERN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)


def hidden_character(char: str) -> str:
    """What ``char`` is, for a message: ``an invisible or control character (U+202E RIGHT-TO-LEFT OVERRIDE)``."""
    code = f"U+{ord(char):04X}"
    if "\ud800" <= char <= "\udfff":
        return f"a broken character ({code}, half of a surrogate pair)"
    name = unicodedata.name(char, "")
    return f"an invisible or control character ({code}{' ' + name if name else ''})"
