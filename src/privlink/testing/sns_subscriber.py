"""A webhook subscriber for tests: an HTTP(S) server on 127.0.0.1 that records what SNS
POSTs and confirms subscriptions by fetching the SubscribeURL, as a real subscriber does.

    with SnsSubscriber() as hook:
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=hook.url)
        hook.wait_for(lambda rs: any("confirm_response" in r for r in rs))
        ...
        hook.wait_for(lambda rs: len(hook.notifications()) >= 1)
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .embedded import free_port


class SnsSubscriber:
    """A webhook on 127.0.0.1 that records every POST and, when ``confirm`` is on, confirms
    subscriptions by fetching the SubscribeURL as a real subscriber would."""

    def __init__(
        self, port: int | None = None, *, confirm: bool = True, status: int = 200, tls=None
    ):
        self.port = port or free_port()
        self.confirm = confirm
        self.status = status
        self.tls = tls  # (certfile, keyfile) to serve https
        self.received: list[dict] = []
        self.cond = threading.Condition()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    def start(self) -> SnsSubscriber:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                entry = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                try:
                    entry["json"] = json.loads(body)
                except ValueError:
                    entry["json"] = None
                with outer.cond:  # recorded before answering: the order is privlink's
                    outer.received.append(entry)
                    outer.cond.notify_all()
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                doc = entry["json"] if isinstance(entry["json"], dict) else {}
                if (
                    outer.status == 200
                    and outer.confirm
                    and doc.get("Type") == "SubscriptionConfirmation"
                ):
                    with urllib.request.urlopen(doc["SubscribeURL"], timeout=10) as r:
                        answer = r.read()
                    with outer.cond:
                        entry["confirm_response"] = answer
                        outer.cond.notify_all()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, pred, timeout: float = 10.0) -> list[dict]:
        deadline = time.time() + timeout
        with self.cond:
            while not pred(self.received):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(
                        f"timed out; received {[r['json'] for r in self.received]}"
                    )
                self.cond.wait(left)
            return list(self.received)

    def notifications(self) -> list[dict]:
        return [
            r for r in self.received if r["headers"].get("x-amz-sns-message-type") == "Notification"
        ]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
