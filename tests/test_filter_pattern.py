"""The filter-pattern matcher, sans-IO: the three syntaxes CloudWatch Logs documents."""

from __future__ import annotations

import pytest

from privlink.telemetry.filterpattern import FilterPatternError, compile_pattern, split_fields

EVENTS = ["ERROR WARN message", "ERROR message", "WARN message"]


def hits(pattern: str, events=EVENTS) -> list[int]:
    m = compile_pattern(pattern)
    return [i + 1 for i, e in enumerate(events) if m.matches(e)]


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("", [1, 2, 3]),
        ("   ", [1, 2, 3]),
        ("ERROR", [1, 2]),
        ("ERROR WARN", [1]),
        ("?ERROR ?WARN", [1, 2, 3]),
        ("ERROR -WARN", [2]),
        ('"ERROR" - "WARN"', [2]),
        ("?ERROR ?WARN -message", []),
        ("?ERROR ?WARN -ERROR", [3]),
        ('"ERROR message"', [2]),
        ("message ?WARN", [1, 3]),
        ("error", []),  # case-sensitive
    ],
)
def test_unstructured_terms(pattern, expected):
    assert hits(pattern) == expected


def test_terms_are_substrings_and_phrases_keep_punctuation():
    events = [
        "[ERROR 400] BAD REQUEST",
        "Exiting with ERRORCODE: -1",
        "[INFO] all good: 10.0.0.1 connected",
    ]
    assert hits("ERROR", events) == [1, 2]
    assert hits('"ERROR 400"', events) == [1]
    assert hits('"10.0.0.1 connected"', events) == [3]
    assert hits('ERROR -"ERRORCODE:"', events) == [1]
    assert hits('"say \\"hi\\""', ['they say "hi"']) == [1]


def test_regex_terms():
    events = ["[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST", "nothing"]
    assert hits("%AUTHORIZED%", events) == [1, 2]
    assert hits("%^\\[SUCCESS%", events) == [2]
    assert hits("%[45]0[0-9]%", events) == [1]
    with pytest.raises(FilterPatternError):
        compile_pattern("%(a|b)%")


FLOW = [
    "2 111122223333 eni-0a1b 10.0.1.5 10.0.2.9 49152 8443 6 10 840 1700000000 1700000060 REJECT OK",
    "2 111122223333 eni-0a1b 10.0.1.5 10.0.2.9 49153 8443 6 12 9000 1700000000 1700000060 ACCEPT OK",
    "2 111122223333 eni-0a1b 10.0.1.7 10.0.2.9 49154 443 6 4 200 1700000000 1700000060 REJECT OK",
    "2 111122223333 eni-0a1b - - - - - - - 1700000000 1700000060 - NODATA",
]
FLOW_FIELDS = (
    "version, account, eni, source, destination, srcport, destport{dp}, protocol{proto}, "
    "packets, bytes{b}, windowstart, windowend, action{act}, flowlogstatus"
)


def flow(dp="", proto="", b="", act=""):
    return "[" + FLOW_FIELDS.format(dp=dp, proto=proto, b=b, act=act) + "]"


def test_vpc_flow_log_pattern_from_the_brief():
    pattern = flow(dp='="8443"', proto='="6"', act='="REJECT"')
    assert hits(pattern, FLOW) == [1]
    assert hits(flow(act='="REJECT"'), FLOW) == [1, 3]
    assert hits(flow(act="=REJECT"), FLOW) == [1, 3]
    assert hits(flow(act="!=REJECT"), FLOW) == [2, 4]
    assert hits(flow(), FLOW) == [1, 2, 3, 4]


def test_delimited_numeric_comparisons():
    assert hits(flow(b=">1000"), FLOW) == [2]
    assert hits(flow(b="<=840"), FLOW) == [1, 3]
    assert hits(flow(b=">=840", dp="=8443"), FLOW) == [1, 2]
    assert hits(flow(dp="!=8443"), FLOW) == [3, 4]  # "-" (NODATA) is not 8443 either
    assert hits(flow(b="<1e6"), FLOW) == [1, 2, 3]
    assert hits(flow(b=">-1"), FLOW) == [1, 2, 3]


def test_delimited_wildcards_and_regex_values():
    assert hits(
        "[..., source = 10.0.1.*, destination, srcport, destport = 84*, "
        "protocol, packets, bytes, windowstart, windowend, action, status]",
        FLOW,
    ) == [1, 2]
    assert hits("[v, a, eni, source = 10.0.1.*, ...]", FLOW) == [1, 2, 3]
    assert hits('[v, a, eni, source = "*.7", ...]', FLOW) == [3]
    assert hits("[v, a, eni = %^eni-0a%, ...]", FLOW) == [1, 2, 3, 4]
    assert hits("[..., action = %^REJ%, status]", FLOW) == [1, 3]


