"""``check_backend(cls)``: what every LLM backend must do for the core's runtime, checked against the fake vendor.

The checks, in order (each failure raises :class:`ContractError` naming the check):
``subclass`` (an :class:`~dualalign_core.llm.backend.LLMBackend`), ``registered`` (an installed plugin
registers it, under ``name`` when given), ``options`` (``options_schema`` is a valid JSON Schema accepting
``model`` and ``base_url``), ``preflight`` (passes with the key set; without it, passes or raises ``BadInput``
naming the variable), ``complete`` (a chat request answered with text and token counts), ``json_schema`` (when
``supports_json_schema``), ``length`` (a cut-off reply says ``finish_reason == "length"``), ``rate_limit`` (429
-> ``RateLimited``), ``server_error`` (500 -> ``TransientError``) and ``aclose``.

A backend for another vendor's wire brings its own server: a :class:`FakeLLMServer` subclass speaking that wire
(``check_backend(cls, server=MyVendorStub())``; see :mod:`dualalign_core.testing.fake_vendor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from attrs import frozen

from dualalign_core.errors import BadInput
from dualalign_core.llm.backend import LLMBackend
from dualalign_core.llm.faults import RateLimited, TransientError
from dualalign_core.llm.types import LLMRequest, LLMResponse
from dualalign_core.testing.fake_vendor import FakeLLMServer

TEST_KEY = "sk-dualalign-contract-test"
LABEL_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["label", "evidence"],
    "properties": {"label": {"enum": ["finding", "none"]}, "evidence": {"type": "string"}},
}


class ContractError(AssertionError):
    """A backend broke the contract; the message names the check and what was seen."""


@frozen
class BackendReport:
    """What :func:`check_backend` checked: the registered name and the checks that passed, in order."""

    name: str
    checks: tuple[str, ...]
    requests: int


def check_backend(
    cls: type,
    *,
    name: str | None = None,
    wire: str = "openai",
    model: str = "test-model",
    options: dict[str, Any] | None = None,
    registered: bool = True,
    server: FakeLLMServer | None = None,
) -> BackendReport:
    """Check an LLM backend class against the contract (see the module docstring).

    ``wire``: the protocol it speaks, ``openai`` (base URL ``<server>/v1``) or ``anthropic`` (``<server>``);
    ``server``: instead, the plugin's own fake server for its vendor's wire (not yet started: its
    ``backend_options()`` and ``environ()`` point the backend at it); ``options``: extra constructor options
    (validated by its schema); ``registered=False`` skips the registration check (a class not installed as a
    plugin). Returns a :class:`BackendReport`.
    """
    passed: list[str] = []
    if not (isinstance(cls, type) and issubclass(cls, LLMBackend)):
        raise ContractError(f"subclass: {cls!r} is not a subclass of dualalign_core.api.LLMBackend")
    passed.append("subclass")
    found = name or cls.__qualname__
    if registered:
        found = _registered_name(cls, name)
        passed.append("registered")
    stub = server if server is not None else FakeLLMServer()
    with stub, _environ(stub.environ()):
        if server is not None:
            target = stub.backend_options()
        else:
            target = {"base_url": stub.url + ("/v1" if wire == "openai" else "")}
        opts = {"model": model, **target, "timeout": 5.0, **(options or {})}
        _check_options(cls, opts)
        passed.append("options")
        env: str = opts.get("api_key_env") or getattr(cls, "api_key_env", "") or ""  # the option wins
        _check_preflight(cls, opts, env)
        passed.append("preflight")
        with _env(env, TEST_KEY):
            backend = cls(**opts)
            passed += asyncio.run(_exchange(backend, stub, model))
        return BackendReport(name=found, checks=tuple(passed), requests=stub.completions)


def _registered_name(cls: type, name: str | None) -> str:
    from dualalign_core.plugins import get_registry

    registry = get_registry()
    table = registry.components.get("llm_backend", {})
    if name is not None:
        try:
            found = registry.get("llm_backend", name)
        except BadInput as exc:
            raise ContractError(f"registered: {exc}; is the package installed?") from None
        if not _same(found, cls):
            raise ContractError(
                f"registered: {name!r} is {found.__module__}.{found.__qualname__}, not "
                f"{cls.__module__}.{cls.__qualname__}"
            )
        return name
    found_names = [n for n, c in table.items() if _same(c, cls)]
    if not found_names:
        raise ContractError(
            f"registered: no installed plugin registers {cls.__qualname__} "
            "(check the [project.entry-points.dualalign] table and that the package is installed)"
        )
    return registry.display_name("llm_backend", found_names[0])  # the bare alias while it is unique


def _same(a: type, b: type) -> bool:
    return a is b or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def _check_options(cls: type[Any], opts: dict[str, Any]) -> None:
    import jsonschema

    schema = cls.options_schema
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ContractError(f"options: options_schema is not a valid JSON Schema: {exc.message}") from None
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(opts), key=str)
    if errors:
        raise ContractError(
            f"options: options_schema rejects {opts}: {errors[0].message} "
            "(extend dualalign_core.api.options_schema(...) to keep the runtime's options)"
        )


def _check_preflight(cls: type, opts: dict[str, Any], env: str) -> None:
    with _env(env, TEST_KEY):
        try:
            cls(**opts).preflight()
        except BadInput as exc:
            raise ContractError(f"preflight: fails although {env or 'its key'} is set: {exc}") from None
    if not env:
        return
    with _env(env, None):
        try:
            cls(**opts).preflight()
        except BadInput as exc:
            if env not in str(exc):
                raise ContractError(f"preflight: without the key the error must name {env}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - anything but BadInput breaks the contract
            raise ContractError(f"preflight: raised {type(exc).__name__} instead of BadInput: {exc}") from None


async def _exchange(backend: LLMBackend, server: FakeLLMServer, model: str) -> list[str]:
    passed: list[str] = []
    request = LLMRequest(
        model=model,
        messages=[
            {"role": "system", "content": "You write clinical notes."},
            {"role": "user", "content": "Write a short SOAP note."},
        ],
        max_tokens=200,
        temperature=0.0,
        seed=1,
    )
    try:
        reply = await _call(backend, request, "complete")
        _expect(isinstance(reply, LLMResponse), "complete", f"returned {type(reply).__name__}, not LLMResponse")
        _expect(bool(reply.text.strip()), "complete", "empty reply text")
        _expect(
            reply.input_tokens > 0 and reply.output_tokens > 0,
            "complete",
            f"token counts not read from the reply ({reply.input_tokens} in, {reply.output_tokens} out)",
        )
        _expect(reply.finish_reason == "stop", "complete", f"finish_reason {reply.finish_reason!r}, not 'stop'")
        passed.append("complete")
        if backend.supports_json_schema:
            ask = LLMRequest(
                model=model,
                messages=[{"role": "user", "content": "Sentence: BP 120/80."}],
                max_tokens=100,
                json_schema=LABEL_SCHEMA,
            )
            text = (await _call(backend, ask, "json_schema")).text
            try:
                data = json.loads(text)
            except ValueError:
                raise ContractError(f"json_schema: the reply is not JSON: {text[:200]!r}") from None
            ok = isinstance(data, dict) and data.get("label") in ("finding", "none")
            _expect(ok, "json_schema", f"reply {data!r} ignores the schema")
            passed.append("json_schema")
        server.faults.append("length")
        cut = await _call(backend, request, "length")
        _expect(cut.finish_reason == "length", "length", f"a cut-off reply has finish_reason {cut.finish_reason!r}")
        passed.append("length")
        for fault, expected, check in (("429", RateLimited, "rate_limit"), ("500", TransientError, "server_error")):
            server.faults.append(fault)
            try:
                await backend.complete(request)
            except expected:
                passed.append(check)
                continue
            except Exception as exc:  # noqa: BLE001
                raise ContractError(
                    f"{check}: HTTP {fault} raised {type(exc).__name__}: {exc}; translate it to "
                    f"{expected.__name__} (dualalign_core.llm.faults.from_http_status)"
                ) from None
            raise ContractError(f"{check}: HTTP {fault} did not raise {expected.__name__}")
    finally:
        await backend.aclose()
    passed.append("aclose")
    return passed


async def _call(backend: LLMBackend, request: LLMRequest, check: str) -> LLMResponse:
    """``backend.complete(request)``; anything it raises is a :class:`ContractError` naming ``check``."""
    try:
        return await backend.complete(request)
    except Exception as exc:  # noqa: BLE001 - a contract failure, not a traceback
        raise ContractError(f"{check}: complete() raised {type(exc).__name__}: {exc}") from None


def _expect(ok: bool, check: str, message: str) -> None:
    if not ok:
        raise ContractError(f"{check}: {message}")


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set several environment variables for the block."""
    with contextlib.ExitStack() as stack:
        for name, value in values.items():
            stack.enter_context(_env(name, value))
        yield


@contextlib.contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    """Set (or unset, for ``None``) one environment variable for the block; no-op without a name."""
    if not name:
        yield
        return
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
