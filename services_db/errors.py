"""Errors a user can cause in the directory: each carries a ``message`` saying what to fix.

They live apart from the repository so that a command that only reads (``signpost services show``) can say
"no such service" without loading the ORM; ``services_db.repository`` exports them too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

__all__ = [
    "ChangedMeanwhile",
    "DirectoryError",
    "ServiceAlreadyExists",
    "ServiceNotFound",
    "UnknownCommissioner",
    "VersionConflict",
    "VersionNotFound",
]


class DirectoryError(Exception):
    """A change the directory refused; ``message`` says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceNotFound(DirectoryError):
    def __init__(self, service_id: str) -> None:
        super().__init__(f"no service with id {service_id!r}: check the id with `signpost services list`")
        self.service_id = service_id


class ServiceAlreadyExists(DirectoryError):
    def __init__(self, service_id: str) -> None:
        super().__init__(f"a service with id {service_id!r} already exists: choose another id or update it")
        self.service_id = service_id


class ChangedMeanwhile(DirectoryError):
    """Another change saved the same new service ids (or history entries) first; nothing of this one was written."""

    def __init__(self) -> None:
        super().__init__(
            "the directory changed meanwhile (someone else saved the same services at the same moment): nothing"
            " was written; run it again to see the new differences"
        )


class VersionConflict(DirectoryError):
    """Someone else changed the service since it was read (``actual`` is ``None`` when it was deleted)."""

    def __init__(self, service_id: str, expected: int, actual: int | None) -> None:
        now = f"is now at version {actual}" if actual is not None else "has since been deleted"
        super().__init__(
            f"service {service_id!r} was changed by someone else: you edited version {expected} but it {now}; "
            "reload it, re-apply your change and save again"
        )
        self.service_id, self.expected, self.actual = service_id, expected, actual


class UnknownCommissioner(DirectoryError):
    def __init__(self, codes: Collection[str]) -> None:
        listed = ", ".join(sorted(codes))
        super().__init__(
            f"unknown commissioner code(s): {listed}; use a code listed by the directory's commissioners "
            "(they are loaded with the geography and the national seed) or leave commissioner_code empty"
        )
        self.codes = tuple(sorted(codes))


class VersionNotFound(DirectoryError):
    def __init__(self, service_id: str, version: int, available: Sequence[int]) -> None:
        choices = ", ".join(str(v) for v in available) or "none"
        super().__init__(
            f"service {service_id!r} has no recorded version {version}; versions you can restore: {choices} "
            f"(see `signpost services history {service_id}`)"
        )
        self.service_id, self.version, self.available = service_id, version, tuple(available)
