"""API keys: `Authorization: Bearer KEY`, compared in constant time.

On a loopback address no key is needed by default (only this machine can connect). Bound
anywhere else the server refuses to start without keys unless told explicitly that it may
run open. Given keys are always required, on loopback too.

Each key belongs to a principal, the name tool permissions and the audit log use: `NAME=KEY`
names it; a bare KEY is known by a fingerprint (`key-` and 8 hex digits of its sha256), so
the secret itself never reaches a log.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable

from .errors import APIError

LOCAL_PRINCIPAL = "local"  # who calls when no key is required
_NAMED = re.compile(r"^([A-Za-z][A-Za-z0-9_.@-]{0,63})=([^=].*)$")


@dataclass(frozen=True)
class ApiKey:
    principal: str
    secret: bytes

    @classmethod
    def parse(cls, text: str) -> "ApiKey":
        """`NAME=KEY` or a bare `KEY`."""
        if not text:
            raise ValueError("an API key cannot be empty")
        named = _NAMED.match(text)
        if named:
            return cls(named.group(1), named.group(2).encode())
        return cls("key-" + hashlib.sha256(text.encode()).hexdigest()[:8], text.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class Auth:
    def __init__(self, keys: Iterable[ApiKey] = (), required: bool | None = None):
        self.keys = list(keys)
        self.required = bool(self.keys) if required is None else required
        if self.required and not self.keys:
            raise ValueError("API keys are required but none was given")

    @classmethod
    def for_binding(cls, host: str, api_keys: Iterable[str] = (), *, allow_unauthenticated: bool = False) -> "Auth":
        keys = [ApiKey.parse(k) for k in api_keys]
        if not keys and not is_loopback(host) and not allow_unauthenticated:
            raise ValueError(f"listening on {host} lets other machines call the server: give at least one API key "
                             f"(--api-key KEY), or disable authentication explicitly (--no-auth)")
        principals = [k.principal for k in keys]
        if len(set(principals)) != len(principals):
            raise ValueError("two API keys have the same name")
        return cls(keys)

    def principal(self, authorization: str | None) -> str:
        """Who is calling; APIError 401 when a key is required and this is not one of them."""
        if not self.required:
            return LOCAL_PRINCIPAL
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("You didn't provide an API key. Send it in an Authorization header using "
                                "Bearer auth (Authorization: Bearer YOUR_KEY).", code=None)
        given = token.encode()
        found = None
        for key in self.keys:  # every key is compared, so the time does not tell which one nearly matched
            if hmac.compare_digest(given, key.secret):
                found = key
        if found is None:
            shown = token[:3] + "*" * 4 + token[-2:] if len(token) > 8 else "*" * 4
            raise _unauthorized(f"Incorrect API key provided: {shown}.", code="invalid_api_key")
        return found.principal


def _unauthorized(message: str, code: str | None) -> APIError:
    return APIError(401, message, code=code, headers={"WWW-Authenticate": "Bearer"})
