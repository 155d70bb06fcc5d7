"""The error hierarchy: each class names its branch and code once, in its header."""

from __future__ import annotations

import pytest
from shopmail.errors import (
    ConfigurationError,
    ErrorKind,
    InvalidTokenError,
    PermanentError,
    RawMailMissingError,
    ServiceUnavailableError,
    ShopmailError,
    TransientError,
)


@pytest.mark.parametrize(
    ("cls", "kind", "code"),
    [
        (PermanentError, ErrorKind.PERMANENT, "permanent"),
        (TransientError, ErrorKind.TRANSIENT, "transient"),
        (ConfigurationError, ErrorKind.CONFIGURATION, "configuration"),
        (RawMailMissingError, ErrorKind.PERMANENT, "raw_mail_missing"),
        (ServiceUnavailableError, ErrorKind.TRANSIENT, "service_unavailable"),
    ],
)
def test_each_class_has_its_branch_and_code(
    cls: type[ShopmailError], kind: ErrorKind, code: str
) -> None:
    error = cls("why", key="k1")
    assert (error.kind, error.code, error.permanent) == (kind, code, kind is ErrorKind.PERMANENT)
    assert error.to_dict() == {
        "error": cls.__name__,
        "code": code,
        "permanent": kind is ErrorKind.PERMANENT,
        "kind": str(kind),
        "reason": "why",
        "context": {"key": "k1"},
    }


def test_a_subclass_inherits_what_it_does_not_name() -> None:
    class UnnamedError(InvalidTokenError):
        pass

    class NamedError(UnnamedError, code="own"):
        pass

    assert (UnnamedError.kind, UnnamedError.code) == (ErrorKind.PERMANENT, "invalid_token")
    assert (NamedError.kind, NamedError.code) == (ErrorKind.PERMANENT, "own")
    assert NamedError("bad", problem="forged").problem == "forged"
