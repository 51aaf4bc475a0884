"""Flow-log records from real flows: aggregated per capture window, one record per direction,
in the flow log's format, delivered to CloudWatch Logs or to a folder (the ``s3`` extension).

The relay hands over :class:`~privlink.dataplane.listener.FlowRecord` deltas (at flow end and
every capture window for long flows); they are summed here per (flow log, window, 5-tuple,
direction, action) and written when the window closes. Nothing here is on the per-chunk path.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from ..state import Store
from ..state.ec2 import NetworkInterface
from ..state.flowlogs import DEFAULT_FORMAT, FlowLog

log = logging.getLogger("privlink.flowlogs")

SYN_BYTES = 60  # what a dropped SYN weighs in a REJECT record
_DEFAULT_FIELDS = [f[2:-1] for f in DEFAULT_FORMAT.split()]


@dataclass(slots=True)
class Bucket:
    """One record's sums: a 5-tuple, direction and action, in one capture window."""

    packets: int = 0
    bytes: int = 0
    start: float = math.inf
    end: float = 0.0
    tcp_flags: int = 0
    eni: EniView | None = None  # where the traffic was seen


class RecordKey(NamedTuple):
    flow_log_id: str
    window: int  # window start, epoch seconds
    src: str
    dst: str
    sport: int
    dport: int
    action: str
    direction: str  # ingress | egress (seen from the ENI)


@dataclass(slots=True)
class EniView:
    """What a record needs to know about the ENI it was seen at."""

    eni_id: str
    account: str
    region: str
    vpc_id: str
    subnet_id: str
    az_id: str
    ip: str


