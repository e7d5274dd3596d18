"""PII redaction: e-mail addresses, IP addresses and phone numbers -> typed placeholders, counted per type.

Patterns follow the spirit of datatrove's ``PIIFormatter`` and dolma's PII tagger: precise rather than
greedy (a date or a version number must not become a phone number). Placeholders are ``<EMAIL>``,
``<IP_ADDRESS>`` and ``<PHONE>``.
"""
from __future__ import annotations

import ipaddress
import re

PII_TYPES = ("email", "ip", "phone")
PLACEHOLDERS = {"email": "<EMAIL>", "ip": "<IP_ADDRESS>", "phone": "<PHONE>"}

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.]\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{0,4}(?![\w:])")
# International (+CC ...) or North-American style (NXX) NXX-XXXX numbers, with separators.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,4}){1,4}"  # +44 20 7946 0958, +1-202-555-0143
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (202) 555-0143
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 202-555-0143
    r")(?![\w])"
)


def _valid_ipv6(match: str) -> bool:
    try:
        ipaddress.IPv6Address(match)
        return True
    except ValueError:
        return False


def redact(text: str, types: tuple[str, ...] = PII_TYPES) -> tuple[str, dict[str, int]]:
    """``text`` with PII replaced by placeholders, and the number of replacements per type."""
    counts = {t: 0 for t in PII_TYPES}
    if "email" in types and "@" in text:
        text, counts["email"] = _EMAIL.subn(PLACEHOLDERS["email"], text)
    if "ip" in types:
        text, counts["ip"] = _IPV4.subn(PLACEHOLDERS["ip"], text)
        if ":" in text:
            n = 0

            def _v6(m: re.Match) -> str:
                nonlocal n
                if _valid_ipv6(m.group(0)):
                    n += 1
                    return PLACEHOLDERS["ip"]
                return m.group(0)

            text = _IPV6.sub(_v6, text)
            counts["ip"] += n
    if "phone" in types:
        text, counts["phone"] = _PHONE.subn(PLACEHOLDERS["phone"], text)
    return text, counts
