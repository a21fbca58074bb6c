"""answer_bias as a request field (a localcall extension of chat completions), through the live
server and the official openai client on the real default model: it moves the call-or-answer
choice of that request only, and a value out of range is a 400 in OpenAI's error shape."""

from __future__ import annotations

import openai
import pytest

from test_server_answers import WEATHER
from test_server_chat import MODEL

ASK = dict(model=MODEL, messages=[{"role": "user", "content": "What is the weather in Tokyo?"}], tools=[WEATHER],
           tool_choice="auto", max_tokens=48, temperature=0)


def test_the_request_bias_decides_between_calling_and_answering(openai_client):
    called = openai_client.chat.completions.create(**ASK, extra_body={"answer_bias": -100})
    assert called.choices[0].finish_reason == "tool_calls"
    assert called.choices[0].message.tool_calls[0].function.name == "get_weather"
    answered = openai_client.chat.completions.create(**ASK, extra_body={"answer_bias": 100})
    assert not answered.choices[0].message.tool_calls
    assert answered.choices[0].message.content


@pytest.mark.parametrize("bias", [101, "much"])
def test_a_bad_bias_is_a_400(openai_client, bias):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(**ASK, extra_body={"answer_bias": bias})
    assert "answer_bias" in str(caught.value)
