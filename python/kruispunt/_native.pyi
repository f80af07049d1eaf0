# Type stub of the Rust extension `kruispunt._native` (python/src/lib.rs). Keep in step with it.
from os import PathLike
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence, Union

KINDS: list[str]
SDK_VERSION: str

_Errors = Literal["raise", "null"]
_Path = Union[str, PathLike[str]]

class Canonical:
    """A canonical form with the findings that did not make it invalid."""

    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def warnings(self) -> list[str]: ...

def normalise(kind_name: str, value: str) -> str:
    """The canonical form of ``value`` read as identifier ``kind_name``; raises IdentifierError."""

def canonical(kind_name: str, value: str) -> Canonical:
    """Like ``normalise``, with the warnings."""

def normalise_persoon(
    geslachtsnaam: str, voornamen: str, tussenvoegsel: str, geboortedatum: str
) -> str:
    """The canonical form of a natural person given as four separate fields."""

def normalise_column(
    kind_name: str,
    values: Sequence[Optional[str]],
    *,
    errors: _Errors = "raise",
    threads: Optional[int] = None,
) -> list[Optional[str]]:
    """The canonical forms of a column, without the GIL; ``None`` stays ``None``."""

class CoalitionKey:
    """The 32-byte secret of a coalition with its version; never printed."""

    def __init__(self, hex_key: str, version: int = 1) -> None: ...
    @staticmethod
    def generate(version: int = 1) -> CoalitionKey: ...
    @staticmethod
    def from_member_state(path: _Path, coalition: str) -> CoalitionKey: ...
    @property
    def version(self) -> int: ...
    def pseudonymiser(self, kind_name: str) -> Pseudonymiser: ...
    def pseudonymise(self, kind_name: str, value: str) -> str: ...

class Pseudonymiser:
    """A per-kind key derived from a coalition key."""

    @property
    def kind(self) -> str: ...
    @property
    def version(self) -> int: ...
    def pseudonymise(self, value: str) -> str: ...
    def pseudonymise_canonical(self, canonical: str) -> str: ...
    def pseudonymise_column(
        self,
        values: Sequence[Optional[str]],
        *,
        errors: _Errors = "raise",
        threads: Optional[int] = None,
    ) -> list[Optional[str]]: ...

class Checkpoint:
    """A signed checkpoint that verified."""

    @property
    def origin(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def root(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def key(self) -> str: ...

class LogReport:
    """What a log verification checked."""

    @property
    def origin(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def root(self) -> str: ...
    @property
    def entries_checked(self) -> int: ...
    @property
    def leaves_only(self) -> int: ...
    @property
    def erased(self) -> int: ...
    @property
    def erased_unchecked(self) -> int: ...
    @property
    def trusted_size(self) -> Optional[int]: ...

def verify_checkpoint(note: str, key: str) -> Checkpoint: ...
def verify_log(
    note: str,
    key: str,
    entries: Union[str, Iterable[Mapping[str, Any]]],
    *,
    trusted: Optional[Checkpoint] = None,
) -> LogReport: ...
def verify_export(directory: _Path, *, trusted: Optional[Checkpoint] = None) -> LogReport: ...

class Client:
    """The SDK's HTTPS client of one broker, as one partner user."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca: Optional[_Path] = None,
        cert: Optional[_Path] = None,
        key: Optional[_Path] = None,
        timeout: float = 60.0,
        retries: int = 5,
    ) -> None: ...
    @property
    def base_url(self) -> str: ...
    def health(self) -> None: ...
    def upload(self, signals: Sequence[Mapping[str, Any]]) -> dict[str, Any]: ...
    def upload_bulk(self, signals: Sequence[Mapping[str, Any]]) -> dict[str, Any]: ...
    def match(
        self,
        purpose: str,
        identifiers: Sequence[Mapping[str, Any]],
        *,
        level: str = "hit",
        justification: Optional[str] = None,
        case_reference: Optional[str] = None,
        legal_basis: Optional[str] = None,
        consent_id: Optional[str] = None,
        coalition: Optional[str] = None,
    ) -> dict[str, Any]: ...
    def aggregates(self, question: Mapping[str, Any]) -> dict[str, Any]: ...
    def withdraw(self, signal_id: str) -> dict[str, Any]: ...
    def audit_checkpoint(self) -> Checkpoint: ...
    def verify_audit_log(self, *, trusted: Optional[Checkpoint] = None) -> LogReport: ...
