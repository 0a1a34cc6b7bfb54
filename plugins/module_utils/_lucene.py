# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checking that a user's Lucene query string (an SCS ``qfilter``) is one balanced expression.

The collection puts a user's qfilter in parentheses and ANDs its own clauses after it (probe, signature, flow). A
qfilter that closes those parentheses early (``x) OR (*``) would turn them into alternatives. Counting parentheses
is not enough: whether a ``(`` counts depends on quotes, ``/regex/``, ``[ranges]`` and backslash escapes, and a
``"`` inside a regex (``x:/"/ ) OR *:* OR ( x:/"/``) fools a counter that only knows quotes.

So the qfilter is tokenized as Elasticsearch's query_string parser (Lucene's classic QueryParser) does, then parsed
with its grammar, and refused unless it is one complete expression. Constructs that Lucene dialects read
differently (luqum, which the SCS emulator uses, among them) are refused too, with the fix, rather than guessed:
a ``"`` or ``/`` or ``!`` glued to a word, a ``\\\\`` inside a regex, a range bound with spaces or brackets, a
control character. No dependency: plugins run where only ansible-core is installed.
"""

from __future__ import annotations

import re

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError

MAX_LENGTH = 8192
MAX_DEPTH = 64
WHITESPACE = " \t\n\r\u3000"  # Lucene's; other spaces are term characters there but separators elsewhere
# Characters that end a Lucene term (besides whitespace); "*", "?", "+", "-" continue one.
SPECIAL = frozenset('!():^[]"{}~\\/')
OPERATORS = {"AND": "AND", "&&": "AND", "OR": "OR", "||": "OR", "NOT": "NOT"}
RANGE_WORD_RE = re.compile(r"-?[\w.*@?](?:[\w.*@?+/-]|(?<=T\d\d):\d\d(?::\d\d)?)*")
RANGE_BOUND_RE = re.compile(r'"[^"\\]+"|%s' % RANGE_WORD_RE.pattern)
RANGE_RE = re.compile(r" *(%s) +TO +(%s) *" % (RANGE_BOUND_RE.pattern, RANGE_BOUND_RE.pattern))
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
RESERVED = frozenset(("AND", "OR", "NOT", "TO"))


class _Token:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind, text, pos):
        self.kind, self.text, self.pos = kind, text, pos


class _Refused(Exception):
    def __init__(self, pos, problem, fix):
        super().__init__(problem)
        self.pos, self.problem, self.fix = pos, problem, fix


def check_query(qfilter):
    """Return ``qfilter`` when it is one balanced Lucene expression, else raise ScsConfigError naming the fix."""
    if len(qfilter) > MAX_LENGTH:
        raise ScsConfigError("qfilter is %d characters long, more than %d: SCS receives it in the URL. Narrow the "
                             "query, or split it over several runs." % (len(qfilter), MAX_LENGTH))
    try:
        _Parser(_tokenize(qfilter)).parse()
    except _Refused as refused:
        raise ScsConfigError("qfilter %s at position %d (%s): %s" % (
            refused.problem, refused.pos, _excerpt(qfilter, refused.pos), refused.fix)) from None
    return qfilter


def _excerpt(text, pos, width=60):
    start = max(0, pos - width)
    return "%s%r%s" % ("..." if start else "", text[start:pos + width], "..." if pos + width < len(text) else "")


# -- tokens ------------------------------------------------------------------------------------------------------

def _tokenize(text):
    _check_characters(text)
    tokens, pos, word_end = [], 0, -1
    while pos < len(text):
        char = text[pos]
        if char in WHITESPACE:
            pos += 1
            continue
        glued = pos == word_end  # right after a word or a "!", where other parsers read on
        if char in "():":
            tokens.append(_Token(char, char, pos))
            pos += 1
        elif char == '"':
            _refuse_glued(glued, pos, '"')
            pos = _append(tokens, "PHRASE", text, pos, _phrase_end(text, pos))
        elif char == "/":
            _refuse_glued(glued, pos, "/")
            pos = _append(tokens, "REGEX", text, pos, _regex_end(text, pos))
        elif char in "[{":
            pos = _append(tokens, "RANGE", text, pos, _range_end(text, pos))
        elif char in "]}":
            raise _Refused(pos, "has an unbalanced %r" % char,
                           "a range is [low TO high] or {low TO high}; escape a literal bracket with a backslash or quote "
                           "the value.")
        elif char in "^~":
            pos = _append(tokens, "BOOST" if char == "^" else "SLOP", text, pos, _modifier_end(text, pos))
        elif char in "+-!":
            pos = _operator(tokens, text, pos, glued)
            word_end = pos if char == "!" else word_end
        else:
            pos = word_end = _append(tokens, "TERM", text, pos, _term_end(text, pos))
            _classify(tokens[-1])
    return tokens


def _check_characters(text):
    for pos, char in enumerate(text):
        if char not in WHITESPACE and (not char.isprintable() or char.isspace()):
            raise _Refused(pos, "holds the character U+%04X" % ord(char),
                           "remove it; use plain spaces between terms and only printable characters.")
        if char == "\\" and text[pos + 1:pos + 2] in ("\n", "\r"):
            raise _Refused(pos, "escapes a line break", "remove the backslash or the line break.")


def _append(tokens, kind, text, start, end):
    tokens.append(_Token(kind, text[start:end], start))
    return end


def _refuse_glued(glued, pos, char):
    if glued:
        raise _Refused(pos, "has a %s glued to the word or ! before it" % char,
                       "put a space before it to start a new value, or escape it (\\%s) inside the word." % char)


def _phrase_end(text, start):
    pos = start + 1
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
        elif text[pos] == '"':
            return pos + 1
        else:
            pos += 1
    raise _Refused(start, "has an unbalanced quote (a \" that is never closed)",
                   "close it, or escape a literal quote with a backslash (\\\").")


def _regex_end(text, start):
    # Lucene's regex token ends at the first "/" not preceded by a backslash; a "\\" (which other parsers read as an
    # escaped backslash) would make that depend on the parser.
    pos = start + 1
    while pos < len(text):
        if text[pos] == "\\":
            if text[pos + 1:pos + 2] == "\\":
                raise _Refused(pos, "has \\\\ inside a /regex/", "match a backslash with [\\\\] instead.")
            pos += 2
        elif text[pos] == "/":
            return pos + 1
        else:
            pos += 1
    raise _Refused(start, "has an unbalanced / (a /regex/ that is never closed)",
                   "close it, or escape a literal slash with a backslash (\\/) or quote the value.")


def _range_end(text, start):
    close = min((index for index in (text.find("]", start), text.find("}", start)) if index >= 0), default=-1)
    if close < 0:
        raise _Refused(start, "has an unbalanced %r (a range that is never closed)" % text[start],
                       "write [low TO high] or {low TO high}, or escape a literal bracket with a backslash.")
    match = RANGE_RE.fullmatch(text[start + 1:close])
    if not match or match.group(1) in RESERVED or match.group(2) in RESERVED:
        raise _Refused(start, "has a range that is not [low TO high]",
                       "write [low TO high] or {low TO high} with plain spaces, bounds that are * or a word (letters, "
                       "digits, . - _ @ / + ? and times such as 2026-05-02T10:00:00) or a quoted value without "
                       "backslashes, for example [\"2026-05-02 10:00\" TO *].")
    return close + 1


def _modifier_end(text, start):
    match = NUMBER_RE.match(text, start + 1)
    end = match.end() if match else start + 1
    if (text[start] == "^" and not match) or (end < len(text) and _in_term(text[end])):
        raise _Refused(start, "has a %r not followed by a number" % text[start],
                       "write term^2 to boost or term~1 for fuzziness, or escape it (\\%s)." % text[start])
    return end


def _operator(tokens, text, pos, glued):
    char = text[pos]
    following = text[pos + 1:pos + 2]
    if not following or following in WHITESPACE:
        raise _Refused(pos, "has a %r that applies to nothing" % char,
                       "put it right before the term or group it applies to, or escape it (\\%s)." % char)
    if char == "!" and glued:
        raise _Refused(pos, "has a ! right after a word", "put a space before it (NOT), or escape it (\\!).")
    tokens.append(_Token("NOT" if char == "!" else char, char, pos))
    return pos + 1


def _in_term(char):
    return char not in WHITESPACE and char not in SPECIAL


def _term_end(text, start):
    pos = start
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            if pos + 1 >= len(text):
                raise _Refused(pos, "ends with a lone backslash", "remove it, or double it (\\\\) for a backslash.")
            pos += 2
        elif _in_term(char):
            pos += 1
        else:
            break
    if pos < len(text) and text[pos] == "!":
        raise _Refused(pos, "has a ! right after a word", "put a space before it (NOT), or escape it (\\!).")
    return pos


def _classify(token):
    text = token.text
    if text in OPERATORS:
        token.kind = OPERATORS[text]
    elif text == "*":
        token.kind = "STAR"
    elif text.startswith("'"):
        raise _Refused(token.pos, "has a value in single quotes", "use double quotes for a phrase: \"two words\".")
    elif text[0] in "<>":
        # Lucene reads >=10 as one term; other parsers as a comparison of what follows it.
        rest = text[2:] if text[1:2] == "=" else text[1:]
        if not rest or rest[0] in "<>'+-" or rest in RESERVED:
            raise _Refused(token.pos, "has a comparison %r without a value right after it" % text,
                           "write field:>=10 with the value glued to the operator, or escape the operator.")


# -- grammar -----------------------------------------------------------------------------------------------------

class _Parser:
    """Lucene's grammar: query := clause ([AND|OR] clause)*; clause := [NOT|+|-] ([field:] value | (query))."""

    VALUES = ("TERM", "STAR", "PHRASE", "REGEX", "RANGE")

    def __init__(self, tokens):
        self.tokens = tokens
        self.index = 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self):
        token = self.peek()
        self.index += 1
        return token

    def end_pos(self):
        last = self.tokens[-1] if self.tokens else None
        return last.pos + len(last.text) if last else 0

    def parse(self):
        if not self.tokens:
            raise _Refused(0, "is empty", "leave qfilter out to match every alert.")
        self.query(0)
        token = self.peek()
        if token is not None:
            raise _Refused(token.pos, "has an unbalanced ')'", "balance them: each ')' needs its '(' before it; "
                                                               "escape a literal one with a backslash or quote the value.")

    def query(self, depth):
        if depth > MAX_DEPTH:
            raise _Refused(self.peek().pos, "nests groups more than %d deep" % MAX_DEPTH, "flatten the query.")
        self.clause(depth)
        while self.peek() is not None and self.peek().kind != ")":
            if self.peek().kind in ("AND", "OR"):
                self.operand_of(self.take())
            self.clause(depth)

    def operand_of(self, operator):
        following = self.peek()
        if following is None or following.kind == ")":
            raise _Refused(operator.pos, "has %s with nothing after it" % operator.text,
                           "complete the expression or remove the operator.")

    def clause(self, depth):
        token = self.peek()
        if token is not None and token.kind in ("NOT", "+", "-"):
            self.operand_of(self.take())
            token = self.peek()
        if token.kind in ("TERM", "STAR") and self._next_kind() == ":":
            if token.kind == "TERM" and (token.text == "TO" or token.text[0] in "<>" or _has_wildcard(token.text)):
                raise _Refused(token.pos, "has the field name %r" % token.text,
                               "a field name cannot be TO, start with < or >, nor hold an unescaped * or ?: escape "
                               "them (\\*).")
            self.take()
            self.take()
            token = self.peek()
            if token is None or token.kind not in self.VALUES + ("(",):
                raise _Refused(token.pos if token else self.end_pos(), "has a field without a value",
                               "write field:value, field:(a OR b) or field:[low TO high]; escape a literal : - + or ! "
                               "with a backslash (field:\\-1) or quote the value.")
        if token.kind == "(":
            self.group(depth)
        elif token.kind in self.VALUES:
            self.value()
        elif token.kind == ")":
            raise _Refused(token.pos, "has an unbalanced ')'", "balance them: each ')' needs its '(' before it; "
                                                               "escape a literal one with a backslash or quote the value.")
        else:
            raise _Refused(token.pos, "has %r where a value is expected" % token.text,
                           "write the value, or escape the character with a backslash or quote the value.")

    def group(self, depth):
        opening = self.take()
        if self.peek() is None:
            raise _Refused(opening.pos, "has an unbalanced '(' (never closed)", "balance them: each '(' needs its ')'; "
                                                                                "escape a literal one with a backslash.")
        if self.peek().kind == ")":
            raise _Refused(opening.pos, "has an empty group ()", "remove it or put an expression in it.")
        self.query(depth + 1)
        closing = self.take()
        if closing is None:
            raise _Refused(opening.pos, "has an unbalanced '(' (never closed)",
                           "balance them: each '(' needs its ')'; escape a literal one with a backslash or quote the "
                           "value.")
        self.postfix(("BOOST",))

    def value(self):
        token = self.take()
        if token.kind == "TERM" and self.peek() is not None and self.peek().kind == ":":
            raise _Refused(self.peek().pos, "has a ':' after a value",
                           "escape a literal : with a backslash (\\:) or quote the value.")
        # other parsers read TO and a leading < or > as operators, which take no ~
        fuzzy = token.kind in ("TERM", "STAR", "PHRASE") and token.text != "TO" and token.text[0] not in "<>"
        allowed = ("SLOP", "BOOST") if fuzzy else ("BOOST",)
        self.postfix(allowed)

    def postfix(self, allowed):
        token = self.peek()
        if token is not None and token.kind in ("SLOP", "BOOST"):
            if token.kind not in allowed:
                raise _Refused(token.pos, "has a misplaced ~", "~ follows a word or a phrase only.")
            self.take()
            following = self.peek()
            if token.kind == "SLOP" and following is not None and following.kind == "BOOST":
                self.take()
        if self.peek() is not None and self.peek().kind in ("SLOP", "BOOST", ":"):
            raise _Refused(self.peek().pos, "has a misplaced %r" % self.peek().text[0],
                           "write term~1^2 at most, and escape a literal : ^ or ~ with a backslash.")

    def _next_kind(self):
        following = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else None
        return following.kind if following else None


def _has_wildcard(text):
    pos = 0
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
            continue
        if text[pos] in "*?":
            return True
        pos += 1
    return False
