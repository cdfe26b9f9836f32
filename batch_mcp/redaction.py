"""One place that knows what a secret looks like, so nothing echoes one.

Used for tool arguments in errors and the audit log, for log records, and for text that came
back from Batch. Field names are matched case-insensitively; SAS signatures are scrubbed from
any URL-like string; known secret values (the account key, a bearer token) can be registered so
that they are masked wherever they appear.
"""

from __future__ import annotations

import logging
import re
from typing import Any

SECRET_FIELDS = frozenset(
    {
        "password",
        "accountkey",
        "saskey",
        "protectedsettings",
        "sshprivatekey",
        "data",
        "access_key",
        "token",
        "authorization",
        "secret",
        "client_secret",
    }
)
MASK = "***"
# `sig=` after `?`, `&` or `;` (`&amp;` in XML/HTML), or percent-encoded inside another URL.
_SAS_SIGNATURE = re.compile(r"(?i)((?:[?&;]|%26|%3F)sig(?:=|%3D))[^&\s\"'<]+")
# A URL's `user:password@` (or `token@`) part.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#\"'<>]+@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_SHARED_KEY = re.compile(r"(?i)(sharedkey\s+[^:\s]+:)[A-Za-z0-9+/=]+")
# A JWT (an Entra ID access token, a user's or one obtained on their behalf): never registered one by one.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")

# Connection strings carry their secret as one `Name=value` part.
_CONNECTION_SECRET = re.compile(r"(?i)\b((?:AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)=)[^;\s\"']+")

# Name/value lists (environment settings, metadata, error details) hold secrets under a telling name.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
SECRET_NAME_WORDS = frozenset(
    {
        "key",
        "keys",
        "sas",
        "pwd",
        "pat",
        "password",
        "passwd",
        "secret",
        "secrets",
        "token",
        "tokens",
        "credential",
        "credentials",
        "passphrase",
        "auth",
        "cookie",
        "cookies",
    }
)
SECRET_NAME_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "passphrase",
    "connectionstring",
    "connstr",
    "apikey",
    "accesskey",
    "accountkey",
    "privatekey",
    "saskey",
    "sastoken",
    "sasurl",
    "sasuri",
    "authorization",  # an upload header: `Authorization: Basic ...`, `Proxy-Authorization`
)

_known_values: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value (an account key, a token) in every later redaction."""
    if value and len(value) >= 8:
        _known_values.add(value)


def is_secret_field(name: str) -> bool:
    return name.lower() in SECRET_FIELDS


def is_secret_name(name: str) -> bool:
    """Whether an entry of a name/value list is named like a secret: `DB_PASSWORD`, `apiKey`,
    `STORAGE_CONNECTION_STRING`, `SAS_URL`, ... (erring on the side of masking)."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if any(w in SECRET_NAME_WORDS for w in words):
        return True
    joined = "".join(words)
    return any(part in joined for part in SECRET_NAME_PARTS)


def _pair_label(value: dict[Any, Any]) -> str | None:
    """The name of a `{name|key, value}` entry, when the entry is one."""
    if "value" not in value:
        return None
    label = value.get("name", value.get("key"))
    return label if isinstance(label, str) else None


def redact_text(text: str) -> str:
    for value in _known_values:
        if value in text:
            text = text.replace(value, MASK)
    # The patterns run only where their keyword occurs: most strings (ids, states, times) have none,
    # and results can hold tens of thousands of them.
    lowered = text.lower()
    if "sig=" in lowered or "sig%3d" in lowered:
        text = _SAS_SIGNATURE.sub(lambda m: m.group(1) + MASK, text)
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    if "sharedkey" in lowered:
        text = _SHARED_KEY.sub(lambda m: m.group(1) + MASK, text)
    if "=" in text and ("key=" in lowered or "signature=" in lowered or "pwd=" in lowered or "password=" in lowered):
        text = _CONNECTION_SECRET.sub(lambda m: m.group(1) + MASK, text)
    if "eyj" in lowered:
        text = _JWT.sub(MASK, text)
    return text


def secret_values(value: Any) -> set[str]:
    """The values a JSON-like value holds under secret names (fields and name/value entries), so
    that text built from it elsewhere (a service's error message quoting them) can be scrubbed."""
    found: set[str] = set()
    if isinstance(value, dict):
        label = _pair_label(value)
        for k, v in value.items():
            secret = isinstance(k, str) and (is_secret_field(k) or (k == "value" and label and is_secret_name(label)))
            if secret and isinstance(v, str) and len(v) >= 4:
                found.add(v)
            else:
                found |= secret_values(v)
    elif isinstance(value, list):
        for v in value:
            found |= secret_values(v)
    return found


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with secret fields masked and secrets scrubbed from strings."""
    if isinstance(value, dict):
        label = _pair_label(value)
        hidden = label is not None and is_secret_name(label)
        return {
            k: (
                MASK
                if isinstance(k, str) and (is_secret_field(k) or (hidden and k == "value")) and v not in (None, "")
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFormatter(logging.Formatter):
    """A log formatter that masks secrets in the finished line, whatever library logged it."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))
