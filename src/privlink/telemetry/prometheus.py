"""Prometheus text exposition (format 0.0.4), sans-IO.

Names: ``aws_<namespace>_<metric>`` in snake case — namespace lower-cased with every run of
other characters made ``_`` (AWS/NetworkELB → ``aws_networkelb``), metric and dimension
names split at case changes (ProcessedBytes → ``processed_bytes``, TCP_ELB_Reset_Count →
``tcp_elb_reset_count``, UnHealthyHostCount → ``unhealthy_host_count``, "VPC Endpoint Id" → ``vpc_endpoint_id``). Every sample carries
``account`` and ``region`` labels besides its dimensions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_CAMEL1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL2 = re.compile(r"([a-z0-9])([A-Z])")
_BAD = re.compile(r"[^a-zA-Z0-9]+")


def snake(name: str) -> str:
    s = name.replace("UnHealthy", "Unhealthy")  # AWS's capital H is not a word break
    s = _CAMEL1.sub(r"\1_\2", s)
    s = _CAMEL2.sub(r"\1_\2", s)
    s = _BAD.sub("_", s).strip("_").lower()
    return s or "_"


def metric_name(namespace: str, name: str) -> str:
    ns = _BAD.sub("_", namespace).strip("_").lower()
    out = f"{ns}_{snake(name)}"
    if out[0].isdigit():
        out = "_" + out
    return out


def label_name(name: str) -> str:
    out = snake(name)
    return "_" + out if out[0].isdigit() else out


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


@dataclass(frozen=True)
class Sample:
    namespace: str
    name: str
    kind: str  # counter | gauge
    labels: tuple[tuple[str, str], ...]  # (AWS name, value), including account and region
    value: float
    help: str


def render(samples: Iterable[Sample]) -> str:
    families: dict[str, list[Sample]] = {}
    for s in samples:
        families.setdefault(metric_name(s.namespace, s.name), []).append(s)
    out: list[str] = []
    for fam in sorted(families):
        group = families[fam]
        first = group[0]
        out.append(f"# HELP {fam} {_escape_help(first.help)}")
        out.append(f"# TYPE {fam} {'counter' if first.kind == 'counter' else 'gauge'}")
        lines = []
        for s in group:
            labels = ",".join(
                f'{label_name(k)}="{_escape_label(v)}"'
                for k, v in sorted(s.labels, key=lambda kv: label_name(kv[0]))
            )
            lines.append(f"{fam}{{{labels}}} {_number(s.value)}")
        out.extend(sorted(lines))
    return "\n".join(out) + ("\n" if out else "")
