"""``privlink target``: a small target server at the realm address of a VPC address."""

from __future__ import annotations

import ipaddress
import signal

from .common import CliError, add_endpoint_arg, call_extension, endpoint_url

HELP = "run a test target (echo + HTTP health path, PROXY v2 aware) at a VPC address"
EXAMPLE = """examples:
  privlink target --vpc vpc-0a1b2c3d4e5f60718 --ip 10.20.1.20 --port 8443 --tls
  privlink target --listen 127.0.0.1:8080 --health-path /healthz

The target answers GET <health-path> with 200 and a JSON description of the connection
(peer and local address, TLS, the PROXY v2 header and its AWS VPC endpoint id), any other
HTTP path with 404, and echoes anything that is not HTTP. One line per connection on stdout.
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser(
        "target",
        help=HELP,
        description=HELP + ".",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--vpc", metavar="VPC_ID", help="the VPC the address belongs to")
    p.add_argument("--ip", metavar="IP", help="the target's address inside the VPC")
    p.add_argument("--port", type=int, metavar="PORT", help="the port to listen on")
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="listen here instead of at the VPC address's realm address (loopback only)",
    )
    p.add_argument("--tls", action="store_true", help="serve TLS with a self-signed certificate")
    p.add_argument(
        "--tls-name",
        action="append",
        metavar="NAME",
        help="certificate name (repeatable; default: localhost and the addresses)",
    )
    p.add_argument(
        "--health-path", default="/healthz", help="the HTTP health path (default /healthz)"
    )
    add_endpoint_arg(p)
    p.set_defaults(func=run)


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise CliError(f"--listen must be HOST:PORT, not {value!r}")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise CliError(f"--listen needs a loopback IP address, not {host!r}") from None
    if not addr.is_loopback:
        raise CliError(f"--listen must be a loopback address (127.0.0.0/8 or ::1), not {host}")
    return host, _port(port, "--listen", allow_zero=True)


def _port(value, what: str, allow_zero: bool = False) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise CliError(f"{what} needs a port number, not {value!r}") from None
    if not (0 if allow_zero else 1) <= n <= 65535:
        raise CliError(f"{what} port must be between {0 if allow_zero else 1} and 65535, not {n}")
    return n


def run(args) -> int:
    from ..dataplane.target import TargetServer, server_tls_context

    if not args.health_path.startswith("/"):
        raise CliError(f"--health-path must start with '/', not {args.health_path!r}")
    info: dict = {}
    if args.listen:
        host, port = _parse_listen(args.listen)
        if args.vpc:
            info["vpc_id"] = args.vpc
        if args.ip:
            info["vpc_address"] = args.ip
    else:
        if not (args.vpc and args.ip and args.port is not None):
            raise CliError("give --vpc, --ip and --port (or --listen HOST:PORT)")
        try:
            ipaddress.ip_address(args.ip)
        except ValueError:
            raise CliError(f"--ip must be an IP address, not {args.ip!r}") from None
        port = _port(args.port, "--port")
        found = call_extension(endpoint_url(args), "addr", {"vpc": args.vpc, "ip": args.ip})
        host = found.get("host_address")
        if not host:
            raise CliError(f"privlink has no realm address for {args.ip} in {args.vpc}")
        info = {
            "vpc_id": found.get("vpc_id", args.vpc),
            "vpc_address": found.get("vpc_address", args.ip),
            "host_address": host,
        }
    tls = None
    if args.tls:
        names = args.tls_name or ["localhost", host] + ([args.ip] if args.ip else [])
        names = list(dict.fromkeys(names))
        try:
            tls = server_tls_context(names)
        except ImportError:
            raise CliError(
                "--tls needs the 'cryptography' package (pip install cryptography)"
            ) from None
    server = TargetServer((host, port), tls=tls, health_path=args.health_path, info=info)

    def on_signal(signum, frame):
        server.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        bound = server.bind()
    except OSError as e:
        if e.errno == 98:
            raise CliError(f"port {port} on {host} is already in use") from None
        raise CliError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    where = f"{bound[0]}:{bound[1]}"
    if info.get("vpc_address"):
        where += f" (VPC address {info['vpc_address']}:{port}"
        where += f" in {info['vpc_id']})" if info.get("vpc_id") else ")"
    print(
        f"privlink target listening on {where}, {'TLS' if tls else 'plain'},"
        f" health path {args.health_path}",
        flush=True,
    )
    server.serve_forever()
    print("privlink target stopped", flush=True)
    return 0
