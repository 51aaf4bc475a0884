"""Run one privlink EndpointListener as a proxy process for the benchmarks.

    python -m bench.relayproc --listen 127.0.0.1:PORT --target 127.0.0.1:PORT [--ppv2] [--copy]

Trivial allow policy, a fixed target, and a flow-record callback that aggregates records
the way flow logs do (per capture window and per 5-tuple-ish key). Prints "ready HOST:PORT".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import sys

from privlink.dataplane.listener import EndpointListener, Target, Verdict
from privlink.dataplane.proxyv2 import aws_vpce_tlv, build_proxy_header


def hostport(s: str) -> tuple[str, int]:
    h, _, p = s.rpartition(":")
    return h, int(p)


class FlowLogAggregator:
    """What a flow-log writer does with records: sum per (window, src, dst, ports, action)."""

    def __init__(self, window: float = 60.0):
        self.window = window
        self.cells: dict = collections.defaultdict(lambda: [0, 0, 0, 0])
        self.records = 0

    def __call__(self, r) -> None:
        self.records += 1
        w = int(r.start // self.window)
        key = (w, r.client[0], r.local[0], r.client[1], r.local[1], r.action)
        c = self.cells[key]
        c[0] += r.packets_in
        c[1] += r.bytes_in
        c[2] += r.packets_out
        c[3] += r.bytes_out
        if len(self.cells) > 200_000:  # a writer flushes windows; keep memory bounded
            self.cells.clear()


async def main(args) -> None:
    target = hostport(args.target)
    agg = FlowLogAggregator()
    if args.ppv2:
        tlv = [aws_vpce_tlv("vpce-0123456789abcdef0")]

        def pick(flow):
            hdr = build_proxy_header(
                flow.client[0], flow.client[1], flow.local[0], flow.local[1], tlv
            )
            return Target(target, proxy_header=hdr)
    else:
        fixed = Target(target)

        def pick(flow):
            return fixed

    def make(addr):
        return EndpointListener(
            addr,
            policy=lambda f: Verdict.ALLOW,
            pick_target=pick,
            on_record=agg,
            idle_timeout=3600,
            record_interval=10,
            zero_copy=False if args.copy else True if args.splice else None,
            reuse_port=args.workers > 1 or args.reuse_port,
        )

    lst = make(hostport(args.listen))
    await lst.start()
    for _ in range(args.workers - 1):
        import threading

        import uvloop

        def worker(addr=lst.bound_address):
            async def run():
                w = make(addr)
                await w.start()
                await asyncio.sleep(1e9)

            uvloop.run(run())

        threading.Thread(target=worker, daemon=True).start()
    host, port = lst.bound_address
    print(f"ready {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await lst.stop()
    print(f"stopped flows={lst.stats.new_flows} records={agg.records}", file=sys.stderr)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--ppv2", action="store_true")
    p.add_argument("--copy", action="store_true", help="portable copy path only")
    p.add_argument("--splice", action="store_true", help="splice for every chunk")
    p.add_argument("--workers", type=int, default=1, help="event loops (SO_REUSEPORT)")
    p.add_argument("--reuse-port", action="store_true", help="SO_REUSEPORT (several processes)")
    a = p.parse_args()
    import uvloop

    uvloop.run(main(a))