@dataclass
class FlowLogWriter:
    store: Store
    settings: object
    s3_root: str
    # (flow log id, window, src, dst, sport, dport, action, direction) -> Bucket: plain
    # tuples as keys (the fields of RecordKey), hashed and compared in C, one per record
    buckets: dict[tuple, Bucket] = field(default_factory=dict)
    written: int = 0
    # eni id -> [(flow log id, capture window seconds, traffic type)] of the flow logs
    # covering it
    _covering: dict[str, list[tuple[str, float, str]]] = field(default_factory=dict)
    _task: asyncio.Task | None = None

    # -- which flow logs cover an ENI (cached; cleared on change)
    def invalidate(self) -> None:
        self._covering.clear()

    def covering(self, eni: EniView) -> list[tuple[str, float, str]]:
        got = self._covering.get(eni.eni_id)
        if got is None:
            got = [
                (f.id, self.interval(f), f.traffic_type)
                for f in self.store.owned(FlowLog, eni.account, eni.region)
                if f.resource_id in (eni.eni_id, eni.subnet_id, eni.vpc_id)
            ]
            self._covering[eni.eni_id] = got
        return got

    def interval(self, fl: FlowLog) -> float:
        override = getattr(self.settings.timing, "flow_log_aggregation_interval", None)
        return float(override or fl.max_aggregation_interval)

    def record_interval(self) -> float:
        """How often long flows should report (the shortest capture window in use)."""
        override = getattr(self.settings.timing, "flow_log_aggregation_interval", None)
        return float(override) if override else 60.0

    # -- intake (called from the relay's record callback)
    def add(self, eni: EniView, client_ip: str, client_port: int, port: int, rec) -> None:
        logs = self._covering.get(eni.eni_id)
        if logs is None:
            logs = self.covering(eni)
        if not logs:
            return
        action = rec.action
        start, end = rec.start, rec.end
        buckets = self.buckets
        if action == "REJECT":
            parts: tuple = (
                (
                    "ingress",
                    client_ip,
                    eni.ip,
                    client_port,
                    port,
                    max(1, rec.packets_in),
                    max(SYN_BYTES, rec.bytes_in),
                    2,
                ),
            )
        else:
            final = rec.final
            parts = (
                (
                    "ingress",
                    client_ip,
                    eni.ip,
                    client_port,
                    port,
                    rec.packets_in,
                    rec.bytes_in,
                    2 if final else 0,
                ),
                (
                    "egress",
                    eni.ip,
                    client_ip,
                    port,
                    client_port,
                    rec.packets_out,
                    rec.bytes_out,
                    18 if final else 0,
                ),
            )
        for fid, width, traffic in logs:
            if traffic != "ALL" and traffic != action:
                continue
            window = int(end // width * width)
            for direction, src, dst, sport, dport, packets, nbytes, flags in parts:
                if packets == 0 and nbytes == 0:
                    continue
                key = (fid, window, src, dst, sport, dport, action, direction)
                b = buckets.get(key)
                if b is None:
                    buckets[key] = Bucket(packets, nbytes, start, end, flags, eni)
                    continue
                b.packets += packets
                b.bytes += nbytes
                if start < b.start:
                    b.start = start
                if end > b.end:
                    b.end = end
                b.tcp_flags |= flags

    # -- delivery
    def flush(self, now: float | None = None, force: bool = False) -> int:
        """Write every window that has closed (all of them with ``force``)."""
        now = time.time() if now is None else now
        if not self.buckets:
            return 0
        logs = {f.id: f for f in self.store.all(FlowLog)}
        widths = {fid: self.interval(fl) for fid, fl in logs.items()}
        due: dict[str, list[tuple[tuple, Bucket]]] = defaultdict(list)
        keep: dict[tuple, Bucket] = {}
        for key, b in self.buckets.items():
            width = widths.get(key[0])
            if width is None:
                continue  # the flow log is gone
            if force or key[1] + width <= now:
                due[key[0]].append((key, b))
            else:
                keep[key] = b
        self.buckets = keep
        n = 0
        for fid, rows in due.items():
            fl = logs[fid]
            fields = fl.fields
            lines_by_eni: dict[str, list[tuple[int, str]]] = defaultdict(list)
            rows.sort(key=lambda kb: (kb[1].start, kb[0][7]))
            for key, b in rows:
                eni = b.eni
                lines_by_eni[eni.eni_id].append(
                    (int(b.start * 1000), format_record(fl, eni, key, b, fields))
                )
            try:
                self._deliver(fl, lines_by_eni)
                n += len(rows)
            except Exception:
                log.exception("delivering flow log %s failed", fl.id)
        self.written += n
        return n

    def _deliver(self, fl: FlowLog, lines_by_eni: dict[str, list[tuple[int, str]]]) -> None:
        if fl.destination_type == "cloud-watch-logs":
            from ..telemetry.logstore import append_events

            suffix = {"ALL": "all", "ACCEPT": "accept", "REJECT": "reject"}[fl.traffic_type]
            with self.store.transaction() as tx:
                for eni_id, events in lines_by_eni.items():
                    append_events(
                        tx, fl.account, fl.region, fl.log_group_name, f"{eni_id}-{suffix}", events
                    )
        else:
            self._write_s3(fl, [line for events in lines_by_eni.values() for _, line in events])

    def _write_s3(self, fl: FlowLog, lines: list[str]) -> None:
        """The object AWS would write, as a file under ``s3_root/<bucket>/<prefix>/AWSLogs/…``."""
        arn = fl.log_destination or ""
        bucket_and_prefix = arn.split(":::", 1)[1]
        bucket, _, prefix = bucket_and_prefix.partition("/")
        now = time.gmtime()
        stamp = time.strftime("%Y%m%dT%H%MZ", now)
        day = time.strftime("%Y/%m/%d", now)
        if fl.hive_compatible_partitions:
            path = f"AWSLogs/aws-account-id={fl.account}/aws-service=vpcflowlogs/aws-region={fl.region}/year={now.tm_year}/month={now.tm_mon:02d}/day={now.tm_mday:02d}"
        else:
            path = f"AWSLogs/{fl.account}/vpcflowlogs/{fl.region}/{day}"
        if fl.per_hour_partition:
            path += (
                f"/{now.tm_hour:02d}"
                if not fl.hive_compatible_partitions
                else f"/hour={now.tm_hour:02d}"
            )
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:8]
        name = f"{fl.account}_vpcflowlogs_{fl.region}_{fl.id}_{stamp}_{digest}.log.gz"
        folder = os.path.join(self.s3_root, bucket, prefix.strip("/"), path)
        os.makedirs(folder, exist_ok=True)
        header = " ".join(fl.fields)
        with gzip.open(os.path.join(folder, name), "wt", encoding="utf-8") as f:
            f.write(header + "\n")
            for line in lines:
                f.write(line + "\n")

    async def run(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                self.flush()
            except Exception:
                log.exception("flow-log flush failed")


def format_record(
    fl: FlowLog, eni: EniView, key: tuple, b: Bucket, fields: list[str] | None = None
) -> str:
    """One record in the flow log's format. ``key`` is a :class:`RecordKey` or a tuple of
    its fields; ``fields`` is ``fl.fields``, if already known."""
    _fid, _window, src, dst, sport, dport, action, direction = key
    if fields is None:
        fields = fl.fields
    if fields == _DEFAULT_FIELDS:  # the default format, without a dict per record
        return (
            f"2 {eni.account} {eni.eni_id} {src} {dst} {sport} {dport} 6"
            f" {b.packets} {b.bytes} {int(b.start)} {math.ceil(b.end)} {action} OK"
        )
    values = {
        "version": "2",
        "account-id": eni.account,
        "interface-id": eni.eni_id,
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": str(sport),
        "dstport": str(dport),
        "protocol": "6",
        "packets": str(b.packets),
        "bytes": str(b.bytes),
        "start": str(int(b.start)),
        "end": str(int(math.ceil(b.end))),
        "action": action,
        "log-status": "OK",
        "vpc-id": eni.vpc_id,
        "subnet-id": eni.subnet_id,
        "instance-id": "-",
        "tcp-flags": str(b.tcp_flags),
        "type": "IPv4",
        "pkt-srcaddr": src,
        "pkt-dstaddr": dst,
        "region": eni.region,
        "az-id": eni.az_id,
        "sublocation-type": "-",
        "sublocation-id": "-",
        "pkt-src-aws-service": "-",
        "pkt-dst-aws-service": "-",
        "flow-direction": direction,
        "traffic-path": "-",
        "reject-reason": "-",
    }
    return " ".join(values.get(f, "-") for f in fields)


def eni_view(eni: NetworkInterface) -> EniView:
    return EniView(
        eni.id,
        eni.account,
        eni.region,
        eni.vpc_id,
        eni.subnet_id,
        eni.availability_zone_id,
        eni.private_ip_address,
    )
