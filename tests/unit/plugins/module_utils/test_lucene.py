"""The qfilter check: one balanced Lucene expression, or a clear refusal. luqum (the emulator's parser) is the
second opinion: whatever the check accepts must parse there too, and stay one group once the collection ANDs its
own clauses after it."""

import random

import pytest
from luqum import tree
from luqum.parser import parser

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError
from ansible_collections.stamus.scs.plugins.module_utils._lucene import MAX_DEPTH, MAX_LENGTH, check_query

ISSUE_EXAMPLE = 'x:/"/ ) OR *:* OR ( x:/"/'


def keeps_host_conjunct(qfilter):
    """luqum reads ``(<qfilter>) AND host:x`` as exactly that: the qfilter's group AND the host clause."""
    node = parser.parse('(%s) AND host:x' % qfilter)
    return (isinstance(node, tree.AndOperation) and len(node.children) == 2
            and isinstance(node.children[0], tree.Group)
            and isinstance(node.children[1], tree.SearchField) and node.children[1].name == "host"
            and str(node.children[1].expr) == "x")


ACCEPTED = [
    "app_proto:http OR app_proto:tls",
    "alert.severity:1",
    '(a OR b) AND NOT c',
    'sig:"weird ) value"',
    "path:a\\)b",
    '_id:"Xk3aQ4kBWK2kIefhuEoN" OR _id:"a9zoTRjJW7JOqQ8s3yQG"',
    "(app_proto:http) AND alert.severity:1 AND alert.signature_id:(2029743 OR 2035465)",
    "alert.severity:[1 TO 2]",
    "alert.severity:{1 TO 3]",
    "@timestamp:[2026-05-02T10:00:00Z TO now]",
    "@timestamp:[now-1d/d TO *]",
    '@timestamp:["2026-05-02 10:00" TO *]',
    "dest_port:>=1024",
    "src_ip:\"10.0.0.0/8\"",
    "http.url:/.*\\/admin\\/.*/",
    "http.url:/[a-z]+\\.php/",
    "alert.signature:/.*\"(.*/",
    "_exists_:capture_file",
    "*:*",
    "host:probe\\-0*",
    "alert.signature:ET* AND -alert.category:\"Not Suspicious Traffic\"",
    "+app_proto:dns !dns.rrname:*.example.net",
    "alert.signature:malware~1^2",
    '"exploit kit"~3',
    "(a)^2",
    "a && b || c",
    "\u3000a\tb\nc",
    "x:(a:(b OR c) AND d)",
    'x:["a) OR (" TO b]',
    'x:"a\\" ) OR ( \\"b"',
]


@pytest.mark.parametrize("qfilter", ACCEPTED)
def test_real_queries_pass_whole(qfilter):
    assert check_query(qfilter) == qfilter
    assert keeps_host_conjunct(qfilter)


