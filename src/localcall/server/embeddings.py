"""POST /v1/embeddings: vectors from llama.cpp's embedding output.

Each input (a string, or a token array) is embedded on its own in the backend's embedding
context, which is separate from the generation context: an embedding request never
disturbs a generation's KV cache and does not wait for the model's generation slot. The
model's own pooling is used when its GGUF declares one (embedding models); a chat model gets
mean pooling over its last hidden states. Vectors are L2-normalised, as OpenAI's are.
`encoding_format` "base64" sends the float32 little-endian bytes, as the openai client
expects.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Callable, Literal

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field, field_validator

from . import errors
from .catalog import Catalog
from .disconnect import ClientGone, unless_disconnected
from .errors import bad_request
from .requestlog import CLIENT_CLOSED, STATE_KEY, RequestStats
from .schemas import WireModel, _Request

MAX_INPUTS = 2048  # OpenAI's limit per request


class EmbeddingRequest(_Request):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _some_input(cls, value):
        inputs = [value] if isinstance(value, str) else value
        if not inputs:
            raise ValueError("send at least one input")
        if len(inputs) > MAX_INPUTS and not isinstance(inputs[0], int):
            raise ValueError(f"at most {MAX_INPUTS} inputs per request")
        if any(len(i) == 0 for i in inputs if isinstance(i, (str, list))):
            raise ValueError("an input must not be empty")
        return value

    def inputs(self) -> list[str | list[int]]:
        if isinstance(self.input, str) or isinstance(self.input[0], int):
            return [self.input]
        return list(self.input)


class Embedding(WireModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(WireModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(WireModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


def encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(np.float32).tolist()


def install(app: FastAPI, catalog: Catalog, settings, principal: Callable[..., str]) -> None:
    """Add POST /v1/embeddings to `app`."""

    @app.post("/v1/embeddings", response_model=EmbeddingList, responses=errors.error_responses(400, 401, 404, 413))
    async def embeddings(body: EmbeddingRequest, request: Request, who: str = Depends(principal)) -> Response:
        model = catalog.get(body.model).model
        stats = RequestStats(model=body.model, principal=who)
        setattr(request.state, STATE_KEY, stats)
        backend = model.backend
        embed = getattr(backend, "embed", None)
        if embed is None:
            raise bad_request(f"{model.name} cannot embed: its backend ({backend.name}) has no embedding output; "
                              f"serve a GGUF model (llama.cpp backend)", "model", code="model_not_embedding")
        batches = []
        for i, item in enumerate(body.inputs()):
            tokens = backend.tokenize(item, add_bos=backend.adds_bos) if isinstance(item, str) else list(item)
            if any(not 0 <= t < backend.n_vocab for t in tokens):
                raise bad_request(f"input[{i}] holds a token id outside the vocabulary of {backend.n_vocab}", "input")
            limit = getattr(backend, "embedding_ctx", backend.n_ctx)
            if len(tokens) > limit:
                raise bad_request(f"input[{i}] has {len(tokens)} tokens; an embedding input may have {limit}",
                                  "input")
            batches.append(tokens)
        try:
            vectors = await unless_disconnected(request, asyncio.to_thread(lambda: [embed(t) for t in batches]))
        except ClientGone:
            return Response(status_code=CLIENT_CLOSED)
        except ValueError as exc:  # the backend's own limits
            raise bad_request(str(exc), "input") from None
        if body.dimensions is not None and body.dimensions != vectors[0].shape[0]:
            raise bad_request(f"{model.name} makes vectors of {vectors[0].shape[0]} dimensions; 'dimensions' may "
                              f"only ask for that", "dimensions")
        used = sum(len(t) for t in batches)
        stats.prompt_tokens, stats.finish_reason = used, "embedded"
        data = [Embedding(index=i, embedding=encode(v, body.encoding_format)) for i, v in enumerate(vectors)]
        return JSONResponse(EmbeddingList(data=data, model=body.model,
                                          usage=EmbeddingUsage(prompt_tokens=used, total_tokens=used))
                            .model_dump(mode="json"))
