"""Vendor-neutral request and response values."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen
from attrs.validators import ge, in_

ROLES = ("system", "user", "assistant")


@frozen
class Message:
    """One chat message."""

    role: str = field(validator=in_(ROLES))
    content: str


def _messages(value: Any) -> tuple[Message, ...]:
    return tuple(m if isinstance(m, Message) else Message(**m) for m in value)


@frozen
class LLMRequest:
    """What to ask a model. ``json_schema`` asks for a JSON object matching it; ``cache_system`` marks the
    system prompt as a long shared prefix worth caching on the vendor side (Anthropic prompt caching)."""

    model: str
    messages: tuple[Message, ...] = field(converter=_messages)
    temperature: float | None = None
    max_tokens: int = field(default=1024, validator=ge(1))
    json_schema: dict[str, Any] | None = field(default=None, eq=False, hash=False)
    seed: int | None = None
    cache_system: bool = False

    @property
    def system(self) -> str | None:
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def chat(self) -> tuple[Message, ...]:
        """The non-system messages."""
        return tuple(m for m in self.messages if m.role != "system")

    def approx_tokens(self) -> int:
        """A cheap upper-ish estimate of prompt + completion tokens (4 characters a token)."""
        chars = sum(len(m.content) for m in self.messages) + (len(str(self.json_schema)) if self.json_schema else 0)
        return chars // 4 + 8 * len(self.messages) + self.max_tokens


@frozen
class LLMResponse:
    """A model's reply and its token counts. ``finish_reason`` is normalised to ``stop``, ``length``,
    ``tool``, ``filtered`` or the vendor's own word."""

    text: str
    input_tokens: int = field(default=0, validator=ge(0))
    output_tokens: int = field(default=0, validator=ge(0))
    cached_input_tokens: int = field(default=0, validator=ge(0))
    finish_reason: str | None = None
    model: str | None = None
    cache_write_tokens: int = field(default=0, validator=ge(0))
    request_id: str | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"
