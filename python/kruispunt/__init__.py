"""Kruispunt for analysts: the Rust SDK's normalisation, pseudonyms, audit-log verifier and
broker client, from Python.

Nothing here re-implements the SDK: every function calls ``kruispunt-sdk`` through a PyO3
extension (``kruispunt._native``), so a value normalised or pseudonymised in a notebook gives
exactly the bytes the partners' Rust code, the ``kruispunt`` CLI and docs/PSEUDONYMS.md give.

>>> import kruispunt
>>> kruispunt.normalise("kenteken", "gb-001-b")
'GB001B'
>>> key = kruispunt.CoalitionKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
>>> key.pseudonymiser("kenteken").pseudonymise_column(["GB-001-B", None])[1] is None
True

See docs/PYTHON.md for a walk through.
"""

from __future__ import annotations

from . import errors
from ._native import (
    KINDS,
    SDK_VERSION,
    Canonical,
    Checkpoint,
    Client,
    CoalitionKey,
    LogReport,
    Pseudonymiser,
    canonical,
    normalise,
    normalise_column,
    normalise_persoon,
    verify_checkpoint,
    verify_export,
    verify_log,
)
from .errors import (
    ClientConfigError,
    CoalitionKeyError,
    ExportError,
    IdentifierError,
    KruispuntError,
    ProblemError,
    TransportError,
    UnexpectedAnswer,
    VerificationError,
)

__version__ = SDK_VERSION

__all__ = [
    "KINDS",
    "SDK_VERSION",
    "Canonical",
    "Checkpoint",
    "Client",
    "CoalitionKey",
    "LogReport",
    "Pseudonymiser",
    "canonical",
    "normalise",
    "normalise_column",
    "normalise_persoon",
    "verify_checkpoint",
    "verify_export",
    "verify_log",
    "errors",
    "ClientConfigError",
    "CoalitionKeyError",
    "ExportError",
    "IdentifierError",
    "KruispuntError",
    "ProblemError",
    "TransportError",
    "UnexpectedAnswer",
    "VerificationError",
]
