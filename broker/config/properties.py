"""Java ``.properties`` files (the format of Kafka's server.properties) and config errors."""

from __future__ import annotations

import re

__all__ = ["ConfigError", "parse_properties"]


class ConfigError(Exception):
    """An invalid broker configuration; ``str()`` is one line: ``key: reason``."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = " ".join(reason.split())
        super().__init__(f"{key}: {self.reason}")


# --- Java properties format -------------------------------------------------------

_WHITESPACE = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_properties(text: str, source: str = "<properties>") -> dict[str, str]:
    """Parse Java ``.properties`` text (java.util.Properties.load semantics).

    Comments start with ``#`` or ``!``; a key ends at the first unescaped
    ``=``, ``:`` or whitespace; a line ending in an odd number of backslashes
    continues on the next one (whose leading whitespace is dropped); ``\\t``,
    ``\\n``, ``\\r``, ``\\f`` and ``\\uXXXX`` escapes are decoded, any other
    escaped character stands for itself. Later keys win. A malformed
    ``\\uXXXX`` raises :class:`ConfigError` naming ``source`` and the line.
    """
    result: dict[str, str] = {}
    lines = re.split(r"\r\n|\r|\n", text)
    index = 0
    while index < len(lines):
        line_number = index + 1
        line = lines[index].lstrip(_WHITESPACE)
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line):
            line = line[:-1]
            if index >= len(lines):
                break
            line += lines[index].lstrip(_WHITESPACE)
            index += 1
        key, value = _split_key_value(line)
        where = f"{source}" if source else "<properties>"
        try:
            result[_unescape(key)] = _unescape(value)
        except ValueError as exc:
            raise ConfigError(where, f"line {line_number}: {exc}") from None
    return result


def _continues(line: str) -> bool:
    count = len(line) - len(line.rstrip("\\"))
    return count % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if char == "\\":
            i += 2
            continue
        if char in "=:" or char in _WHITESPACE:
            break
        i += 1
    key = line[:i]
    j = i
    while j < n and line[j] in _WHITESPACE:
        j += 1
    if j < n and line[j] in "=:":
        j += 1
        while j < n and line[j] in _WHITESPACE:
            j += 1
    return key, line[j:]


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= n:
            i += 1
            continue
        escaped = text[i + 1]
        if escaped == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("malformed \\uxxxx escape")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(escaped, escaped))
        i += 2
    result = "".join(out)
    if any("\ud800" <= c <= "\udfff" for c in result):
        # \uXXXX pairs are UTF-16 surrogates, as in Java strings
        result = result.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return result
