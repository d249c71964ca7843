"""Errors backends raise so the runtime can decide what to retry. Backends translate their SDK's errors."""

from __future__ import annotations


class LLMError(Exception):
    """Base class. ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class RateLimited(LLMError):
    """HTTP 429 (or a vendor 'overloaded'): back off, honouring ``retry_after`` seconds when given."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class TransientError(LLMError):
    """5xx, timeouts, dropped connections, unreadable bodies: retried with backoff."""


class PermanentError(LLMError):
    """4xx other than 429 (bad request, auth, not found): never retried."""


class LLMOutputError(Exception):
    """A reply that could not be used (failed to parse or validate after the corrective re-ask, or was cut
    off). Carries the raw text so the failure is recorded with it."""

    def __init__(self, reason: str, raw: str = "", *, max_raw: int = 2000):
        self.reason = reason
        self.raw = raw
        shown = raw if len(raw) <= max_raw else raw[:max_raw] + f"...[{len(raw) - max_raw} more chars]"
        super().__init__(f"{reason}; raw reply: {shown!r}")

    def with_usage(self, usage: object) -> LLMOutputError:
        """Attach what the failed call cost (``exc.usage``) so the failure is still accounted for."""
        self.usage = usage
        return self


class LLMCallFailed(Exception):
    """A call that failed after every allowed attempt; the unit is recorded as failed with this reason."""


def retry_after_seconds(headers: object) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) from a headers mapping."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    raw_ms = get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        import email.utils
        import time

        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def error_message(body: object, fallback: str) -> str:
    """The human message of a vendor error body (``{"error": {"message": ...}}`` or ``{"message": ...}``)."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return fallback


def from_http_status(
    status: int, message: str, headers: object, *, overloaded: tuple[int, ...] = (), quota_exhausted: bool = False
) -> LLMError:
    """The retry class for an HTTP error reply, shared by every vendor backend.

    429 (and a vendor's ``overloaded`` statuses, e.g. Anthropic's 529) back off and honour ``Retry-After``;
    5xx, 408 and 409 are retried; anything else (and a 429 for an exhausted quota) is permanent.
    """
    if (status == 429 and not quota_exhausted) or status in overloaded:
        return RateLimited(message, retry_after=retry_after_seconds(headers), status=status)
    if status >= 500 or status in (408, 409):
        return TransientError(message, status=status)
    return PermanentError(message, status=status)
