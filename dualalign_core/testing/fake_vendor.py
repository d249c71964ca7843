"""A fake LLM vendor: a real HTTP/1.1 server on 127.0.0.1 speaking the OpenAI and Anthropic wire protocols
(chat completions, messages, files, batches), with latency and fault injection and an in-flight counter.

asyncio streams (no third-party server), run in a background thread (``start()``/``stop()``, or as a context
manager) or in its own process (:func:`main`: ``--latency 0.5``, prints its port; the throughput benchmark
runs it so through ``tests/llm/fakeserver.py``).
OpenAI clients use ``server.url + "/v1"`` as ``base_url``; Anthropic clients use ``server.url``.
Faults are consumed in order by completion requests: ``429`` (Retry-After), ``429s`` (whole-second
Retry-After only), ``500``, ``503``, ``timeout`` (sleeps past the client's timeout), ``drop`` (closes the
connection), ``truncated_body`` (promises more bytes than it sends), ``malformed`` (a 200 whose body is not
JSON), ``badjson`` (valid HTTP, reply text not JSON), ``badlabel`` (a label outside the set), ``length``
(finish reason ``length``), ``401_echo`` / ``500_echo`` (an error whose message quotes the request's
``Authorization`` header, as some proxies do). ``fault_rate`` adds random faults from ``random_faults`` (seeded).
``fault_on = {"SUBSTRING": fault}`` serves ``fault`` to every completion whose messages contain SUBSTRING
(re-asks included), so a chosen record fails whatever the order of concurrent requests.

Replies: free text is ``note_text`` (``{ref}`` becomes a digest of the prompt, so different prompts get
different notes); a JSON-Schema request with a ``label`` or ``labels`` property is answered by labelling each
sentence with the first matching ``label_rules`` pattern (``(regex, label)`` pairs), else the negative label.
``in_flight`` / ``max_in_flight`` count completion requests being served now / at most at once (latency
included), ``arrivals`` holds each one's arrival time and ``replied`` (by index into ``bodies``) when its
reply was sent, so tests can observe concurrency, rate limits and the order of dependent requests.

**Another vendor's wire** (the stub a backend plugin ships for ``check_backend``): subclass and override
:meth:`FakeLLMServer.completion_wire` (which requests ask for a completion), :meth:`~FakeLLMServer.read_ask`
(the request as an :class:`Ask`), :meth:`~FakeLLMServer.render_reply` (an :class:`Answer` as the vendor's reply
body), :meth:`~FakeLLMServer.error_reply` (an error status as the vendor's body and headers) and
:meth:`~FakeLLMServer.backend_options` / :meth:`~FakeLLMServer.environ` (what a backend needs to reach the
server). Faults, latency, labelling and counting stay the base class's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import email.parser
import hashlib
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

RANDOM_FAULTS = ("429", "500", "timeout", "drop", "truncated_body", "malformed", "badjson", "badlabel")
_ids = itertools.count(1)


def ref_digest(text: str) -> str:
    """The ``{ref}`` a note reply carries: 8 letters digesting the prompt (letters only, so no identifier
    filter takes it for a record number)."""
    return hashlib.sha256(text.encode()).hexdigest()[:8].translate(str.maketrans("0123456789", "ghijklmnop"))


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


LabelRules = Sequence[tuple[str, str]]
DEFAULT_NOTE = (
    "S: Patient seen for follow-up (ref {ref}). No new complaints.\n"
    "O: Alert, oriented. Vitals within normal limits.\nA: Stable.\nP: Follow up in 3 months."
)


@dataclasses.dataclass
class Ask:
    """A completion request in vendor-neutral terms: ``messages`` as ``{"role", "content"}`` dicts (system
    messages included or in ``system``), the JSON Schema asked for (or None) and the output token cap."""

    messages: list[dict[str, str]]
    system: str = ""
    schema: dict[str, Any] | None = None
    max_tokens: int = 1024
    model: str = ""


@dataclasses.dataclass
class Answer:
    """What the fake model replies: the text, the parsed JSON when it answered a schema (None otherwise or
    when the fault broke it), ``finish`` (``stop`` or ``length``) and token counts."""

    text: str
    data: dict[str, Any] | None
    finish: str
    input_tokens: int
    output_tokens: int


def label_for(sentence: str, allowed: Sequence[str], rules: LabelRules = ()) -> tuple[str, str]:
    """A deterministic 'model': the first rule whose regex matches (and whose label is allowed) gives the label
    and its evidence; otherwise ``none`` (or the last allowed label, the negative one by convention)."""
    for pattern, label in rules:
        m = re.search(pattern, sentence, re.I)
        if m and label in allowed:
            return label, m.group(0)
    return ("none" if "none" in allowed else allowed[-1]), ""


class FakeLLMServer:
    """The fake vendor (see the module docstring). ``with FakeLLMServer(latency=0.1) as server: ...``"""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        faults: list[str] | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        hold_batches: bool = False,
        retry_after: float = 0.05,
        fault_on: dict[str, str] | None = None,
        label_rules: LabelRules = (),
        note_text: str = DEFAULT_NOTE,
    ):
        self.fault_on = dict(fault_on or {})
        self.label_rules = tuple(label_rules)
        self.note_text = note_text
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []  # time.monotonic() of each completion request
        self.replied: dict[int, float] = {}  # index in ``bodies`` -> time.monotonic() its reply was sent
        self.latency = latency
        self.faults: collections.deque[str] = collections.deque(faults or [])
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.hold_batches = hold_batches
        self.retry_after = retry_after
        self.counts: collections.Counter[str] = collections.Counter()
        self.faults_served: collections.Counter[str] = collections.Counter()
        self.bodies: list[tuple[str, Any]] = []
        self.auth: list[str] = []
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.queries: list[str] = []  # the query string of each request ("" when none)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._completions = 0
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeLLMServer:
        ready = threading.Event()

        def main() -> None:
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(self.serve())
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is None or self._server is None:
            return
        server = self._server

        async def shutdown() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            asyncio.get_running_loop().stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        if self._thread is not None:
            self._thread.join(5)
        self.loop.close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def release_batches(self) -> None:
        self.hold_batches = False

    @property
    def completions(self) -> int:
        """Completion requests received (whatever their outcome)."""
        return self._completions

    # -- the vendor's wire (override for another vendor) ------------------------------------------------------
    def completion_wire(self, method: str, path: str) -> str | None:
        """The wire a request speaks when it asks for a completion (``openai``, ``anthropic``), else None."""
        if method == "POST" and path == "/v1/chat/completions":
            return "openai"
        if method == "POST" and path == "/v1/messages":
            return "anthropic"
        return None

    def authorize(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """None to serve the request; else the ``(status, body, headers)`` refusing it (a vendor stub checks its
        authentication scheme here). The base accepts every request."""
        return None

    def backend_options(self) -> dict[str, Any]:
        """The backend options that point a backend at this server (``check_backend`` passes them)."""
        return {"base_url": self.url + "/v1"}

    def environ(self) -> dict[str, str]:
        """Environment variables a backend needs to talk to this server (fake credentials), set by
        ``check_backend`` around its checks; the key variable named by ``api_key_env`` is set anyway."""
        return {}

    def read_ask(self, wire: str, path: str, req: dict[str, Any]) -> Ask:
        """The request body as an :class:`Ask`."""
        anthropic = wire == "anthropic"
        schema = None
        if anthropic and req.get("tools"):
            schema = req["tools"][0]["input_schema"]
        elif not anthropic and (req.get("response_format") or {}).get("type") == "json_schema":
            schema = req["response_format"]["json_schema"]["schema"]
        system = req.get("system")
        system_text = system if isinstance(system, str) else "".join(b.get("text", "") for b in (system or []))
        max_tokens = req.get("max_tokens") or req.get("max_completion_tokens") or 1024
        return Ask(list(req["messages"]), system_text, schema, max_tokens, req.get("model", ""))

    def render_reply(self, wire: str, req: dict[str, Any], ask: Ask, answer: Answer) -> dict[str, Any]:
        """The vendor's reply body for ``answer``."""
        return self._render_openai_anthropic(wire == "anthropic", req, ask, answer)

    def error_reply(
        self,
        wire: str,
        status: int,
        kind: str,
        message: str,
        retry_after: float | None = None,
        whole_seconds: bool = False,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The vendor's error body and headers for ``status`` (``kind``: ``rate_limit_error``, ``api_error``);
        a 429 says to wait ``retry_after`` seconds (rounded up to whole seconds with ``whole_seconds``)."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = str(max(1, round(retry_after)))
            if not whole_seconds:
                headers["retry-after-ms"] = str(int(retry_after * 1000))
        return _error(wire == "anthropic", kind, message), headers

    def request_text(self, wire: str, path: str, req: dict[str, Any]) -> str:
        """The request's prompt as text (``fault_on`` looks for its substrings here)."""
        ask = self.read_ask(wire, path, req)
        return json.dumps(ask.messages)

    # -- HTTP -------------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                path, _, query = target.partition("?")
                self.queries.append(query)
                keep = await self._respond(method, path, headers, body, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        self.counts[f"{method} {re.sub(r'/(file|batch|msgbatch)_[^/]+', '/{id}', path)}"] += 1
        self.auth.append(next((headers[h] for h in _AUTH_HEADERS if headers.get(h)), ""))
        refused = self.authorize(method, path, headers)
        if refused is not None:
            status, payload, extra = refused
            _write(writer, status, json.dumps(payload).encode(), "application/json", extra)
            await writer.drain()
            return True
        wire = self.completion_wire(method, path)
        if wire is not None:
            self._completions += 1
            return await self._completion(wire, path, json.loads(body), writer)
        status, payload, extra = self._api(method, path, headers, body)
        if isinstance(payload, bytes):
            _write(writer, status, payload, "application/octet-stream", extra)
        else:
            _write(writer, status, json.dumps(payload).encode(), "application/json", extra)
        await writer.drain()
        return True

    def _fault(self) -> str | None:
        if self.faults:
            return self.faults.popleft()
        if self.fault_rate and self.rng.random() < self.fault_rate:
            return self.rng.choice(RANDOM_FAULTS)
        return None

    async def _completion(self, wire: str, path: str, req: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        index = len(self.bodies)  # _serve_completion records this request's body first
        try:
            return await self._serve_completion(wire, path, req, writer)
        finally:
            self.in_flight -= 1
            self.replied[index] = time.monotonic()

    async def _serve_completion(self, wire: str, path: str, req: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        self.bodies.append((path, req))
        text = self.request_text(wire, path, req)
        fault = next((f for needle, f in self.fault_on.items() if needle in text), None) or self._fault()
        if fault:
            self.faults_served[fault] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault in ("429", "429s"):
            whole = fault == "429s"
            wait = float(max(1, round(self.retry_after))) if whole else self.retry_after
            err, hdrs = self.error_reply(wire, 429, "rate_limit_error", "Rate limit reached", wait, whole)
            _write(writer, 429, json.dumps(err).encode(), "application/json", hdrs)
            await writer.drain()
            return True
        if fault in ("401_echo", "500_echo"):  # a proxy quoting the credentials it was sent
            message = f"invalid credentials in header Authorization: {self.auth[-1] if self.auth else ''}"
            err, hdrs = self.error_reply(wire, int(fault[:3]), "authentication_error", message)
            _write(writer, int(fault[:3]), json.dumps(err).encode(), "application/json", hdrs)
            await writer.drain()
            return True
        if fault in ("500", "503"):
            err, hdrs = self.error_reply(wire, int(fault), "api_error", "server error")
            _write(writer, int(fault), json.dumps(err).encode(), "application/json", hdrs)
            await writer.drain()
            return True
        if fault == "timeout":
            await asyncio.sleep(3.0)
            return False
        if fault == "drop":
            return False
        reply = self.reply(wire, req, fault, path)
        data = json.dumps(reply).encode()
        if fault == "malformed":
            data = b'{"id": "x", "choices": [ {"message": '
        if fault == "truncated_body":
            writer.write(
                f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n".encode()
                + data[: len(data) // 2]
            )
            await writer.drain()
            return False
        _write(writer, 200, data, "application/json")
        await writer.drain()
        return True

    # -- model behaviour ----------------------------------------------------------------------------------
    def reply(self, wire: str, req: dict[str, Any], fault: str | None, path: str = "") -> dict[str, Any]:
        """The reply body to a completion request (``fault``: ``badjson``, ``badlabel``, ``length`` or None)."""
        ask = self.read_ask(wire, path, req)
        return self.render_reply(wire, req, ask, self.answer(ask, fault))

    def _message(self, anthropic: bool, req: dict[str, Any], fault: str | None) -> dict[str, Any]:
        return self.reply("anthropic" if anthropic else "openai", req, fault)

    def answer(self, ask: Ask, fault: str | None) -> Answer:
        """The fake model: a note for free text, labels for a schema; ``fault`` spoils it."""
        schema = ask.schema
        prompt = "\n".join(str(m.get("content")) for m in ask.messages)
        if schema is None and _HINT in prompt + ask.system:  # structured as a prompt hint: the schema is in the text
            schema = json.JSONDecoder().raw_decode((prompt + "\n" + ask.system).split(_HINT, 1)[1])[0]
        chat = [m for m in ask.messages if m["role"] != "system"] or ask.messages
        users = [m["content"] for m in chat if m["role"] == "user"] or [chat[-1]["content"]]
        # a corrective re-ask answers the original request; a trailing system hint is not the question
        user = users[0] if any(m["role"] == "assistant" for m in chat) else users[-1]
        finish = "length" if fault == "length" else "stop"
        data: dict[str, Any] | None
        if schema is not None:
            data = self._annotate(schema, user, fault)
            text = json.dumps(data)
        else:
            text = self.note_text.replace("{ref}", ref_digest(prompt))
            data = None
        if fault == "badjson":
            text, data = "Sure! Here are the labels: {labels: oops", None
        if fault == "length":
            text, data = text[: len(text) // 2], None
        inp = _tokens(prompt + ask.system)
        return Answer(text, data, finish, inp, min(_tokens(text), ask.max_tokens))

    def _render_openai_anthropic(
        self, anthropic: bool, req: dict[str, Any], ask: Ask, answer: Answer
    ) -> dict[str, Any]:
        text, data, finish = answer.text, answer.data, answer.finish
        inp, out = answer.input_tokens, answer.output_tokens
        if anthropic:
            system = req.get("system")
            cached = "cache_control" in json.dumps(system) if system else False
            sys_tokens = _tokens(ask.system)
            if data is not None and req.get("tools"):
                content = [
                    {"type": "tool_use", "id": f"toolu_{next(_ids)}", "name": req["tools"][0]["name"], "input": data}
                ]
                stop = "tool_use"
            else:
                content = [{"type": "text", "text": text}]
                stop = "max_tokens" if finish == "length" else "end_turn"
            return {
                "id": f"msg_{next(_ids)}",
                "type": "message",
                "role": "assistant",
                "model": req["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": inp - (sys_tokens if cached else 0),
                    "output_tokens": out,
                    "cache_read_input_tokens": sys_tokens if cached else 0,
                    "cache_creation_input_tokens": 0,
                },
            }
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": inp,
                "completion_tokens": out,
                "total_tokens": inp + out,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        }

    def _annotate(self, schema: dict[str, Any], user: str, fault: str | None) -> dict[str, Any]:
        if "labels" in schema.get("properties", {}):
            allowed = schema["properties"]["labels"]["items"]["properties"]["label"]["enum"]
            items = []
            for m in re.finditer(r"^\[(\d+)\] (.*)$", user, re.M):
                label, evidence = label_for(m.group(2), allowed, self.label_rules)
                items.append({"index": int(m.group(1)), "label": label, "evidence": evidence})
            if fault == "badlabel" and items:
                items[0]["label"] = "banana"
            return {"labels": items}
        allowed = schema["properties"]["label"]["enum"]
        sentence = user.split("Sentence:", 1)[-1].strip()
        label, evidence = label_for(sentence, allowed, self.label_rules)
        return {"label": "banana" if fault == "badlabel" else label, "evidence": evidence}

    # -- files and batches ---------------------------------------------------------------------------------
    def _api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        now = int(time.time())
        if (method, path) == ("POST", "/v1/files"):
            msg = email.parser.BytesParser().parsebytes(
                b"Content-Type: " + headers["content-type"].encode() + b"\r\n\r\n" + body
            )
            parts: Any = msg.get_payload()  # multipart/form-data: a list of parts
            content: bytes = next(p.get_payload(decode=True) for p in parts if p.get_filename())
            fid = f"file_{next(_ids)}"
            self.files[fid] = content
            return (
                200,
                {
                    "id": fid,
                    "object": "file",
                    "bytes": len(content),
                    "created_at": now,
                    "filename": "batch.jsonl",
                    "purpose": "batch",
                    "status": "processed",
                },
                {},
            )
        if (method, path) == ("POST", "/v1/batches"):
            req = json.loads(body)
            bid = f"batch_{next(_ids)}"
            self.batches[bid] = {"vendor": "openai", "input": req["input_file_id"], "created": now, "out": None}
            return 200, self._openai_batch(bid), {}
        m = re.fullmatch(r"/v1/batches/(batch_\d+)", path)
        if m and method == "GET":
            return 200, self._openai_batch(m.group(1)), {}
        m = re.fullmatch(r"/v1/files/(file_\d+)/content", path)
        if m:
            return 200, self.files[m.group(1)], {}
        if (method, path) == ("POST", "/v1/messages/batches"):
            req = json.loads(body)
            bid = f"msgbatch_{next(_ids)}"
            self.batches[bid] = {"vendor": "anthropic", "requests": req["requests"], "created": now, "out": None}
            return 200, self._anthropic_batch(bid), {}
        m = re.fullmatch(r"/v1/messages/batches/(msgbatch_\d+)", path)
        if m and method == "GET":
            return 200, self._anthropic_batch(m.group(1)), {}
        m = re.fullmatch(r"/v1/messages/batches/(msgbatch_\d+)/results", path)
        if m:
            return 200, self._anthropic_results(m.group(1)), {}
        return 404, {"error": {"type": "not_found_error", "message": f"no route {method} {path}"}}, {}

    def _openai_batch(self, bid: str) -> dict[str, Any]:
        b = self.batches[bid]
        done = not self.hold_batches
        if done and b["out"] is None:
            lines = []
            for raw in self.files[b["input"]].decode().splitlines():
                item = json.loads(raw)
                self.counts["batch item"] += 1
                lines.append(
                    json.dumps(
                        {
                            "id": f"req_{next(_ids)}",
                            "custom_id": item["custom_id"],
                            "response": {
                                "status_code": 200,
                                "request_id": "r",
                                "body": self._message(False, item["body"], None),
                            },
                            "error": None,
                        }
                    )
                )
            fid = f"file_{next(_ids)}"
            self.files[fid] = ("\n".join(lines) + "\n").encode()
            b["out"] = fid
        return {
            "id": bid,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": None,
            "input_file_id": b["input"],
            "completion_window": "24h",
            "status": "completed" if done else "in_progress",
            "output_file_id": b["out"] if done else None,
            "error_file_id": None,
            "created_at": b["created"],
            "request_counts": None,
        }

    def _anthropic_batch(self, bid: str) -> dict[str, Any]:
        b = self.batches[bid]
        done = not self.hold_batches
        n = len(b["requests"])
        return {
            "id": bid,
            "type": "message_batch",
            "processing_status": "ended" if done else "in_progress",
            "request_counts": {
                "processing": 0 if done else n,
                "succeeded": n if done else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-02T00:00:00Z",
            "ended_at": "2026-01-01T01:00:00Z" if done else None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{bid}/results" if done else None,
        }

    def _anthropic_results(self, bid: str) -> bytes:
        lines = []
        for item in self.batches[bid]["requests"]:
            self.counts["batch item"] += 1
            lines.append(
                json.dumps(
                    {
                        "custom_id": item["custom_id"],
                        "result": {"type": "succeeded", "message": self._message(True, item["params"], None)},
                    }
                )
            )
        return ("\n".join(lines) + "\n").encode()


_HINT = "matching this JSON Schema:\n"
_AUTH_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


def _error(anthropic: bool, kind: str, message: str) -> dict[str, Any]:
    if anthropic:
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None, "param": None}}


def _write(
    writer: asyncio.StreamWriter, status: int, data: bytes, ctype: str, extra: dict[str, str] | None = None
) -> None:
    reason = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Status")
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\ncontent-length: {len(data)}\r\n"
    for k, v in (extra or {}).items():
        head += f"{k}: {v}\r\n"
    writer.write(head.encode() + b"\r\n" + data)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = b""
    while True:
        size = int((await reader.readline()).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return out
        out += await reader.readexactly(size)
        await reader.readline()


def main(server_class: type[FakeLLMServer] = FakeLLMServer) -> None:  # pragma: no cover - own process
    """Serve in this process: ``--latency SECONDS``; prints the port, then serves until killed."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    server = server_class(latency=args.latency)

    async def run() -> None:
        await server.serve()
        print(server.port, flush=True)
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover
    main()