REFUSED = [
    (ISSUE_EXAMPLE, "unbalanced ')' at position 6"),
    ("x) OR (*", "unbalanced ')' at position 1"),
    ("x:/a\\\\/ OR *:* OR x:/b/", "\\\\ inside a /regex/"),
    ("x:/a\\/ OR b", "unbalanced / (a /regex/ that is never closed)"),
    ('alert.signature:"ET MALWARE', 'unbalanced quote (a " that is never closed) at position 16'),
    ("a\"b\" ) OR (\"", 'a " glued to the word'),
    ("url:a/b", "a / glued to the word"),
    ("*\"x\"", 'a " glued'),
    ('!"a) OR (b"', 'a " glued to the word or !'),
    ("a!b", "a ! right after a word"),
    ("x:[a TO b", "unbalanced '[' (a range that is never closed)"),
    ("x:[( TO )]", "a range that is not [low TO high]"),
    ("x:[a\tTO b]", "a range that is not [low TO high]"),
    ("x:[TO TO b]", "a range that is not [low TO high]"),
    ("a]", "unbalanced ']'"),
    ("(a", "unbalanced '(' (never closed) at position 0"),
    ("((a)", "unbalanced '(' (never closed) at position 0"),
    ("()", "empty group ()"),
    ("a AND", "AND with nothing after it"),
    ("a AND AND b", "'AND' where a value is expected"),
    ("NOT", "NOT with nothing after it"),
    ("a -", "'-' that applies to nothing"),
    ("- a", "'-' that applies to nothing"),
    ("--a", "'-' where a value is expected"),
    ("x:-1", "field without a value"),
    ("x:", "field without a value"),
    (":a", "':' where a value is expected"),
    ("a:b:c", "':' after a value"),
    ('"a":b', "misplaced ':'"),
    ("alert.*:x", "field name 'alert.*'"),
    ("TO:x", "field name 'TO'"),
    ("a^", "'^' not followed by a number"),
    ("a~x", "'~' not followed by a number"),
    ("/a/~2", "misplaced ~"),
    ("'two words'", "single quotes"),
    ("x:> 5", "comparison '>' without a value"),
    ("a\\", "ends with a lone backslash"),
    ("a\\\nb", "escapes a line break"),
    ("a\u00a0b", "the character U+00A0"),
    ("a\x00b", "the character U+0000"),
    ("a\u2028b", "the character U+2028"),
    ("", "is empty"),
]


@pytest.mark.parametrize("qfilter, problem", REFUSED)
def test_what_cannot_be_proved_balanced_is_refused_with_the_fix(qfilter, problem):
    with pytest.raises(ScsConfigError) as info:
        check_query(qfilter)
    message = str(info.value)
    assert message.startswith("qfilter ") and problem in message, message
    assert ": " in message.split(" at position ", 1)[-1]  # then the fix


def test_the_issue_example_would_have_escaped_its_parentheses():
    """What the old quote-and-parenthesis counter let through: luqum confirms it escapes."""
    node = parser.parse("(%s) AND host:x" % ISSUE_EXAMPLE)
    assert isinstance(node, tree.OrOperation)  # host:x is no longer a restriction
    with pytest.raises(ScsConfigError, match="unbalanced"):
        check_query(ISSUE_EXAMPLE)


def test_length_and_nesting_are_bounded():
    with pytest.raises(ScsConfigError, match="more than %d: SCS receives it in the URL" % MAX_LENGTH):
        check_query("a" * (MAX_LENGTH + 1))
    deep = "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ScsConfigError, match="nests groups more than %d deep" % MAX_DEPTH):
        check_query(deep)
    assert check_query("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    with pytest.raises(ScsConfigError):
        check_query("(" * 5000)  # no RecursionError


PIECES = ["a", "x", "host", "alert.severity", "1", "*", "?", "a*", ":", "(", ")", '"', '"a b"', "/", "/re/", "\\",
          "\\(", '\\"', "\\/", "\\\\", "[", "]", "{", "}", "TO", " TO ", "AND", "OR", "NOT", "&&", "||", "!", "+", "-",
          "^2", "~", "~1", " ", " ", " ", "\t", "\n", "'", "<", ">", ">=", "=", ",", "T10:00", "2026-05-02T10:00:00",
          "@timestamp", "_exists_", ".", "#", "\u00e9", "\u3000", ";", "&", "|", ") OR (", "*:*"]


@pytest.mark.parametrize("seed", range(4))
def test_whatever_is_accepted_is_one_expression_that_keeps_the_host_restriction(seed):
    """Property: over random soups of Lucene syntax, every accepted qfilter parses in luqum, alone and as
    ``(<qfilter>) AND host:x`` with host:x a top-level conjunct."""
    rng = random.Random(seed)
    accepted = 0
    for _case in range(5000):
        qfilter = "".join(rng.choice(PIECES) for _piece in range(rng.randint(1, 10)))
        try:
            check_query(qfilter)
        except ScsConfigError:
            continue
        accepted += 1
        parser.parse(qfilter)
        assert keeps_host_conjunct(qfilter), qfilter
    assert accepted > 500, accepted  # the property was tried on many accepted qfilters, not vacuously
