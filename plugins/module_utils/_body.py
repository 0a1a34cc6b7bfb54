# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading an HTTP answer's body within a deadline and a size cap, decoding gzip/deflate incrementally.

requests decodes a whole body at once (``response.json()``, ``.content``) and its streaming reads block until a
full chunk arrives, so a gzip bomb could exhaust memory and a server dribbling bytes could hold a call for as long
as it liked. Here the body is read as it arrives, each read bounded by what is left of the deadline, and never more
than the cap is decoded. A download (``BodyReader``) is read into the caller's buffers instead, as fast as the
connection goes, with the same guarantees.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib

READ_SIZE = 64 * 1024
# Content-Encoding -> zlib wbits of its decoder (None: sent as is).
DECODERS = {"": None, "identity": None, "gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
            "deflate": zlib.MAX_WBITS}


class BodyBroken(Exception):
    """The body could not be read to its end (connection reset or closed early, a read that stalled)."""


class DeadlinePassed(Exception):
    """The body was still arriving when the deadline passed."""


class TooLarge(Exception):
    """The body (decoded) is larger than the cap."""


class BadEncoding(Exception):
    """The body's Content-Encoding is not one the caller accepts, or its compressed data is corrupt."""


def content_encoding(response):
    return (response.headers.get("Content-Encoding") or "").strip().lower()


def content_length(response):
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _limit_wait(raw, seconds):
    """Make the next socket read wait at most ``seconds`` (urllib3 sets the socket's timeout again per request)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.01))


def raw_pieces(response, deadline, per_read, describe_error, size=READ_SIZE, clock=time.monotonic):
    """Yield the body as sent (not decoded), each piece as soon as it arrives; raise DeadlinePassed at ``deadline``
    (a ``clock`` time) and BodyBroken (with ``describe_error(exc)``) when the transfer fails."""
    raw = response.raw
    # read1 returns what one socket read gets; urllib3 1.x has no read1, so there a read waits for `size` bytes.
    read = getattr(raw, "read1", None) or raw.read
    length = content_length(response)
    received = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeadlinePassed()
        if remaining < per_read:  # until then, the socket keeps the per-read timeout urllib3 gave it
            _limit_wait(raw, remaining)
        try:
            piece = read(size, decode_content=False)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # urllib3, http.client, ssl and socket errors all mean the same here: the body is incomplete.
            if clock() >= deadline:
                raise DeadlinePassed() from None
            raise BodyBroken(describe_error(exc)) from None
        if not piece:
            if length is not None and received < length:
                raise BodyBroken("received %d of %d bytes" % (received, length))
            return
        received += len(piece)
        yield piece


class BodyReader:
    """The body of a streamed response as sent (never decoded: the caller refuses encoded ones), read into the
    caller's buffers; ``close()`` when done.

    ``readinto(view)`` fills the whole buffer unless the body ends first, in as few calls as the stream allows: a
    megabyte takes one call, not one per TLS record. Each socket read still waits at most the response's read timeout
    (urllib3 sets it on the socket), and the whole body must arrive by ``deadline`` (a ``clock`` time): a timer shuts
    the connection down when it passes, which ends a read in progress however slowly the server dribbles, and the
    deadline is also checked before every read. Raises DeadlinePassed and BodyBroken (with
    ``describe_error(exc)``), like raw_pieces.
    """

    def __init__(self, response, deadline, describe_error, clock=time.monotonic):
        self._raw = response.raw
        self._raw.decode_content = False  # identity only: the bytes go into the buffer as they came
        self._length = content_length(response)
        self._received = 0
        self._deadline = deadline
        self._describe_error = describe_error
        self._clock = clock
        self._expired = False
        self._timer = threading.Timer(max(deadline - clock(), 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self):
        self._expired = True
        sock = getattr(getattr(self._raw, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read: it ends with EOF or an error
            except OSError:
                pass

    def _late(self):
        return self._expired or self._clock() >= self._deadline

    def readinto(self, view):
        """Fill ``view`` from the body; return how many bytes were put in it (fewer only at the end, 0 after it)."""
        wanted, filled = len(view), 0
        readinto = self._raw.readinto
        while filled < wanted:
            if self._late():
                raise DeadlinePassed()
            try:
                size = readinto(view[filled:] if filled else view)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # urllib3, http.client, ssl and socket errors all mean the same here: the body is incomplete.
                if self._late():
                    raise DeadlinePassed() from None
                raise BodyBroken(self._describe_error(exc)) from None
            if not size:
                break
            filled += size
        if self._expired:
            raise DeadlinePassed()  # an end of body seen after the shutdown may be the shutdown itself
        self._received += filled
        if filled < wanted and self._length is not None and self._received < self._length:
            raise BodyBroken("received %d of %d bytes" % (self._received, self._length))
        return filled

    def close(self):
        self._timer.cancel()


def decoded_pieces(pieces, encoding, limit):
    """Yield the decoded body of ``pieces`` (sent with Content-Encoding ``encoding``); raise TooLarge as soon as more
    than ``limit`` bytes would be decoded, and BadEncoding for an unknown encoding or corrupt data."""
    if encoding not in DECODERS:
        raise BadEncoding("Content-Encoding %s" % encoding[:40])
    wbits = DECODERS[encoding]
    produced = 0
    decoder = None if wbits is None else zlib.decompressobj(wbits)
    for piece in pieces:
        data = piece
        while data:
            if decoder is None:
                out, data = data, b""
            else:
                out, data, decoder, wbits = _inflate(decoder, data, limit - produced + 1, wbits, first=produced == 0)
            produced += len(out)
            if produced > limit:
                if len(out) > produced - limit:
                    yield out[:len(out) - (produced - limit)]  # the first `limit` bytes, for a caller that keeps them
                raise TooLarge()
            if out:
                yield out


def _inflate(decoder, data, budget, wbits, first):
    """One bounded step of decompression: ``(output, input left, decoder, wbits)``."""
    try:
        out = decoder.decompress(data, budget)  # budget >= 1: zlib reads 0 as "no limit"
    except zlib.error as exc:
        if first and wbits == zlib.MAX_WBITS:  # some servers send raw deflate without the zlib header
            return _inflate(zlib.decompressobj(-zlib.MAX_WBITS), data, budget, -zlib.MAX_WBITS, first=False)
        raise BadEncoding("corrupt %s data (%s)" % ("gzip" if wbits > zlib.MAX_WBITS else "deflate", exc)) from None
    rest = decoder.unconsumed_tail
    if not rest and decoder.eof and decoder.unused_data and wbits > zlib.MAX_WBITS:
        return out, decoder.unused_data, zlib.decompressobj(wbits), wbits  # a gzip body may hold several members
    return out, rest, decoder, wbits