def test_ellipsis_positions_and_field_counts():
    ev = ["a b c d", "a b", "x b c d e"]
    assert hits("[w1, w2]", ev) == [2]
    assert hits("[w1, ...]", ev) == [1, 2, 3]
    assert hits("[..., last = d]", ev) == [1]
    assert hits("[first = a, ..., last = d]", ev) == [1]
    assert hits("[first, second = b, ...]", ev) == [1, 2, 3]
    assert hits("[..., c = c, d, ...]", ev) == [1, 3]
    assert hits("[w1, w2, w3, w4, w5, w6, ...]", ev) == []


def test_delimited_and_or_conditions():
    assert hits("[w1=ERROR, w2]", ["ERROR message", "WARN message", "ERROR a b"]) == [1]
    assert hits("[w1=ERROR || w1=WARN, w2]", EVENTS + ["INFO message"]) == [2, 3]
    logs = [
        '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
        '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 403 5324',
        '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355',
    ]
    base = "[ip, user, username, timestamp, request{r}, status_code{s}, bytes{b}]"
    assert hits(base.format(r="", s="", b=" > 5000"), logs) == [2]
    assert hits(base.format(r="", s=" = 4*", b=""), logs) == [1, 2]
    assert hits(base.format(r=" = *html*", s=" = 4*", b=""), logs) == [1]
    assert hits(base.format(r="", s=" = 4* && status_code != 403", b=""), logs) == [1]
    assert hits(base.format(r="", s=" = 4* && bytes > 2000", b=""), logs) == [2]
    assert hits(base.format(r="", s=" = 200 || bytes < 2000", b=""), logs) == [1, 3]
    assert hits("[..., request = *.html*, status_code = 4*,]", logs) == [1]
    assert hits("[ip, , , , request, status_code = 200, ]", logs) == [3]


def test_split_fields_keeps_quoted_and_bracketed_text_together():
    assert split_fields('a "b c" [d e]  f') == ["a", "b c", "d e", "f"]
    assert split_fields("  ") == []


JSON_DOC = """{
  "eventType": "UpdateTrail",
  "sourceIPAddress": "111.111.111.111",
  "arrayKey": ["value", "another value"],
  "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
  "SomeObject": null,
  "ThisFlag": true,
  "latency": 750,
  "user": {"id": 1, "email": "John.Stiles@example.com"},
  "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
  "actions": ["GET", "PUT", "DELETE"],
  "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]
}"""


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ('{ $.eventType = "UpdateTrail" }', True),
        ("{ $.eventType = UpdateTrail }", True),
        ('{ $.eventType != "UpdateTrail" }', False),
        ("{ $.sourceIPAddress != 123.123.* }", True),
        ("{ $.sourceIPAddress = 111.111.* }", True),
        ('{ $.arrayKey[0] = "value" }', True),
        ('{ $.arrayKey[*] = "another value" }', True),
        ("{ $.objectList[1].id = 2 }", True),
        ("{ $.objectList[1].id = 3 }", False),
        ("{ $.SomeObject IS NULL }", True),
        ("{ $.SomeOtherObject NOT EXISTS }", True),
        ("{ $.SomeObject NOT EXISTS }", False),
        ("{ $.ThisFlag IS TRUE }", True),
        ("{ $.ThisFlag IS FALSE }", False),
        ("{ $.latency >= 500 }", True),
        ("{ $.latency < 10e2 }", True),
        ("{ $.latency > +1000 }", False),
        ("{ $.latency = * }", True),
        ("{ $.missing = * }", False),
        ("{ $.eventType = *Trail }", True),
        ("{ $.eventType = %^Update% }", True),
        ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
        ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
        (
            '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch '
            "&& $.actions[2] = nomatch }",
            True,
        ),
        (
            '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) '
            "&& $.actions[2] = nomatch }",
            False,
        ),
        ("{ $.coordinates[1][2] = 6 }", True),
        ("{ $.users = 1 }", False),  # a selector naming an array matches nothing
        ("{ $.users != 1 }", False),
    ],
)
def test_json_patterns(pattern, expected):
    assert compile_pattern(pattern).matches(JSON_DOC) is expected


def test_json_pattern_ignores_non_json_events():
    m = compile_pattern('{ $.a = "b" }')
    assert not m.matches('a = "b"')
    assert not m.matches("{not json")
    assert m.matches('{"a": "b"}')


@pytest.mark.parametrize(
    "bad",
    [
        '"unclosed',
        "[a, b",
        "[]",
        "[a, a]",
        "[a > x]",
        "[a = ]",
        "[1a]",
        "{ $.a = 1",
        "{ a = 1 }",
        "{ $.a IS MAYBE }",
        "{ $.a < abc }",
        "{ }",
        "?",
    ],
)
def test_bad_patterns_are_refused(bad):
    with pytest.raises(FilterPatternError):
        compile_pattern(bad)
