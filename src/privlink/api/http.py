"""The HTTP edge: one port for every AWS service, plus privlink's own ``/_privlink/`` API.

This is the only I/O in api/: it turns aiohttp requests into :class:`HttpRequest`, hands
them to :class:`~privlink.api.dispatch.Api`, and writes the :class:`HttpResponse` back.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web, web_protocol, web_server

from .dispatch import Api
from .errors import AwsError
from .protocol import HttpRequest, HttpResponse

log = logging.getLogger("privlink.http")

ExtensionHandler = Callable[[HttpRequest], "HttpResponse | dict | Awaitable[HttpResponse | dict]"]


class ExtensionError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(data, status: int = 200) -> HttpResponse:
    return HttpResponse(
        status, {"Content-Type": "application/json"}, json.dumps(data, indent=1).encode()
    )


class HttpFront:
    def __init__(self, api: Api, max_body: int):
        self.api = api
        self.max_body = max_body
        self.extensions: dict[tuple[str, str], ExtensionHandler] = {}
        self._server: asyncio.AbstractServer | None = None
        self._web_server: web_server.Server | None = None

    def add_extension(
        self, method: str, path: str, handler: ExtensionHandler, also_at: str | None = None
    ) -> None:
        """Serve ``method /_privlink/<path>`` with ``handler``; ``also_at`` is a second,
        conventional path outside ``/_privlink/`` (e.g. ``/metrics`` for Prometheus), served
        to requests that carry no AWS signature."""
        self.extensions[(method.upper(), "/_privlink/" + path.strip("/"))] = handler
        if also_at is not None:
            self.extensions[(method.upper(), "/" + also_at.strip("/"))] = handler

    async def start(self, host: str, port: int) -> int:
        self._web_server = web_server.Server(self._handle, request_factory=None, access_log=None)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._web_server, host, port, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        if self._web_server:
            await self._web_server.shutdown(timeout=0.05)

    async def _read_body(self, request: web.BaseRequest) -> bytes | None:
        if request.content_length is not None and request.content_length > self.max_body:
            return None
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            headers: dict[str, str] = {}
            for k, v in request.headers.items():
                lk = k.lower()
                headers[lk] = f"{headers[lk]},{v}" if lk in headers else v
            raw_path = request.rel_url.raw_path
            req = HttpRequest(
                method=request.method.upper(),
                path=unquote(raw_path),
                query=request.rel_url.raw_query_string,
                headers=headers,
                body=b"",
                raw_path=raw_path,
            )
            if req.path.startswith("/_privlink/") or (
                (req.method, req.path) in self.extensions and "authorization" not in headers
            ):
                req.body = await self._read_body(request) or b""
                resp = await self._extension(req)
            else:
                body = await self._read_body(request)
                if body is None:
                    resp = self.api.size_error(req, self.max_body)
                    return self._to_web(resp, close=True)
                req.body = body
                resp = self.api.handle(req)
            return self._to_web(resp)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("unexpected failure serving a request")
            return web.Response(status=500, text="internal error\n")

    async def _extension(self, req: HttpRequest) -> HttpResponse:
        handler = self.extensions.get((req.method, req.path.rstrip("/")))
        if handler is None:
            known = sorted({p for _, p in self.extensions})
            return json_response(
                {"error": f"no privlink API at {req.method} {req.path}", "known": known}, 404
            )
        try:
            out = handler(req)
            if inspect.isawaitable(out):
                out = await out
        except ExtensionError as e:
            return json_response({"error": e.message}, e.status)
        except AwsError as e:
            return json_response({"error": e.message, "code": e.code}, e.status)
        if isinstance(out, HttpResponse):
            return out
        return json_response(out)

    @staticmethod
    def _to_web(resp: HttpResponse, close: bool = False) -> web.Response:
        r = web.Response(status=resp.status, body=resp.body, headers=resp.headers)
        if close:
            r.force_close()
        return r


__all__ = ["HttpFront", "ExtensionError", "json_response", "web_protocol"]
