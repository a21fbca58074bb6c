"""POST /v1/embeddings through the official openai client, against a live server and the
real default model (mean pooling: SmolLM2 is a chat model and declares none)."""

from __future__ import annotations

import base64
import math

import numpy as np
import openai
import pytest

MODEL = "smollm2-135m"


def vec(item) -> np.ndarray:
    if isinstance(item.embedding, str):  # encoding_format="base64": float32, little-endian
        return np.frombuffer(base64.b64decode(item.embedding), dtype="<f4")
    return np.asarray(item.embedding, dtype=np.float32)


def test_one_input(openai_client, llama_backend):
    r = openai_client.embeddings.create(model=MODEL, input="The cat sat on the mat.", encoding_format="float")
    assert r.object == "list" and r.model == MODEL
    item, = r.data
    assert item.index == 0 and len(item.embedding) == 576  # SmolLM2-135M's hidden size
    assert math.isclose(float(np.linalg.norm(vec(item))), 1.0, rel_tol=1e-4)
    assert r.usage.prompt_tokens == r.usage.total_tokens == len(llama_backend.tokenize("The cat sat on the mat."))


def test_batch_keeps_order_and_matches_single_inputs(openai_client):
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly tax filing deadlines"]
    batch = openai_client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    assert [d.index for d in batch.data] == [0, 1, 2]
    for text, item in zip(texts, batch.data):
        alone = openai_client.embeddings.create(model=MODEL, input=text, encoding_format="float").data[0]
        np.testing.assert_allclose(vec(item), vec(alone), atol=1e-5)
    a, b, c = (vec(d) for d in batch.data)
    assert a @ b > a @ c and a @ b > b @ c  # the paraphrase is nearer than the unrelated text


def test_base64_is_the_same_vector(openai_client):
    as_float = openai_client.embeddings.create(model=MODEL, input="hello world", encoding_format="float")
    as_base64 = openai_client.embeddings.create(model=MODEL, input="hello world", encoding_format="base64")
    assert isinstance(as_base64.data[0].embedding, str)
    np.testing.assert_array_equal(vec(as_float.data[0]), vec(as_base64.data[0]))
    # Given no format, the openai client asks for base64 and decodes it itself.
    default = openai_client.embeddings.create(model=MODEL, input="hello world")
    np.testing.assert_array_equal(vec(default.data[0]), vec(as_float.data[0]))


def test_token_arrays(openai_client, llama_backend):
    tokens = llama_backend.tokenize("hello world", add_bos=llama_backend.adds_bos)
    by_text = openai_client.embeddings.create(model=MODEL, input="hello world", encoding_format="float")
    by_tokens = openai_client.embeddings.create(model=MODEL, input=tokens, encoding_format="float")
    several = openai_client.embeddings.create(model=MODEL, input=[tokens, tokens[:1]], encoding_format="float")
    np.testing.assert_array_equal(vec(by_tokens.data[0]), vec(by_text.data[0]))
    assert len(several.data) == 2 and not np.allclose(vec(several.data[0]), vec(several.data[1]))


def test_embedding_leaves_the_generation_cache_alone(openai_client):
    chat = dict(model=MODEL, messages=[{"role": "user", "content": "Name three colours of the rainbow."}],
                max_tokens=1, temperature=0)
    openai_client.chat.completions.create(**chat)
    openai_client.embeddings.create(model=MODEL, input="something else entirely " * 20)
    again = openai_client.chat.completions.create(**chat)
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens - 1


@pytest.mark.parametrize("extra, param", [
    ({"input": ""}, "input"), ({"input": []}, "input"), ({"input": [[]]}, "input"), ({"input": [10 ** 9]}, "input"),
    ({"encoding_format": "int8"}, "encoding_format"), ({"dimensions": 3}, "dimensions")])
def test_refused(openai_client, extra, param):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.embeddings.create(**{"model": MODEL, "input": "hi", "encoding_format": "float", **extra})
    assert info.value.param == param
