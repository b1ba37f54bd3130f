import math

import pytest

from autonom.errors import InvalidRequestError
from autonom.types import ChatRequest, GenerationOptions, Message, parse_keep_alive


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5m", 300.0), ("1h30m", 5400.0), ("90s", 90.0), ("300", 300.0), (300, 300.0),
     ("0", 0.0), (0, 0.0), ("250ms", 0.25), ("1.5h", 5400.0)],
)
def test_keep_alive_durations_parse_like_ollama(value, seconds):
    assert parse_keep_alive(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["-1", -1, "-5m", -0.5])
def test_negative_keep_alive_means_forever(value):
    assert math.isinf(parse_keep_alive(value))


def test_missing_keep_alive_means_default():
    assert parse_keep_alive(None) is None


@pytest.mark.parametrize("value", ["", "fünf Minuten", "5x", "m5", "5m-3s", True])
def test_bad_keep_alive_is_a_clear_error(value):
    with pytest.raises(InvalidRequestError, match="keep_alive"):
        parse_keep_alive(value)


def test_chat_request_needs_at_least_one_message():
    with pytest.raises(ValueError):
        ChatRequest(model="m", messages=[])


def test_generation_options_reject_out_of_range_values():
    with pytest.raises(ValueError):
        GenerationOptions(temperature=-1)
    with pytest.raises(ValueError):
        GenerationOptions(max_tokens=0)
    msg = Message(role="user", content="Größe: 5,5 kW")
    assert msg.content == "Größe: 5,5 kW"
