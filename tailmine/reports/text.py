"""The two small conventions every report number and snippet goes through: one token estimate, and
one way of showing text that may hold bytes a browser would hide or misdraw.

The CLI's stage summary (``tailmine run``) and the report both call :func:`estimate_tokens`, so the
same stage shows the same token count in the terminal and in ``report.html``.
"""
from __future__ import annotations

import math
import re
from typing import Optional, Union

CHARS_PER_TOKEN = 4.0
"""English rule of thumb for BPE tokenizers; used only until the mix stage counts real tokens."""


def estimate_tokens(chars: Optional[float]) -> Optional[int]:
    """Estimated tokens of ``chars`` characters of text (None stays None)."""
    if chars is None:
        return None
    return int(round(chars / CHARS_PER_TOKEN))


# C0/C1 controls (but tab, newline, carriage return), DEL, zero-width and bidirectional controls,
# the byte-order mark and the replacement character: invisible or misleading when drawn, so shown
# as escapes (a right-to-left override in a URL must not reorder what the reviewer reads).
_HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufffd]")


def _escape_char(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_text(value: Union[str, bytes, None]) -> str:
    """``value`` as text a reviewer can read: undecodable bytes as ``\\xNN``, hidden characters as
    ``\\xNN``/``\\uNNNN`` escapes, tab/newline kept. Never raises."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    elif not isinstance(value, str):
        value = str(value)
    return _HIDDEN.sub(_escape_char, value)


def round_sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant figures (0, inf and nan unchanged)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))
