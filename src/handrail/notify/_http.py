"""What HTTP notifiers share when an answer goes wrong: read only its start, quote it on one line."""

from __future__ import annotations

import httpx

__all__ = ["one_line", "read_head", "snippet"]


async def read_head(response: httpx.Response, limit: int) -> str:
    """The first `limit` bytes of an answer's body, decoded as its charset says (UTF-8 when it says nothing usable)."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    try:
        return data[:limit].decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return data[:limit].decode("utf-8", errors="replace")


def one_line(text: str) -> str:
    return " ".join(text.split())


def snippet(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    text = one_line(text)
    return text if len(text) <= limit else text[:limit] + "…"
