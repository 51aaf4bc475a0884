"""``privlink lab``: the whole PrivateLink path, end to end."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from .common import CliError

HELP = "walk the PrivateLink hands-on lab and its end-to-end checklist against privlink"
EXAMPLE = """examples:
  privlink lab                        # an embedded privlink, torn down at the end
  privlink lab --keep                 # leave it all running and print how to use it
  privlink lab --endpoint-url http://127.0.0.1:4566 --json

The lab acts as two accounts: a provider (111111111111) and a consumer (222222222222) acting
through the assumed role arn:aws:iam::222222222222:role/lab-consumer-role. Every step prints
the aws CLI command it is equivalent to, what it expected and what it saw.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "lab",
        help=HELP,
        description=HELP + ".",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--endpoint-url", metavar="URL", help="use a running privlink instead of starting one"
    )
    p.add_argument(
        "--keep", action="store_true", help="leave everything running and print how to use it"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable report instead of the walk-through",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for each asynchronous change (default 60)",
    )
    p.add_argument("--fault", choices=["kill-target"], help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def lab_settings():
    """An embedded privlink for the lab: ephemeral, free ports, AWS's timers run faster."""
    from ..config import Settings

    s = Settings(ephemeral=True, port=0, dns_port=0)
    t = s.timing
    t.load_balancer_provisioning = 1.0
    t.endpoint_service_pending = 0.5
    t.endpoint_pending = 1.0
    t.endpoint_deleting = 0.5
    t.private_dns_verification = 0.5
    t.health_check_interval_floor = 1.0  # a 5 s health-check interval lasts 1 s
    t.flow_log_aggregation_interval = 2.0
    t.metrics_flush_interval = 1.0
    return s


def run(args) -> int:
    import logging

    from ..lab import Lab

    # the walk-through is the output; privlink's own log speaks only of real failures
    logging.basicConfig(level=logging.ERROR, format="privlink: %(message)s")
    if args.timeout <= 0:
        raise CliError("--timeout must be a positive number of seconds")
    embedded = None
    endpoint = args.endpoint_url
    if endpoint:
        from .common import server_health

        endpoint = endpoint.rstrip("/")
        server_health(endpoint)  # one sentence if nothing, or not privlink, answers there
    else:
        from ..testing import EmbeddedPrivlink

        embedded = EmbeddedPrivlink(lab_settings()).start()
        endpoint = embedded.endpoint_url
    env_keys = (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    )
    saved = {k: os.environ.pop(k) for k in env_keys if k in os.environ}
    lab = None
    try:
        lab = Lab(
            endpoint.rstrip("/"),
            json_mode=args.json,
            timeout=args.timeout,
            fault=args.fault,
            keep=args.keep,
        )
        started = time.monotonic()
        ok = lab.run()
        if args.json:
            report = lab.report()
            report["seconds"] = round(time.monotonic() - started, 1)
            print(json.dumps(report, indent=2))
        if ok and args.keep and embedded is not None:
            # on stderr with --json, so that stdout stays one JSON document
            _wait_for_a_stop_signal(
                lambda: print(
                    "privlink is running until you press Ctrl-C.",
                    file=sys.stderr if args.json else sys.stdout,
                    flush=True,
                )
            )
        if not ok:
            if not args.json:
                print(f"privlink lab: {lab.failure}", file=sys.stderr)
            return 1
        return 0
    finally:
        os.environ.update(saved)
        # the target and the lab's files stay only where --keep leaves a running server's
        # lab in place; with the embedded server they go with it
        if lab is not None and not (args.keep and lab.ok and embedded is None):
            lab.close()
        if embedded is not None:
            embedded.stop()


def _wait_for_a_stop_signal(announce) -> None:
    """Call ``announce``, then block until SIGINT or SIGTERM; either lets the lab clean up
    (target, server, files)."""
    import threading

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        announce()
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
