"""Who may read what, and the headers every answer carries.

* **The API key** (``FLUSHRISK_API_KEY``) guards every data route. A script sends it in
  ``X-API-Key`` or ``Authorization: Bearer``. A browser never holds it: the pages post it once
  to ``POST /login``, which answers with a *session cookie* set by the server: an expiry and an
  HMAC of that expiry under the key, ``HttpOnly`` (no script on the origin can read it),
  ``SameSite=Strict``, ``Secure`` when the request came over TLS, and a bounded lifetime
  (:data:`SESSION_SECONDS`). The cookie is plain ASCII whatever the key holds (``:``, ``@``,
  spaces), so there is nothing to encode or decode, and changing the key ends every session.
* **/metrics** carries the radar's current probabilities, which ``/risk`` guards: it needs the
  API key too, or the separate ``FLUSHRISK_METRICS_TOKEN`` (``Authorization: Bearer TOKEN``,
  what a Prometheus ``scrape_config`` sends with ``authorization: {credentials: ...}``).
* **Headers:** every answer carries ``X-Content-Type-Options: nosniff``; HTML answers (the
  pages) carry :data:`PAGE_POLICY`, a Content-Security-Policy that runs only the service's own
  script files.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

KEY_COOKIE = b"flushrisk_key"
SESSION_SECONDS = 12 * 3600
"""A login lasts 12 hours; the pages ask for the key again after that."""
_SESSION_VERSION = b"v1"

PAGE_POLICY = (
    b"default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    b"style-src 'self'; style-src-attr 'unsafe-inline'; font-src 'self'; "
    b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Scripts and styles only from the service's own files (no inline script, no CDN); inline
style *attributes* (bar widths, chart positions) are allowed: they cannot run code."""


def session_cookie(key: bytes, now: float | None = None) -> bytes:
    """A session value for ``key``: ``v1.<expiry>.<hmac>`` (no part of the key in it)."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    return b".".join((_SESSION_VERSION, str(expires).encode(), _mac(key, expires)))


def valid_session(value: bytes, key: bytes, now: float | None = None) -> bool:
    """Whether a cookie value is a session made with ``key`` that has not expired."""
    parts = value.split(b".")
    if len(parts) != 3 or parts[0] != _SESSION_VERSION or not parts[1].isdigit():
        return False
    expires = int(parts[1])
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(parts[2], _mac(key, expires))


def _mac(key: bytes, expires: int) -> bytes:
    message = b"flushrisk-session:" + str(expires).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest().encode()


def set_cookie_header(value: bytes, secure: bool) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header of a login (``value`` empty: the logout that clears it)."""
    age = SESSION_SECONDS if value else 0
    flags = b"; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + str(age).encode()
    return b"set-cookie", KEY_COOKIE + b"=" + value + flags + (b"; Secure" if secure else b"")


def over_tls(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    """Whether the browser reached us over https (directly or through a TLS proxy)."""
    forwarded = headers.get(b"x-forwarded-proto", b"").split(b",")[0].strip().lower()
    return scope.get("scheme") == "https" or forwarded == b"https"


def cookie(header: bytes, name: bytes) -> bytes | None:
    """One cookie's value from a Cookie header."""
    for part in header.split(b";"):
        key, sep, value = part.strip().partition(b"=")
        if sep and key == name:
            return value.strip().strip(b'"')
    return None


def secret_bytes(value: Any) -> bytes | None:
    """A configured secret (a pydantic ``SecretStr``, a str or None) as bytes; None when unset."""
    secret = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return secret.encode() if secret else None


def given_key(headers: dict[bytes, bytes]) -> bytes | None:
    """A key sent in X-API-Key, else as ``Authorization: Bearer KEY`` (None: neither)."""
    given = headers.get(b"x-api-key")
    if given is None:
        auth = headers.get(b"authorization", b"")
        given = auth[7:].strip() if auth.lower().startswith(b"bearer ") else None
    return given


def authorised(headers: dict[bytes, bytes], key: bytes) -> bool:
    """Whether a request carries ``key``: from X-API-Key, else ``Authorization: Bearer``, else a
    login session cookie. The first one present decides (an empty X-API-Key is a wrong key, not
    a missing one)."""
    given = given_key(headers)
    if given is not None:
        return hmac.compare_digest(given, key)
    session = cookie(headers.get(b"cookie", b""), KEY_COOKIE)
    return session is not None and valid_session(session, key)


def with_security_headers(send: Any) -> Any:
    """``send`` that adds nosniff to every answer and the page policy to HTML answers."""

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            names = {k.lower() for k, _ in headers}
            if b"x-content-type-options" not in names:
                headers.append((b"x-content-type-options", b"nosniff"))
            media = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            if media.startswith(b"text/html") and b"content-security-policy" not in names:
                headers.append((b"content-security-policy", PAGE_POLICY))
                headers.append((b"x-frame-options", b"DENY"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


__all__ = [
    "KEY_COOKIE",
    "PAGE_POLICY",
    "SESSION_SECONDS",
    "authorised",
    "cookie",
    "given_key",
    "over_tls",
    "secret_bytes",
    "session_cookie",
    "set_cookie_header",
    "valid_session",
    "with_security_headers",
]
