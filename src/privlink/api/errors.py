"""AWS-shaped errors.

Handlers raise :class:`AwsError`; the protocol layer turns it into the error body of the
service's wire protocol. Nothing else ever reaches a client: an unexpected exception becomes
``InternalError`` (HTTP 500) with no traceback.
"""

from __future__ import annotations


class AwsError(Exception):
    """An error as AWS reports it: a code, a message and an HTTP status.

    ``sender`` says whose fault it is (``Sender`` for 4xx, ``Receiver`` for 5xx) for the
    protocols that carry it.
    """

    def __init__(self, code: str, message: str, status: int = 400, *, headers: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.headers = headers or {}

    @property
    def sender(self) -> str:
        return "Sender" if self.status < 500 else "Receiver"

    def __repr__(self) -> str:
        return f"AwsError({self.code!r}, {self.message!r}, {self.status})"


class ValidationFailure(AwsError):
    """Input that does not fit the operation's input shape.

    Raised by the protocol parsers with a generic code; the dispatcher rewrites the code to
    the service's own validation error (``InvalidParameterValue`` for EC2, ``ValidationError``
    for ELBv2, ``InvalidInput`` for Route 53 …) before it is serialised.
    """

    def __init__(self, message: str, *, missing: str | None = None):
        super().__init__("ValidationError", message, 400)
        self.missing = missing


def internal_error() -> AwsError:
    return AwsError(
        "InternalError", "An internal error has occurred. Please retry your request.", 500
    )
