"""Shared pieces of the command line: errors, and finding a running privlink."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


class CliError(Exception):
    """One clear sentence for the user; the command exits non-zero."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def add_endpoint_arg(p) -> None:
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help=f"the privlink server to ask (default: $AWS_ENDPOINT_URL, else {DEFAULT_ENDPOINT})",
    )


def endpoint_url(args) -> str:
    url = (
        getattr(args, "endpoint_url", None)
        or os.environ.get("AWS_ENDPOINT_URL")
        or DEFAULT_ENDPOINT
    )
    return url.rstrip("/")


def check_url(base: str) -> str:
    """``base`` if it is an http(s) URL with a host, else one sentence saying it is not."""
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"{base!r} is not a privlink endpoint URL (like {DEFAULT_ENDPOINT}); "
            "check --endpoint-url or $AWS_ENDPOINT_URL"
        )
    return base


def _unreachable(base: str, e: Exception) -> CliError:
    reason = getattr(e, "reason", e)
    return CliError(
        f"no privlink server answers at {base} ({reason}); start one with 'privlink up' or pass"
        " --endpoint-url"
    )


def call_extension(
    base: str, path: str, params: dict | None = None, method: str = "GET", timeout: float = 10.0
):
    """Call privlink's own API (``/_privlink/<path>``) and return the decoded JSON."""
    check_url(base)
    url = f"{base}/_privlink/{path}"
    data = None
    if params and method == "GET":
        url += "?" + urllib.parse.urlencode(params)
    elif params:
        data = json.dumps(params).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get("error") or str(e)
        except (ValueError, AttributeError):
            msg = str(e)
        raise CliError(msg) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        raise _unreachable(base, e) from None
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise CliError(
            f"the server at {base} is not privlink (its answer to /_privlink/{path} is not JSON)"
        ) from None


def server_health(base: str) -> dict:
    """GET /_privlink/health, or one sentence saying why ``base`` is not a privlink ready to
    serve."""
    check_url(base)
    url = f"{base}/_privlink/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        if e.code == 503:
            raise CliError(
                f"the privlink server at {base} is still starting; try again in a moment"
            ) from None
        raise CliError(
            f"the server at {base} is not privlink (GET /_privlink/health answered HTTP {e.code})"
        ) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as e:
        raise _unreachable(base, e) from None
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("status") != "ok":
        raise CliError(
            f"the server at {base} is not privlink (its health answer is not privlink's)"
        )
    return doc
