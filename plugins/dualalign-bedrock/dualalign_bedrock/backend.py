"""Amazon Bedrock over ``boto3``'s Bedrock Runtime Converse API: one request shape for every model family
Bedrock serves (Claude, Llama, Mistral, Nova, ...), structured replies through a forced tool.

Credentials come from the standard AWS chain (environment, profile, SSO, instance or task role): the backend
never reads, prints or stores them. boto3 is synchronous: calls run on a thread pool as wide as the
concurrency. botocore's own retries are off: retries, throttling, caching and cost live in the core.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, Any, ClassVar

from dualalign_bedrock.wire import converse_params, parse_converse, translate
from dualalign_core.api import BadInput, LLMBackend, LLMError, LLMRequest, LLMResponse, Price, options_schema
from dualalign_core.api import package_prices as _package_prices

if TYPE_CHECKING:  # boto3 is imported when a client is built, not when the plugin is listed
    from botocore.client import BaseClient

# cross-region inference profiles prefix the model id with a geography; they are priced as the model
GEOGRAPHIES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")


def bedrock_prices() -> dict[str, Price]:
    """The packaged table, each model also under its inference-profile ids (``us.anthropic....``)."""
    table = _package_prices(__package__ or "dualalign_bedrock")
    return {**table, **{f"{geo}.{name}": price for name, price in table.items() for geo in GEOGRAPHIES}}


class BedrockBackend(LLMBackend):
    """Any Bedrock text model through ``converse`` (``model`` is the model or inference-profile id)."""

    provider: ClassVar[str] = "bedrock"
    default_model: ClassVar[str] = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    api_key_env: ClassVar[str] = ""  # the AWS credential chain, not one key variable
    supports_json_schema: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = False  # batch inference jobs need S3 and an IAM role: see the docs page
    prices: ClassVar[dict[str, Price]] = bedrock_prices()
    options_schema: ClassVar[dict[str, Any]] = options_schema(
        region={
            "type": "string",
            "description": "AWS region (unset: AWS_REGION, AWS_DEFAULT_REGION or the profile's).",
        },
        profile={"type": "string", "description": "A named profile of the AWS config (unset: the default chain)."},
        structured={
            "enum": ["tool", "prompt"],
            "default": "tool",
            "description": "tool: a forced tool whose input schema is the JSON Schema (models with tool use); "
            "prompt: the schema in the system prompt.",
        },
        base_url={
            "type": "string",
            "description": "Unset: the region's bedrock-runtime endpoint (a VPC endpoint here).",
        },
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._client: BaseClient | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.structured: str = self.options["structured"]
        self.supports_json_schema = self.structured == "tool"  # type: ignore[misc]

    def _session(self) -> Any:
        import boto3

        return boto3.session.Session(profile_name=self.options.get("profile"), region_name=self.options.get("region"))

    def preflight(self) -> None:
        """A region and credentials must resolve (their values are never shown)."""
        import botocore.exceptions

        try:
            session = self._session()
        except botocore.exceptions.ProfileNotFound as exc:
            raise BadInput(f"bedrock: {exc}") from None
        if not session.region_name:
            raise BadInput("bedrock needs a region: the region option, AWS_REGION or AWS_DEFAULT_REGION")
        if session.get_credentials() is None:
            raise BadInput(
                "bedrock: no AWS credentials found (the standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, ~/.aws, SSO, an instance or task role)"
            )

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            from botocore.config import Config

            timeout = self.options["timeout"]
            config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=timeout,
                read_timeout=timeout,
                max_pool_connections=int(self.concurrency),
            )
            self._client = self._session().client(
                "bedrock-runtime", endpoint_url=self.options.get("base_url"), config=config
            )
        return self._client

    async def complete(self, request: LLMRequest) -> LLMResponse:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(int(self.concurrency), thread_name_prefix="bedrock")
        params = converse_params(request, self.structured)
        loop = asyncio.get_running_loop()
        try:
            client = self.client
            data = await loop.run_in_executor(self._pool, lambda: client.converse(**params))
        except LLMError:
            raise
        except Exception as exc:  # noqa: BLE001 - every botocore error becomes a retry class
            raise translate(exc) from None
        return parse_converse(data, request.model)  # Converse does not echo the model

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
