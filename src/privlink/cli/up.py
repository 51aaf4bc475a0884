"""``privlink up``: run the server in the foreground."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys

from ..config import ConfigError, load_settings
from ..server import Privlink, new_event_loop
from ..state.backend import SchemaTooNew
from .common import CliError

HELP = "run privlink in the foreground"
EXAMPLE = """example:
  privlink up --port 4566 --ephemeral
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 aws sts get-caller-identity
"""


def register(sub) -> None:
    p = sub.add_parser(
        "up", help=HELP, description=HELP + ".", epilog=EXAMPLE, formatter_class=_fmt()
    )
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=None, help="API port (default 4566; 0 picks a free one)"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--state-dir", metavar="DIR", help="where state is kept (default: $XDG_STATE_HOME/privlink)"
    )
    g.add_argument(
        "--ephemeral", action="store_true", default=None, help="keep state in memory only"
    )
    p.add_argument(
        "--config", metavar="FILE", help="a privlink.toml with accounts, keys and quotas"
    )
    p.add_argument(
        "--strict-auth", action="store_true", default=None, help="verify every SigV4 signature"
    )
    p.add_argument(
        "--dns-port",
        type=int,
        default=None,
        help="port for the per-VPC DNS resolvers (default: 53 if permitted, else a free port)",
    )
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def _fmt():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def run(args) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    for flag, value in (("--port", args.port), ("--dns-port", args.dns_port)):
        if value is not None and not 0 <= value <= 65535:
            raise CliError(f"{flag} must be between 0 and 65535, not {value}")
    try:
        settings = load_settings(
            args.config,
            host=args.host,
            port=args.port,
            state_dir=args.state_dir,
            ephemeral=args.ephemeral,
            strict_auth=args.strict_auth,
            dns_port=args.dns_port,
        )
    except ConfigError as e:
        raise CliError(str(e)) from None
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_serve(settings))
    finally:
        loop.close()


async def _serve(settings) -> int:
    try:
        app = Privlink(settings)
    except SchemaTooNew as e:
        raise CliError(str(e)) from None
    except (OSError, sqlite3.Error) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise CliError(f"cannot keep state in {settings.state_path()}: {reason}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
    except OSError as e:
        app.store.close()
        raise CliError(
            f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e}"
        ) from None
    for line in app.banner():
        print(line, flush=True)
    dns = app.runtime.hooks.get("dns")
    if dns is not None:  # resolvers of VPCs created from now on: say where they listen too
        dns.announce = lambda line: print(line, flush=True)
    await stop.wait()
    print("privlink stopping", file=sys.stderr, flush=True)
    await app.stop()
    return 0
