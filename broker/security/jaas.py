"""Kafka's ``sasl.jaas.config`` values: ``LoginModule flag key="value" ...;``.

Only the options matter to Josef: PLAIN's ``user_<name>="<password>"`` entries are
the users a PLAIN listener accepts (Kafka's PlainServerCallbackHandler).
"""

from __future__ import annotations

from dataclasses import dataclass

_FLAGS = ("required", "requisite", "sufficient", "optional")
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
OAUTHBEARER_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"


@dataclass(frozen=True, slots=True)
class JaasEntry:
    login_module: str
    flag: str
    options: dict[str, str]


def _tokens(text: str) -> list[str | tuple[str]]:
    """Words and symbols; quoted strings come back as 1-tuples (never confused with ``=``)."""
    out: list[str | tuple[str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "=;":
            out.append(c)
            i += 1
        elif c == '"':
            i += 1
            buf = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise ValueError("unterminated quoted string")
            i += 1
            out.append(("".join(buf),))
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '=;"':
                i += 1
            out.append(text[start:i])
    return out


def parse_jaas_config(text: str) -> list[JaasEntry]:
    """Parse a JAAS config value; ``ValueError`` describes what is wrong."""
    tokens = _tokens(text)
    entries: list[JaasEntry] = []
    i = 0

    def word(what: str) -> str:
        nonlocal i
        if i >= len(tokens) or not isinstance(tokens[i], str) or tokens[i] in ("=", ";"):
            raise ValueError(f"expected {what}")
        value = tokens[i]
        assert isinstance(value, str)
        i += 1
        return value

    while i < len(tokens):
        module = word("a login module class name")
        flag = word("a control flag").lower()
        if flag not in _FLAGS:
            raise ValueError(f"invalid control flag {flag!r} (required, requisite, ...)")
        options: dict[str, str] = {}
        while i < len(tokens) and tokens[i] != ";":
            key = word("an option name")
            if i >= len(tokens) or tokens[i] != "=":
                raise ValueError(f"expected = after {key}")
            i += 1
            if i >= len(tokens) or tokens[i] in ("=", ";"):
                raise ValueError(f"expected a value for {key}")
            value = tokens[i]
            options[key] = value[0] if isinstance(value, tuple) else value
            i += 1
        if i >= len(tokens):
            raise ValueError("a login module entry must end with ;")
        i += 1
        entries.append(JaasEntry(module, flag, options))
    if not entries:
        raise ValueError("no login module")
    return entries


def plain_users(entries: list[JaasEntry]) -> dict[str, str]:
    """``user_<name>="<password>"`` options of the PLAIN login module."""
    users: dict[str, str] = {}
    for entry in entries:
        for key, value in entry.options.items():
            if key.startswith("user_"):
                users[key[len("user_") :]] = value
    return users
