"""The exceptions of :mod:`kruispunt`.

Every exception the package raises is a :class:`KruispuntError`. Branch on the attributes
(``rule``, ``type``, ``reasons``, ``index``), never on the message text.
"""

from __future__ import annotations

from typing import Optional


class KruispuntError(Exception):
    """Base class of every error :mod:`kruispunt` raises."""


class IdentifierError(KruispuntError, ValueError):
    """A value is not a valid identifier of its kind.

    ``str(e)`` reads ``kind "part": rule "rule": reason`` (prefixed ``value N:`` in a column).

    Attributes:
        kind: the identifier kind it was read as (``kenteken``, ``kvk``, …).
        rule: the stable rule id (``length``, ``sidecode``, ``elfproef``, ``mod97``, …; listed
            per kind in docs/PSEUDONYMS.md): programs match on this.
        part: the offending part of the input, as given (cut at 64 characters).
        reason: what was expected and what was found, for people.
        index: the value's position in the column, or ``None`` for a single value.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        rule: str,
        part: str,
        reason: str,
        index: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.rule = rule
        self.part = part
        self.reason = reason
        self.index = index


class CoalitionKeyError(KruispuntError, ValueError):
    """A coalition key that is not 64 hex characters, or a member state without the key."""


class VerificationError(KruispuntError):
    """A checkpoint or log does not verify.

    Attributes:
        index: the first entry that does not match (when the failure concerns one entry).
    """

    def __init__(self, message: str, *, index: Optional[int] = None) -> None:
        super().__init__(message)
        self.index = index


class ExportError(KruispuntError, OSError):
    """An export directory that cannot be read (a missing file, a line that is not JSON)."""


class ClientConfigError(KruispuntError, ValueError):
    """The client or a request was given bad settings or values (URL, CA, a field the API
    does not know)."""


class TransportError(KruispuntError, ConnectionError):
    """The request did not reach the broker, or its answer did not arrive."""


class UnexpectedAnswer(KruispuntError):
    """The broker answered something the API does not describe (or an audit log that does not
    verify, when the client verifies it).

    Attributes:
        status: the HTTP status.
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ProblemError(KruispuntError):
    """The broker refused with an RFC 9457 problem.

    Attributes:
        status: the HTTP status (403, 422, 429, …).
        type: the problem type URI (``urn:kruispunt:problem:policy-denied``); see ``slug``.
        title: the problem type's short title.
        detail: what went wrong with this request, for people.
        reasons: the policy's reason codes (docs/POLICY.md), empty unless the policy refused.
        request_id: the broker's request id (give it to the operator), if sent.
        retry_after: seconds the broker asked to wait (429, some 503), if sent.
    """

    PREFIX = "urn:kruispunt:problem:"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type: str,
        title: str,
        detail: str,
        reasons: list[str],
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.reasons = reasons
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def slug(self) -> str:
        """The stable part of ``type`` (``policy-denied``, ``token-expired``, …; docs/API.md)."""
        if self.type.startswith(self.PREFIX):
            return self.type[len(self.PREFIX) :]
        return self.type


__all__ = [
    "KruispuntError",
    "IdentifierError",
    "CoalitionKeyError",
    "VerificationError",
    "ExportError",
    "ClientConfigError",
    "TransportError",
    "UnexpectedAnswer",
    "ProblemError",
]
