"""Web addresses a victim may be sent to: the rules for an address field, and the addresses inside free text.

Telegram turns ``www.gov.uk@evil.example``, ``https://...`` and bare site names like ``report-it.org.uk`` in
any message into links, so an address written into a description is as clickable as the ``web`` column: the
same rules apply to both (https only, no user name before the site, no unusual port, no internationalised or
look-alike site names of gov.uk, police.uk and nhs.uk, no IP addresses).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import urlsplit

__all__ = ["HOST_PATTERN", "PROTECTED_DOMAINS", "addresses_in_text", "lookalike", "url_problem"]

HOST_PATTERN = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
PROTECTED_DOMAINS = ("gov.uk", "police.uk", "nhs.uk")
_LOOKALIKE_DIGITS = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s"})
_DOTS = str.maketrans({"\uff0e": ".", "\u3002": ".", "\uff61": "."})  # full-width and ideographic full stops
# A piece of text between spaces and brackets: where an address could be.
_CHUNK = re.compile(r"[^\s<>()\[\]{}\"'\u201c\u201d\u2018\u2019,;]+")
# A bare site name (Unicode letters allowed so that look-alikes are seen), with an optional port and path.
_BARE = re.compile(r"^((?:[\w-]+\.)+[^\W\d_]{2,63})(?::\d+)?(?:[/?#]\S*)?$")
_IPV4 = re.compile(r"^(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?:[/?#]\S*)?$")


def lookalike(host: str) -> str | None:
    """The protected domain ``host`` imitates (``gov.uk.example.com``, ``g0v-uk.org``), or ``None``."""
    host = host.lower().rstrip(".")
    if any(host == d or host.endswith("." + d) for d in PROTECTED_DOMAINS):
        return None
    squashed = re.sub(r"[^a-z]", "", host.translate(_LOOKALIKE_DIGITS))
    return next((d for d in PROTECTED_DOMAINS if d.replace(".", "") in squashed), None)


def url_problem(value: str, *, plain_http: bool = False) -> str | None:
    """Why a victim should not be sent to ``value`` (any scheme but https, user info, look-alikes), or ``None``.

    ``plain_http`` lets an ``http://`` address through (the caller warns): some small services' own sites have
    no https yet, and they are still the service's address.
    """
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "is not a web address: copy it from the browser's address bar"
    if host and not host.isascii():
        return (
            "has letters from other alphabets in the site name, which can imitate another site: give the plain address"
        )
    if parts.scheme.lower() != "https" and not (plain_http and parts.scheme.lower() == "http"):
        return "must start with https:// (a secure address); other kinds of address are not offered to victims"
    if not host or not HOST_PATTERN.match(host) or re.search(r"\s", value):
        return "is not a web address: copy it from the browser's address bar"
    if "@" in parts.netloc:
        return (
            "has a user name or '@' before the site name, which hides the real site"
            f" (this one goes to {host!r}): give the plain address"
        )
    if port not in (None, 443):
        return f"uses port {port}: give the site's ordinary https:// address"
    if any(label.startswith("xn--") for label in host.split(".")):
        return "uses an internationalised (xn--) site name, which can imitate another site: give the plain address"
    imitated = lookalike(host)
    if imitated:
        return (
            f"goes to {host!r}, which looks like a {imitated} address but is not one: give the real {imitated} address"
        )
    return None


def _foreign_letters(host: str) -> bool:
    """Whether a site name has letters a reader may take for others: another alphabet, or accents on a name that
    reads as a protected domain without them (``gov.ük``)."""
    if any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in host):
        return True
    plain = unicodedata.normalize("NFKD", host).encode("ascii", "ignore").decode()
    return plain != host and (lookalike(plain) is not None or plain.lower().endswith(PROTECTED_DOMAINS))


def _chunk_problem(chunk: str) -> tuple[str, bool] | None:
    """What is wrong with one address-like piece of text, and whether it is only a warning (plain http)."""
    lowered = chunk.lower()
    if "://" in chunk:
        problem = url_problem(chunk, plain_http=True)
        if problem is None and lowered.startswith("http://"):
            return "is not secure (http): use the https:// address if the site has one", True
        return (problem, False) if problem else None
    if lowered.startswith("www."):
        problem = url_problem("https://" + chunk)
        return (problem, False) if problem else None
    if _IPV4.match(chunk):
        return "is an IP address, which hides which site it is: give the site's name", False
    if "@" in chunk:
        before, _, after = chunk.rpartition("@")
        if "/" in before or ":" in before or lookalike(before) or before.lower().endswith(PROTECTED_DOMAINS):
            return (
                f"has a site name or user name before '@', which hides the real site (this one goes to {after!r}):"
                " give the plain address",
                False,
            )
        chunk = after
    bare = _BARE.match(chunk)
    if bare is None:
        return None
    host = bare.group(1)
    if not host.isascii():
        if _foreign_letters(host):
            return (
                "has letters from other alphabets in the site name, which can imitate another site: give the plain"
                " address",
                False,
            )
        return None
    if not HOST_PATTERN.match(host):
        return None  # a file name like leaflet_2024.pdf, not a site
    problem = url_problem("https://" + chunk)
    if problem is None or problem.startswith("is not a web address"):
        return None
    return problem, False


def addresses_in_text(text: str) -> Iterator[tuple[str, str, bool]]:
    """Each web or e-mail address in ``text`` that breaks the address rules: ``(address, why, warning only)``."""
    for match in _CHUNK.finditer(text.translate(_DOTS)):
        chunk = match.group().strip(".:!?*")
        if "." not in chunk:
            continue
        found = _chunk_problem(chunk)
        if found is not None:
            yield chunk, found[0], found[1]
