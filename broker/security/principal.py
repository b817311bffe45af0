"""Principals: who a connection is, as Kafka's DefaultKafkaPrincipalBuilder decides.

A principal is ``<type>:<name>``; Kafka's builder always uses type ``User``. A
PLAINTEXT connection (and a TLS one without a client certificate) is
``User:ANONYMOUS``; a TLS client certificate gives ``User:<mapped DN>`` through
``ssl.principal.mapping.rules``; SASL gives ``User:<authorization id>``.

:class:`SslPrincipalMapper` implements Kafka's rule language:
``RULE:pattern/replacement/[LU]`` entries and ``DEFAULT``, comma-separated,
applied in order, the first rule whose pattern matches the whole DN wins.
Patterns are Java regular expressions; the common subset is Python's too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

ANONYMOUS = "User:ANONYMOUS"
USER_TYPE = "User"


@dataclass(frozen=True, slots=True)
class KafkaPrincipal:
    """``principal_type:name`` (Kafka's KafkaPrincipal)."""

    principal_type: str
    name: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.name}"


def user(name: str) -> str:
    return f"{USER_TYPE}:{name}"


# --- ssl.principal.mapping.rules ------------------------------------------------------

_RULE = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_SPLITTER = re.compile(r"\s*(" + _RULE + r")\s*(,\s*|$)")
_PARSER = re.compile(_RULE)
_BACK_REFERENCE = re.compile(r"\$(\d+)")


class NoMatchingRule(Exception):
    """No rule maps this distinguished name (the connection is refused)."""


class _Rule:
    __slots__ = ("_default", "_lower", "_pattern", "_replace", "_replacement", "_upper")

    def __init__(
        self,
        pattern: str | None = None,
        replacement: str | None = None,
        lower: bool = False,
        upper: bool = False,
    ) -> None:
        self._default = pattern is None
        self._pattern = re.compile(pattern) if pattern is not None else None
        self._replacement = replacement
        self._lower = lower
        self._upper = upper
        self._replace: Callable[[re.Match[str]], str] | None = None
        if self._pattern is not None and replacement is not None:
            groups = self._pattern.groups
            self._replace = _java_replacement(_escape_literal_refs(replacement, groups), groups)

    def apply(self, dn: str) -> str | None:
        if self._default:
            return dn
        assert self._pattern is not None and self._replace is not None
        if self._pattern.fullmatch(dn) is None:
            return None
        result = self._pattern.sub(self._replace, dn)
        if self._lower:
            return result.lower()
        if self._upper:
            return result.upper()
        return result

    def __str__(self) -> str:
        if self._default:
            return "DEFAULT"
        text = "RULE:" + (self._pattern.pattern if self._pattern is not None else "")
        if self._replacement is not None:
            text += "/" + self._replacement
        if self._lower:
            text += "/L"
        elif self._upper:
            text += "/U"
        return text


def _escape_literal_refs(replacement: str, groups: int) -> str:
    """Kafka's rule: ``$N`` beyond the pattern's groups is a literal, not a reference."""
    if groups == 0:
        return replacement
    value = replacement
    pos = 0
    while (m := _BACK_REFERENCE.search(value, pos)) is not None:
        pos = m.end()
        digits = m.group(1)
        if digits.startswith("0"):
            continue
        index = int(digits)
        while index > groups and index >= 10:
            index //= 10
        if index > groups:
            start = m.start(1)
            value = value[: start - 1] + "\\" + value[start - 1 :]
            pos = m.end() + 1
    return value


def _java_replacement(replacement: str, groups: int) -> Callable[[re.Match[str]], str]:
    """Java's Matcher replacement syntax: ``$n`` group references, ``\\x`` literal x."""
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\":
            i += 1
            if i >= len(replacement):
                raise ValueError("character to be escaped is missing")
            literal.append(replacement[i])
            i += 1
        elif c == "$":
            i += 1
            if i >= len(replacement) or not replacement[i].isdigit():
                raise ValueError("illegal group reference")
            ref = int(replacement[i])
            i += 1
            while i < len(replacement) and replacement[i].isdigit():
                longer = ref * 10 + int(replacement[i])
                if longer > groups:
                    break
                ref = longer
                i += 1
            if ref > groups:
                raise ValueError(f"no group {ref}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(ref)
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append("".join(literal))

    def expand(m: re.Match[str]) -> str:
        return "".join(p if isinstance(p, str) else (m.group(p) or "") for p in parts)

    return expand


class SslPrincipalMapper:
    """Maps a certificate's distinguished name to a principal name (Kafka's rules)."""

    def __init__(self, rules: str | None) -> None:
        text = "DEFAULT" if rules is None else rules
        self.rules = [r for r in (_parse_rule(raw) for raw in _split(text.strip())) if r]

    def name(self, distinguished_name: str) -> str:
        for rule in self.rules:
            mapped = rule.apply(distinguished_name)
            if mapped is not None:
                return mapped
        raise NoMatchingRule(f"no rule applies to {distinguished_name}, rules {self}")

    def __str__(self) -> str:
        return "[" + ", ".join(str(r) for r in self.rules) + "]"


def _split(text: str) -> list[str]:
    return [m.group(1) for m in _SPLITTER.finditer(text)]


def _parse_rule(raw: str) -> _Rule | None:
    m = _PARSER.match(raw)
    if m is None:
        raise ValueError(f"invalid rule: {raw}")
    if m.end() != len(raw):
        raise ValueError(f"invalid rule: `{raw}`, unmatched substring: `{raw[m.end():]}`")
    if m.group(1) is not None:
        return _Rule()
    if m.group(2) is not None:
        try:
            return _Rule(m.group(2), m.group(4), m.group(6) == "L", m.group(6) == "U")
        except re.error as exc:
            raise ValueError(f"invalid rule: {raw}: {exc}") from None
    return None  # empty rules are ignored


# --- distinguished names -----------------------------------------------------------------

# Attribute keywords Java's X500Principal.getName() (RFC 2253) uses; others are OID=#hex.
_KEYWORDS = {
    NameOID.COMMON_NAME: "CN",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
}


def distinguished_name(cert_der: bytes) -> str:
    """The subject of a DER certificate as Java's X500Principal.getName() writes it."""
    cert = x509.load_der_x509_certificate(cert_der)
    rdns: list[str] = []
    for rdn in reversed(list(cert.subject.rdns)):
        parts = []
        for attr in rdn:
            keyword = _KEYWORDS.get(attr.oid)
            if keyword is not None:
                parts.append(attr.rfc4514_string({attr.oid: keyword}))
            else:
                parts.append(f"{attr.oid.dotted_string}=#{_der_value(attr).hex()}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


def _der_value(attr: x509.NameAttribute[str | bytes]) -> bytes:
    value = attr.value
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    asn1_type = getattr(attr, "_type", None)  # the string type the certificate used
    tag = int(asn1_type.value) if asn1_type is not None else 12  # 12 = UTF8String
    return bytes([tag]) + _der_length(len(raw)) + raw


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body
