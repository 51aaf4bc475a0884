"""CloudWatch Logs filter patterns, sans-IO: compile a pattern once, then match messages.

    >>> m = compile_pattern('[version, account, eni, src, dst, sp, dp="8443", proto="6", '
    ...                     'packets, bytes, start, end, action="REJECT", status]')
    >>> m.matches("2 111 eni-1 10.0.0.5 10.0.1.9 50000 8443 6 3 180 1 61 REJECT OK")
    True

Three syntaxes, chosen by the pattern's first character (as CloudWatch Logs does):

* **Unstructured text** (anything else). Whitespace-separated terms, case-sensitive
  substring matches. ``ERROR Exception`` needs both; ``"exact phrase"`` is one term (use
  quotes for anything but letters, digits and ``_``); ``?ERROR ?WARN`` needs at least one of
  the ``?`` terms; ``-term`` (or ``- "term"``) excludes events containing it. Terms of the
  three kinds combine: every plain term, at least one ``?`` term (if any), no ``-`` term.
  ``%regex%`` is a term matched as a regular expression (AWS's subset: no parentheses).
  An empty pattern matches every event.

* **Space-delimited** (``[ … ]``). The event is split into fields at whitespace, with text
  inside ``"…"`` or ``[…]`` forming one field (without its quotes/brackets). The pattern names
  the fields in order; ``...`` stands for any number of fields; without it the field count
  must match exactly. A field may carry conditions: ``name = value``, ``!=``, ``<``, ``<=``,
  ``>``, ``>=``, combined with ``&&`` and ``||`` (``&&`` binds tighter) and naming any field
  of the pattern. String values match whole fields with ``*`` as a wildcard (quoted or not);
  numeric values compare numerically (``<``… need numbers); ``%regex%`` values match
  regular expressions.

* **JSON** (``{ … }``). The event must be a JSON document. Conditions on selectors
  (``$.a.b``, ``$.list[0]``, ``$.list[*]``): ``=``/``!=`` with a string (``*`` wildcards), a
  number or ``%regex%``; ``<``, ``<=``, ``>``, ``>=`` with a number; ``IS TRUE``,
  ``IS FALSE``, ``IS NULL``, ``NOT EXISTS``; combined with ``&&``, ``||`` and parentheses. A
  selector that names an object or array matches nothing.

:func:`compile_pattern` raises :class:`FilterPatternError` (one sentence) for a pattern it
cannot parse; the Logs API turns that into ``InvalidParameterException``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["FilterPatternError", "Matcher", "compile_pattern", "split_fields"]


class FilterPatternError(ValueError):
    pass


class Matcher:
    """A compiled filter pattern."""

    kind = "all"

    def __init__(self, text: str):
        self.text = text

    def matches(self, message: str) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text!r}>"


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _as_number(text: str) -> float | None:
    if _NUMBER.match(text):
        try:
            v = float(text)
        except ValueError:  # pragma: no cover - the regex already vouched for it
            return None
        return v if math.isfinite(v) else None
    return None


def _regex(body: str, where: str) -> re.Pattern:
    if "(" in body or ")" in body:
        raise FilterPatternError(
            f"Invalid regular expression {where}: parentheses are not supported."
        )
    try:
        return re.compile(body)
    except re.error as e:
        raise FilterPatternError(f"Invalid regular expression {where}: {e}.") from None


def _wildcard(value: str) -> Callable[[str], bool]:
    """A whole-string match where ``*`` stands for any text."""
    if "*" not in value:
        return value.__eq__
    rx = re.compile("^" + ".*".join(re.escape(p) for p in value.split("*")) + "$", re.S)
    return lambda s: rx.match(s) is not None


# -------------------------------------------------------------------------- unstructured


@dataclass
class _Term:
    text: str
    rx: re.Pattern | None = None

    def found_in(self, message: str) -> bool:
        if self.rx is not None:
            return self.rx.search(message) is not None
        return self.text in message


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """``text[i]`` is a double quote; return the unescaped content and the index after the
    closing quote."""
    out = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text):
            out.append(text[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise FilterPatternError("Invalid filter pattern: a quoted term is not closed.")


class TextMatcher(Matcher):
    kind = "text"

    def __init__(self, text: str):
        super().__init__(text)
        self.required: list[_Term] = []
        self.optional: list[_Term] = []
        self.excluded: list[_Term] = []
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c.isspace():
                i += 1
                continue
            bucket = self.required
            if c in "?-":
                bucket = self.optional if c == "?" else self.excluded
                i += 1
                while i < n and text[i].isspace():
                    i += 1
                if i >= n:
                    raise FilterPatternError(
                        f"Invalid filter pattern: '{c}' must be followed by a term."
                    )
                c = text[i]
            if c == '"':
                value, i = _read_quoted(text, i)
                if value:
                    bucket.append(_Term(value))
                continue
            j = i
            while j < n and not text[j].isspace():
                j += 1
            word = text[i:j]
            i = j
            if len(word) >= 2 and word.startswith("%") and word.endswith("%"):
                bucket.append(_Term(word, _regex(word[1:-1], word)))
            else:
                bucket.append(_Term(word))

    def matches(self, message: str) -> bool:
        for t in self.required:
            if not t.found_in(message):
                return False
        if self.optional and not any(t.found_in(message) for t in self.optional):
            return False
        return all(not t.found_in(message) for t in self.excluded)


# -------------------------------------------------------------------- shared expressions

_OPS = ("!=", "<=", ">=", "=", "<", ">")


class _Lexer:
    """Tokens for the condition language of the delimited and JSON syntaxes."""

    def __init__(self, text: str, start: int = 0, end: int | None = None):
        self.text = text
        self.i = start
        self.end = len(text) if end is None else end

    def skip(self) -> None:
        while self.i < self.end and self.text[self.i].isspace():
            self.i += 1

    def at_end(self) -> bool:
        self.skip()
        return self.i >= self.end

    def peek(self, s: str) -> bool:
        self.skip()
        return self.text.startswith(s, self.i) and self.i + len(s) <= self.end

    def take(self, s: str) -> bool:
        if self.peek(s):
            self.i += len(s)
            return True
        return False

    def peek_word(self, word: str) -> bool:
        self.skip()
        j = self.i + len(word)
        return (
            self.text[self.i : j].upper() == word
            and j <= self.end
            and (j == self.end or not (self.text[j].isalnum() or self.text[j] == "_"))
        )

    def op(self) -> str | None:
        self.skip()
        for o in _OPS:
            if self.text.startswith(o, self.i):
                self.i += len(o)
                return o
        return None

    def value(self) -> tuple[str, str]:
        """A comparison value: ('string', s) for a quoted string, ('regex', body), or
        ('bare', token)."""
        self.skip()
        if self.i >= self.end:
            raise FilterPatternError(
                "Invalid filter pattern: a value is missing after an operator."
            )
        c = self.text[self.i]
        if c == '"':
            s, self.i = _read_quoted(self.text, self.i)
            return "string", s
        j = self.i
        if c == "%":
            k = self.text.find("%", j + 1, self.end)
            if k < 0:
                raise FilterPatternError(
                    "Invalid filter pattern: a regular expression is not closed."
                )
            self.i = k + 1
            return "regex", self.text[j + 1 : k]
        while j < self.end:
            ch = self.text[j]
            if ch.isspace() or ch in ",()&|" or self.text.startswith("]", j):
                break
            j += 1
        token = self.text[self.i : j]
        if not token:
            raise FilterPatternError(f"Invalid filter pattern: unexpected '{c}'.")
        self.i = j
        return "bare", token


Predicate = Callable[[object], bool]


def _value_predicate(
    op: str, kind: str, raw: str, where: str
) -> Callable[[str | float | None], bool]:
    """A test of one field value (a string from a delimited event, or a JSON scalar)."""
    if kind == "regex":
        if op not in ("=", "!="):
            raise FilterPatternError(
                f"Invalid filter pattern: {op} cannot compare with a regular expression."
            )
        rx = _regex(raw, where)

        def rx_test(v):
            return v is not None and rx.search(_text_of(v)) is not None

        return rx_test if op == "=" else (lambda v: v is not None and not rx_test(v))
    number = _as_number(raw) if kind == "bare" or op not in ("=", "!=") else None
    if op in ("<", "<=", ">", ">="):
        if number is None:
            raise FilterPatternError(f"Invalid filter pattern: {op} needs a number, not '{raw}'.")
        cmp = {
            "<": lambda a: a < number,
            "<=": lambda a: a <= number,
            ">": lambda a: a > number,
            ">=": lambda a: a >= number,
        }[op]

        def num_test(v):
            n = _number_of(v)
            return n is not None and cmp(n)

        return num_test
    if number is not None:

        def eq(v):
            n = _number_of(v)
            if n is not None:
                return n == number
            return v is not None and _text_of(v) == raw

    else:
        wild = _wildcard(raw)

        def eq(v):
            return v is not None and wild(_text_of(v))

    if op == "=":
        return eq
    return lambda v: v is not None and not eq(v)


def _text_of(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _number_of(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        return _as_number(v)
    return None


# ------------------------------------------------------------------------ space-delimited


def split_fields(message: str) -> list[str]:
    """Split an event into fields as the space-delimited syntax sees it."""
    out: list[str] = []
    i, n = 0, len(message)
    while i < n:
        c = message[i]
        if c.isspace():
            i += 1
            continue
        if c == '"':
            j = message.find('"', i + 1)
            if j < 0:
                j = n
            out.append(message[i + 1 : j])
            i = j + 1
        elif c == "[":
            j = message.find("]", i + 1)
            if j < 0:
                j = n
            out.append(message[i + 1 : j])
            i = j + 1
        else:
            j = i
            while j < n and not message[j].isspace():
                j += 1
            out.append(message[i:j])
            i = j
    return out


_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.\-]*")

# a condition tree: ("and", [..]) | ("or", [..]) | ("cmp", field, predicate)


def _eval_delimited(node, fields: dict[str, str]) -> bool:
    kind = node[0]
    if kind == "cmp":
        return node[2](fields.get(node[1]))
    if kind == "and":
        return all(_eval_delimited(c, fields) for c in node[1])
    return any(_eval_delimited(c, fields) for c in node[1])


class DelimitedMatcher(Matcher):
    kind = "delimited"
    MAX_ALIGNMENTS = 10000

    def __init__(self, text: str):
        super().__init__(text)
        body = text.strip()
        if not body.endswith("]"):
            raise FilterPatternError("Invalid filter pattern: '[' is not closed by ']'.")
        specs = _split_top_level(body[1:-1])
        self.slots: list[str | None] = []  # field names; None for '...'
        self.conditions: list = []
        for k, spec in enumerate(specs):
            spec = spec.strip()
            if not spec:
                if len(specs) == 1:
                    raise FilterPatternError("Invalid filter pattern: '[]' names no fields.")
                # an unnamed field (AWS reports it as $<position>), e.g. the trailing comma
                # in [..., status_code = 4*,]
                self.slots.append(f"${k + 1}")
                continue
            if spec in ("...", "\u2026"):
                self.slots.append(None)
                continue
            m = _NAME.match(spec, 0)
            if not m:
                raise FilterPatternError(f"Invalid filter pattern: bad field name in '{spec}'.")
            name = m.group(0)
            self.slots.append(name)
            rest = spec[m.end() :].strip()
            if rest:
                lex = _Lexer(spec)
                cond = self._or(lex)
                if not lex.at_end():
                    raise FilterPatternError(f"Invalid filter pattern: cannot parse '{spec}'.")
                self.conditions.append(cond)
        names = [s for s in self.slots if s is not None]
        if len(names) != len(set(names)):
            raise FilterPatternError("Invalid filter pattern: a field name is used twice.")
        self.fixed = len(names)
        self.has_ellipsis = len(names) != len(self.slots)
        self.single_ellipsis = self.slots.index(None) if len(self.slots) - len(names) == 1 else None

    # condition grammar: or := and ('||' and)* ; and := cmp ('&&' cmp)* ; cmp := NAME OP VALUE
    def _or(self, lex: _Lexer):
        parts = [self._and(lex)]
        while lex.take("||"):
            parts.append(self._and(lex))
        return parts[0] if len(parts) == 1 else ("or", parts)

    def _and(self, lex: _Lexer):
        parts = [self._cmp(lex)]
        while lex.take("&&"):
            parts.append(self._cmp(lex))
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _cmp(self, lex: _Lexer):
        lex.skip()
        if lex.take("("):
            node = self._or(lex)
            if not lex.take(")"):
                raise FilterPatternError("Invalid filter pattern: '(' is not closed.")
            return node
        m = _NAME.match(lex.text, lex.i)
        if not m:
            raise FilterPatternError(
                f"Invalid filter pattern: expected a field name at '{lex.text[lex.i :]}'."
            )
        lex.i = m.end()
        op = lex.op()
        if op is None:
            raise FilterPatternError(
                f"Invalid filter pattern: expected an operator after '{m.group(0)}'."
            )
        kind, raw = lex.value()
        return ("cmp", m.group(0), _value_predicate(op, kind, raw, m.group(0)))

    def _alignments(self, fields: list[str]) -> Iterator[dict[str, str]]:
        slots = self.slots
        n = len(fields)
        if not self.has_ellipsis:
            if n == len(slots):
                yield dict(zip(slots, fields, strict=True))  # type: ignore[arg-type]
            return
        if n < self.fixed:
            return
        bound: dict[str, str] = {}

        def walk(si: int, fi: int, fixed_left: int):
            if si == len(slots):
                if fi == n:
                    yield bound
                return
            s = slots[si]
            if s is None:
                # '...' swallows 0..k fields, leaving room for the named slots after it
                for k in range(0, n - fi - fixed_left + 1):
                    yield from walk(si + 1, fi + k, fixed_left)
                return
            if fi >= n:
                return
            bound[s] = fields[fi]
            yield from walk(si + 1, fi + 1, fixed_left - 1)

        yield from walk(0, 0, self.fixed)

    def matches(self, message: str) -> bool:
        if '"' in message or "[" in message:
            fields = split_fields(message)
        else:
            fields = message.split()
        if not self.has_ellipsis:  # the common case (flow logs): one alignment at most
            if len(fields) != len(self.slots):
                return False
            bound = dict(zip(self.slots, fields, strict=True))
            return all(_eval_delimited(c, bound) for c in self.conditions)
        if self.single_ellipsis is not None:  # one '...': a single alignment as well
            if len(fields) < self.fixed:
                return False
            k = self.single_ellipsis
            tail = len(self.slots) - k - 1
            bound = dict(zip(self.slots[:k], fields[:k], strict=True))
            if tail:
                bound.update(zip(self.slots[k + 1 :], fields[-tail:], strict=True))
            return all(_eval_delimited(c, bound) for c in self.conditions)
        for count, bound in enumerate(self._alignments(fields)):
            if count >= self.MAX_ALIGNMENTS:
                return False
            if all(_eval_delimited(c, bound) for c in self.conditions):
                return True
        return False


def _split_top_level(body: str) -> list[str]:
    """Split the inside of ``[ … ]`` at commas outside quotes and regexes."""
    parts, cur = [], []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == '"':
            _, j = _read_quoted(body, i)
            cur.append(body[i:j])
            i = j
            continue
        if c == "%":
            j = body.find("%", i + 1)
            if j >= 0:
                cur.append(body[i : j + 1])
                i = j + 1
                continue
        if c == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


# ------------------------------------------------------------------------------- JSON

_MISSING = object()
_SEL_PART = re.compile(r"\.([A-Za-z0-9_\-@:]+)|\[(\d+|\*)\]")


def _parse_selector(lex: _Lexer) -> list:
    lex.skip()
    t, i = lex.text, lex.i
    if not t.startswith("$", i):
        raise FilterPatternError(
            f"Invalid filter pattern: a selector must start with '$' at '{t[i:]}'."
        )
    i += 1
    path: list = []
    while i < lex.end:
        m = _SEL_PART.match(t, i)
        if not m:
            break
        if m.group(1) is not None:
            path.append(m.group(1))
        else:
            path.append("*" if m.group(2) == "*" else int(m.group(2)))
        i = m.end()
    if not path:
        raise FilterPatternError("Invalid filter pattern: a selector needs a property after '$'.")
    lex.i = i
    return path


def _resolve(doc, path: list) -> list:
    """Every node the selector reaches ([] when none)."""
    nodes = [doc]
    for part in path:
        nxt = []
        for node in nodes:
            if part == "*":
                if isinstance(node, list):
                    nxt.extend(node)
            elif isinstance(part, int):
                if isinstance(node, list) and part < len(node):
                    nxt.append(node[part])
            elif isinstance(node, dict) and part in node:
                nxt.append(node[part])
        nodes = nxt
        if not nodes:
            break
    return nodes


def _scalar(v) -> bool:
    return not isinstance(v, dict | list)


class JsonMatcher(Matcher):
    kind = "json"

    def __init__(self, text: str):
        super().__init__(text)
        body = text.strip()
        if not body.endswith("}"):
            raise FilterPatternError("Invalid filter pattern: '{' is not closed by '}'.")
        lex = _Lexer(body, 1, len(body) - 1)
        if lex.at_end():
            raise FilterPatternError("Invalid filter pattern: the JSON pattern is empty.")
        self.tree = self._or(lex)
        if not lex.at_end():
            raise FilterPatternError(
                f"Invalid filter pattern: cannot parse '{body[lex.i : lex.end].strip()}'."
            )

    def _or(self, lex):
        parts = [self._and(lex)]
        while lex.take("||"):
            parts.append(self._and(lex))
        return parts[0] if len(parts) == 1 else ("or", parts)

    def _and(self, lex):
        parts = [self._primary(lex)]
        while lex.take("&&"):
            parts.append(self._primary(lex))
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _primary(self, lex):
        if lex.take("("):
            node = self._or(lex)
            if not lex.take(")"):
                raise FilterPatternError("Invalid filter pattern: '(' is not closed.")
            return node
        path = _parse_selector(lex)
        if lex.peek_word("IS"):
            lex.i += 2
            for word, test in (
                ("TRUE", lambda v: v is True),
                ("FALSE", lambda v: v is False),
                ("NULL", lambda v: v is None),
            ):
                if lex.peek_word(word):
                    lex.i += len(word)
                    return ("node", path, test)
            raise FilterPatternError(
                "Invalid filter pattern: IS must be followed by TRUE, FALSE or NULL."
            )
        if lex.peek_word("NOT"):
            lex.i += 3
            if not lex.peek_word("EXISTS"):
                raise FilterPatternError("Invalid filter pattern: NOT must be followed by EXISTS.")
            lex.i += 6
            return ("missing", path)
        if lex.peek_word("EXISTS"):
            lex.i += 6
            return ("exists", path)
        op = lex.op()
        if op is None:
            raise FilterPatternError(
                "Invalid filter pattern: expected an operator after a selector."
            )
        kind, raw = lex.value()
        if kind != "regex" and raw == "*" and op in ("=", "!="):
            return ("node", path, (lambda v: _scalar(v)) if op == "=" else (lambda v: False))
        pred = _value_predicate(op, kind, raw, "in the JSON pattern")
        return ("node", path, lambda v: _scalar(v) and v is not None and pred(v))

    @staticmethod
    def _eval(node, doc) -> bool:
        kind = node[0]
        if kind == "node":
            return any(node[2](v) for v in _resolve(doc, node[1]))
        if kind == "missing":
            return not _resolve(doc, node[1])
        if kind == "exists":
            return bool(_resolve(doc, node[1]))
        if kind == "and":
            return all(JsonMatcher._eval(c, doc) for c in node[1])
        return any(JsonMatcher._eval(c, doc) for c in node[1])

    def matches(self, message: str) -> bool:
        s = message.lstrip()
        if not s or s[0] not in "{[":
            return False
        try:
            doc = json.loads(message)
        except ValueError:
            return False
        return self._eval(self.tree, doc)


def compile_pattern(text: str | None) -> Matcher:
    """Compile a filter pattern (``None`` or blank: every event matches)."""
    if text is None or not text.strip():
        return Matcher(text or "")
    s = text.strip()
    if s[0] == "{":
        return JsonMatcher(s)
    if s[0] == "[":
        return DelimitedMatcher(s)
    return TextMatcher(s)
