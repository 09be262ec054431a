"""Reading one response body within the attempt's deadline and a size cap.

``requests`` reads a body with ``timeout=(connect, read)``, and the read timeout applies to
each socket read: a server that drips one byte every half second keeps a request alive
forever, and a small gzip body may inflate to gigabytes in memory. :func:`read_body`
reads the decoded body in chunks (``read1``: returns as soon as any data arrived, so the
deadline is checked between arrivals) and stops at the deadline or at ``max_bytes``.
Decompression is bounded per chunk by urllib3, so memory stays near ``max_bytes``.
"""

from __future__ import annotations

import time

import requests
import urllib3.exceptions

CHUNK = 64 * 1024


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """The attempt's total deadline (extra ``request_deadline``) passed mid-body."""


class BodyTooLarge(Exception):
    """The decoded body grew past ``max_bytes``; carries the size read so far."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(size)


def read_body(resp: requests.Response, *, deadline: float, max_bytes: int) -> bytes:
    """The decoded body of a ``stream=True`` response, stored on it as ``resp.content``.

    ``deadline`` is a ``time.monotonic()`` instant. Raises :class:`DeadlineExceeded`
    (a ``requests.Timeout``), :class:`BodyTooLarge`, or the ``requests`` exception a
    broken connection gives (as ``Response.content`` would); the connection is closed
    on every failure, released to the pool on success.
    """
    raw = resp.raw
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(
                    f"response body still arriving after the request deadline ({size} bytes read)"
                )
            try:
                chunk = raw.read1(CHUNK, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise requests.exceptions.ReadTimeout(exc) from None
            except urllib3.exceptions.ProtocolError as exc:
                raise requests.exceptions.ChunkedEncodingError(exc) from None
            except urllib3.exceptions.DecodeError as exc:
                raise requests.exceptions.ContentDecodingError(exc) from None
            except urllib3.exceptions.SSLError as exc:
                raise requests.exceptions.SSLError(exc) from None
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(size)
            chunks.append(chunk)
    except BaseException:
        resp.close()
        raise
    content = b"".join(chunks)
    resp._content = content
    resp._content_consumed = True  # type: ignore[attr-defined]
    raw.release_conn()
    return content
