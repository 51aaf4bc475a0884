"""Statistics over stored buckets and a small metric-math evaluator, sans-IO.

:func:`aggregate` rolls stored buckets up into the periods a caller asked for;
:func:`statistic` reads one statistic (Sum, Average, Minimum, Maximum, SampleCount, pNN)
from a period. :func:`evaluate` runs the part of CloudWatch metric math privlink supports:
numbers, query ids, ``+ - * /``, parentheses, ``METRICS()`` / ``METRICS("label")``,
``[a, b]`` arrays and ``SUM``, ``AVG``, ``MIN``, ``MAX`` over an array (a time series per
timestamp) or over a single series (a scalar). Anything else raises :class:`MathError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .metricstore import Bucket, Point, percentile

BASIC = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PCT = re.compile(r"^p(\d{1,2}(\.\d+)?|100(\.0+)?)$")


def parse_percentile(stat: str) -> float | None:
    """The percentile of a ``pNN.N`` statistic, or None if ``stat`` is not one."""
    m = _PCT.match(stat)
    if not m:
        return None
    v = float(stat[1:])
    return v if 0 <= v <= 100 else None


@dataclass
class Period:
    stats: Bucket
    hist: dict[int, float] | None
    hist_complete: bool


def aggregate(
    points: Iterable[Point], start: int, period: int, by_unit: bool
) -> dict[tuple[int, str | None], Period]:
    """Roll buckets up into periods aligned on ``start``: {(period start, unit or None): …}."""
    out: dict[tuple[int, str | None], Period] = {}
    for p in points:
        k = (start + (p.ts - start) // period * period, p.unit if by_unit else None)
        cur = out.get(k)
        if cur is None:
            out[k] = Period(
                Bucket(p.stats.n, p.stats.sum, p.stats.min, p.stats.max),
                dict(p.hist) if p.hist else None,
                p.hist is not None and abs(sum(p.hist.values()) - p.stats.n) < 1e-9,
            )
            continue
        cur.stats.merge(p.stats)
        complete = p.hist is not None and abs(sum(p.hist.values()) - p.stats.n) < 1e-9
        cur.hist_complete = cur.hist_complete and complete
        if p.hist:
            h = cur.hist if cur.hist is not None else {}
            for b, c in p.hist.items():
                h[b] = h.get(b, 0.0) + c
            cur.hist = h
    return out


def statistic(period: Period, stat: str) -> float | None:
    s = period.stats
    if stat == "SampleCount":
        return s.n
    if stat == "Sum":
        return s.sum
    if stat == "Average":
        return s.sum / s.n if s.n else None
    if stat == "Minimum":
        return s.min
    if stat == "Maximum":
        return s.max
    p = parse_percentile(stat)
    if p is None or not period.hist_complete or period.hist is None or s.min < 0:
        return None
    return percentile(period.hist, s.n, p, s.min, s.max)


# ------------------------------------------------------------------------- metric math


class MathError(ValueError):
    pass


class UnknownId(MathError):
    def __init__(self, name: str):
        super().__init__(f"Unknown metric or expression id '{name}'")
        self.name = name


Series = dict[int, float]  # timestamp -> value

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>\"[^\"]*\")|(?P<op>[-+*/(),\[\]]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    text = text.rstrip()
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m or m.end() == i:
            raise MathError(f"Unrecognized token at position {i + 1}: '{text[i:].strip()[:20]}'")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        i = m.end()
    return out


class _Parser:
    def __init__(self, text: str, env: dict[str, Series], labels: dict[str, str]):
        self.toks = _tokens(text)
        self.i = 0
        self.env = env
        self.labels = labels

    def peek(self, v: str | None = None):
        if self.i >= len(self.toks):
            return None
        t = self.toks[self.i]
        return t if v is None or t[1] == v else None

    def take(self, v: str) -> bool:
        if self.peek(v):
            self.i += 1
            return True
        return False

    def expect(self, v: str) -> None:
        if not self.take(v):
            raise MathError(f"Expected '{v}'")

    def parse(self):
        if not self.toks:
            raise MathError("The expression is empty")
        v = self.expr()
        if self.i != len(self.toks):
            raise MathError(f"Unexpected '{self.toks[self.i][1]}'")
        return v

    def expr(self):
        v = self.term()
        while self.peek("+") or self.peek("-"):
            op = self.toks[self.i][1]
            self.i += 1
            v = _binary(op, v, self.term())
        return v

    def term(self):
        v = self.factor()
        while self.peek("*") or self.peek("/"):
            op = self.toks[self.i][1]
            self.i += 1
            v = _binary(op, v, self.factor())
        return v

    def factor(self):
        t = self.peek()
        if t is None:
            raise MathError("The expression ends too early")
        kind, val = t
        if val == "-":
            self.i += 1
            return _binary("*", -1.0, self.factor())
        if val == "(":
            self.i += 1
            v = self.expr()
            self.expect(")")
            return v
        if val == "[":
            self.i += 1
            items = []
            if not self.take("]"):
                while True:
                    items.extend(_as_list(self.expr()))
                    if self.take("]"):
                        break
                    self.expect(",")
            return items
        if kind == "num":
            self.i += 1
            return float(val)
        if kind == "id":
            self.i += 1
            if self.peek("("):
                return self.call(val)
            if val not in self.env:
                raise UnknownId(val)
            return self.env[val]
        raise MathError(f"Unexpected '{val}'")

    def call(self, name: str):
        self.expect("(")
        fn = name.upper()
        if fn == "METRICS":
            label = None
            if self.peek() and self.peek()[0] == "str":
                label = self.toks[self.i][1][1:-1]
                self.i += 1
            self.expect(")")
            return [
                s
                for k, s in self.env.items()
                if k in self.labels and (label is None or label in self.labels[k])
            ]
        if fn in ("SUM", "AVG", "MIN", "MAX"):
            arg = self.expr()
            self.expect(")")
            return _reduce(fn, arg)
        raise MathError(f"The function {name} is not supported by privlink")


def _as_list(v) -> list[Series]:
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        return [v]
    raise MathError("An array can only hold time series")


def _binary(op: str, a, b):
    if isinstance(a, list) or isinstance(b, list):
        if isinstance(a, list) and isinstance(b, list):
            raise MathError("Arithmetic between two arrays of time series is not supported")
        if isinstance(a, list):
            return [_binary(op, x, b) for x in a]
        return [_binary(op, a, x) for x in b]

    def f(x: float, y: float) -> float | None:
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        return None if y == 0 else x / y

    if isinstance(a, float) and isinstance(b, float):
        r = f(a, b)
        if r is None:
            raise MathError("Division by zero")
        return r
    if isinstance(a, float):
        return {t: r for t, v in b.items() if (r := f(a, v)) is not None}
    if isinstance(b, float):
        return {t: r for t, v in a.items() if (r := f(v, b)) is not None}
    return {t: r for t, v in a.items() if t in b and (r := f(v, b[t])) is not None}


def _reduce(fn: str, arg):
    def red(vals: list[float]) -> float:
        if fn == "SUM":
            return sum(vals)
        if fn == "AVG":
            return sum(vals) / len(vals)
        return min(vals) if fn == "MIN" else max(vals)

    if isinstance(arg, float):
        return arg
    if isinstance(arg, dict):
        if not arg:
            return {}
        return red(list(arg.values()))
    stamps = sorted({t for s in arg for t in s})
    return {t: red([s[t] for s in arg if t in s]) for t in stamps}


def evaluate(expression: str, env: dict[str, Series], labels: dict[str, str]) -> Series | float:
    """Evaluate ``expression`` over the time series of other queries (``env``: id → series;
    ``labels``: id → label, for the MetricStat queries ``METRICS()`` returns)."""
    v = _Parser(expression, env, labels).parse()
    if isinstance(v, list):
        raise MathError(
            "The expression returns an array of time series; wrap it in SUM, AVG, MIN or MAX"
        )
    return v
