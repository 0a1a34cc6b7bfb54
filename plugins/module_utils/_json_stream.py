# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading a JSON file of documents one at a time, in bounded memory: a JSON list of documents, a JSON object with a
list of them under one key (other keys are kept aside), or one document per line (NDJSON, or documents one after the
other). Each document may take at most ``cap`` characters; nothing else is held but the document being read."""

from __future__ import annotations

import json
import re

from ansible_collections.stamus.scs.plugins.module_utils._text import printable

MIB = 1 << 20
# The most one document (an alert, one line of NDJSON, one top-level value beside the list) may take, in characters.
MAX_DOCUMENT_CHARS = MIB
READ_CHARS = 64 * 1024
WHITESPACE_RE = re.compile(r"[ \t\r\n]*")
# A decoding error this close to the end of what was read may only mean that the document goes on.
TRUNCATION_MARGIN = 8
_DECODER = json.JSONDecoder()


class JsonStreamError(ValueError):
    """The file is not what the reader expects; the message names the line."""


class _TooLarge(Exception):
    def __init__(self, line):
        super().__init__(line)
        self.line = line


class _Reader:
    """A window over a text file: what is buffered, the position in it and the line number there."""

    def __init__(self, handle, cap):
        self.handle = handle
        self.cap = cap
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def fill(self):
        """Read more (at least as much again as is buffered, so that a long document costs few decoding attempts)."""
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        chunk = self.handle.read(max(READ_CHARS, len(self.buf)))
        if chunk:
            self.buf += chunk
        else:
            self.eof = True

    def advance(self, end):
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def peek(self):
        """The next character that is not whitespace ("" at the end of the file), without taking it."""
        while True:
            self.advance(WHITESPACE_RE.match(self.buf, self.pos).end())
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self.fill()

    def take(self, expected, what):
        char = self.peek()
        if char == "" or char not in expected:
            raise JsonStreamError("line %d: expected %s, found %s." % (
                self.line, what, "the end of the file" if char == "" else repr(char)))
        self.advance(self.pos + 1)
        return char

    def value(self):
        """Decode the value at the current position (after peek()); return ``(value, line where it starts)``."""
        start_line = self.line
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as err:
                if not self._may_go_on(err):
                    raise JsonStreamError("line %d: not valid JSON (%s at line %d, column %d)." % (
                        start_line, err.msg, start_line + self.buf.count("\n", self.pos, err.pos),
                        err.pos - self.buf.rfind("\n", 0, err.pos))) from None
                self._more(start_line)
                continue
            if end == len(self.buf) and not self.eof:
                self._more(start_line)  # a number or word may go on in what is not read yet
                continue
            if end - self.pos > self.cap:
                raise _TooLarge(start_line)
            self.advance(end)
            return value, start_line

    def _may_go_on(self, err):
        if self.eof:
            return False
        return err.pos >= len(self.buf) - TRUNCATION_MARGIN or err.msg.startswith("Unterminated string")

    def _more(self, start_line):
        if len(self.buf) - self.pos > self.cap:
            raise _TooLarge(start_line)
        self.fill()


class JsonDocuments:
    """The documents of a JSON file, one at a time: ``for line, document in JsonDocuments(path)``.

    The file is a JSON list of documents, a JSON object holding them as a list under ``list_key`` (its other members
    are kept in ``others`` once read), or documents one after the other (one per line: NDJSON). ``form`` tells which
    once iteration has started. Each pass reopens the file.
    """

    def __init__(self, path, list_key="alerts", cap=MAX_DOCUMENT_CHARS):
        self.path = path
        self.list_key = list_key
        self.cap = cap
        self.form = None
        self.others = None

    def __iter__(self):
        with open(self.path, "r", encoding="utf-8-sig", newline="") as handle:
            try:
                yield from self._documents(handle)
            except UnicodeDecodeError as err:
                raise JsonStreamError("not UTF-8 text (%s)." % err.reason) from None

    def _documents(self, handle):
        reader = _Reader(handle, self.cap)
        first = reader.peek()
        if first == "[":
            self.form = "list"
            yield from self._list(reader)
            self._end(reader, "the list")
            return
        if first == "{":
            try:
                document, line = reader.value()
            except _TooLarge:
                # Larger than one document may be: only an object holding the list can be; read it member by member.
                handle.seek(0)
                self.form = "object"
                reader = _Reader(handle, self.cap)
                reader.peek()
                yield from self._object(reader)
                self._end(reader, "the object")
                return
            if isinstance(document, dict) and self.list_key in document:
                self.form = "object"
                items = document.pop(self.list_key)
                if not isinstance(items, list):
                    raise JsonStreamError("line %d: the %s member must be a list." % (line, self.list_key))
                self.others = document
                for item in items:
                    yield line, item
                self._end(reader, "the object")
                return
            self.form = "lines"
            yield line, document
        else:
            self.form = "lines"
        yield from self._one_after_the_other(reader)

    def _document(self, reader):
        """``(line, document)`` for the document at the reader's position."""
        try:
            value, line = reader.value()
        except _TooLarge as big:
            raise JsonStreamError("line %d: the document there is larger than %d characters, the most one may take." % (
                big.line, self.cap)) from None
        return line, value

    def _one_after_the_other(self, reader):
        while reader.peek() != "":
            yield self._document(reader)

    def _list(self, reader):
        reader.take("[", "[")
        if reader.peek() == "]":
            reader.advance(reader.pos + 1)
            return
        while True:
            reader.peek()
            yield self._document(reader)
            if reader.take(",]", "',' or ']' after the document") == "]":
                return

    def _object(self, reader):
        reader.take("{", "{")
        self.others = {}
        found = False
        if reader.peek() == "}":
            reader.advance(reader.pos + 1)
        else:
            while True:
                if reader.peek() != '"':
                    reader.take('"', "a member name")
                key, line = reader.value()
                reader.take(":", "':' after the member name")
                if key == self.list_key:
                    if reader.peek() != "[":
                        raise JsonStreamError("line %d: the %s member must be a list." % (line, self.list_key))
                    found = True
                    yield from self._list(reader)
                else:
                    reader.peek()
                    try:
                        self.others[key] = reader.value()[0]
                    except _TooLarge as big:
                        raise JsonStreamError("line 1: the document there is larger than %d characters, the most one "
                                              "may take (its %s member, at line %d, alone is), and is no object with a "
                                              "%s list." % (self.cap, printable(repr(key))[:80], big.line,
                                                            self.list_key)) from None
                if reader.take(",}", "',' or '}' after a member") == "}":
                    break
        if not found:
            raise JsonStreamError("line 1: a JSON object larger than %d characters (the most one document may take) "
                                  "with no %s list." % (self.cap, self.list_key))

    @staticmethod
    def _end(reader, what):
        if reader.peek() != "":
            raise JsonStreamError("line %d: more data after %s; give one JSON document, or one document per line." % (
                reader.line, what))
