"""Errors sorted by what the caller should do.

`RetriableError`: try again later (429, 5xx, timeouts), honouring ``retry_after``.
`AuthError`: credentials or a signature are wrong; retrying will not help.
`FatalError`: stop the run (e.g. Salesforce's daily ``REQUEST_LIMIT_EXCEEDED``, a quota guard; its
concurrency ``REQUEST_LIMIT_EXCEEDED`` is retriable);
`VendorRefused` when the vendor refused the request itself, `BadCursor` for a saved cursor
the adapter did not write.
`RecordError`: one record was rejected; the rest of the batch goes on.
"""

from __future__ import annotations

from typing import Any


class CanaryIntegrationError(Exception):
    """Base of every error raised by `integrations`.

    Every one pickles with its attributes (``status``, ``retry_after``, ...) and notes: a pull read in another
    process (`sync.runner`) hands its error to the sync that way. The default pickling calls the class with
    ``args`` alone, which the errors with keyword-only attributes refuse."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt, (type(self), self.args, dict(self.__dict__))


def _rebuilt(kind: type[CanaryIntegrationError], args: tuple[Any, ...], state: dict[str, Any]
             ) -> CanaryIntegrationError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class RetriableError(CanaryIntegrationError):
    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class AuthError(CanaryIntegrationError):
    """Credentials rejected, or a request signature that does not verify."""


class SignatureError(AuthError):
    """An embedded request (signed URL, Canvas signed request, HubSpot v3 signature) failed verification.

    The message is safe to show to the caller: it never contains a secret.
    """


class FatalError(CanaryIntegrationError):
    """Stop the run; a later run may succeed once the cause is gone."""


class VendorRefused(FatalError):
    """The vendor refused the request itself (a 4xx other than auth and rate limits).

    ``status`` is the HTTP status (None when no answer came), ``code`` the vendor's error code
    where it sends one, ``body`` the decoded error body; the message is the vendor's own words.
    """

    def __init__(self, message: str, *, status: int | None, code: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body


class BadCursor(FatalError):
    """A saved cursor this adapter did not write, or a damaged one; a full sync starts over."""


class RecordError(CanaryIntegrationError):
    def __init__(self, message: str, *, external_id: str | None = None) -> None:
        super().__init__(message)
        self.external_id = external_id
