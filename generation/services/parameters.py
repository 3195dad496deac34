"""A job's parameters, checked once, in OpenAI's words: admission's first step.

Every entry point (both APIs, the studio, extend frames, preflight) reaches these checks through
`generation.services.admission`; the OpenAI serializer calls the same functions for the fields it
validates, so the wording is one. Types are strict: a JSON `{"prompt": 123}` is a 400 on
`prompt` ("Invalid type for 'prompt': expected a string, but got an integer instead."), as
OpenAI answers, never an image of the text "123". Multipart bodies carry only text, so there the
numbers are parsed from their digits (`json_types_check` looks at JSON bodies only).
"""

from collections.abc import Mapping
from typing import Any

from common.errors import InvalidRequest
from generation.inference.registry import model_alias_target
from generation.models import Generation
from generation.services import image_options
from generation.services.image_options import MAX_STEPS, ImageSize

MAX_PROMPT_CHARS = 1000
MAX_N = 10
MAX_SEED = 2**31 - 1

# The JSON type each field of a create request must have (both APIs' names). A field not named
# here is the serializer's alone to judge.
JSON_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "prompt": (str,),
    "operation": (str,),
    "size": (str,),
    "model": (str,),
    "user": (str,),
    "response_format": (str,),
    "n": (int,),
    "seed": (int,),
    "steps": (int,),
    "face_consent": (bool,),
    "quality": (str,),
    "output_format": (str,),
    "output_compression": (int,),
    "background": (str,),
    "moderation": (str,),
    "input_fidelity": (str,),
    "safety_identifier": (str,),
    "partial_images": (int,),
    "stream": (bool,),
}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean"}


def _json_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def type_error(*, param: str, expected: type, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {_TYPE_NAMES[expected]}, but got "
        f"{_json_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def json_types_check(data: Any) -> None:
    """A JSON body's fields have the types OpenAI requires (null means "the default" and is let
    through). A bool is not an integer here, although Python says it is."""
    if not isinstance(data, Mapping) or hasattr(data, "getlist"):
        return  # a form or multipart body: text only, parsed by the serializer
    for param, types in JSON_FIELD_TYPES.items():
        value = data.get(param)
        if value is None:
            continue
        if isinstance(value, bool) and bool not in types:
            raise type_error(param=param, expected=types[0], value=value)
        if not isinstance(value, types):
            raise type_error(param=param, expected=types[0], value=value)


def prompt_check(prompt: Any, *, required: bool = True) -> str:
    if not isinstance(prompt, str):
        if prompt is None and not required:
            return ""
        if prompt is None:
            raise InvalidRequest(
                "'prompt' is a required property.",
                param="prompt",
                code="missing_required_parameter",
            )
        raise type_error(param="prompt", expected=str, value=prompt)
    if required and not prompt.strip():
        raise InvalidRequest(
            "'prompt' is a required property.", param="prompt", code="missing_required_parameter"
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def n_check(n: Any) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise type_error(param="n", expected=int, value=n)
    if n < 1:
        raise InvalidRequest(
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, "
            f"but got {n} instead.",
            param="n",
            code="integer_below_min_value",
        )
    if n > MAX_N:
        raise InvalidRequest(
            f"Invalid 'n': integer above maximum value. Expected a value <= {MAX_N}, "
            f"but got {n} instead.",
            param="n",
            code="integer_above_max_value",
        )
    return n


def size_parse(size: int | str | None) -> ImageSize | None:
    """The size's type here; its rules (WxH, multiples of 64, the aspect) in image_options.
    None is `auto`: the model's native size within the plan, settled with the model."""
    if isinstance(size, bool) or not (size is None or isinstance(size, int | str)):
        raise type_error(param="size", expected=str, value=size)
    return image_options.size_parse(size)


def seed_steps_check(*, seed: Any, steps: Any) -> None:
    for param, value in (("seed", seed), ("steps", steps)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise type_error(param=param, expected=int, value=value)
    if seed is not None and not (0 <= seed <= MAX_SEED):
        raise InvalidRequest(f"'seed' must be between 0 and {MAX_SEED}.", param="seed")
    if steps is not None and not (1 <= steps <= MAX_STEPS):
        raise InvalidRequest(f"'steps' must be between 1 and {MAX_STEPS}.", param="steps")


def model_alias_resolve(model: str | None) -> str | None:
    """The model a request names, with OpenAI's names (settings.EASEL_OPENAI_MODEL_ALIASES)
    meaning the Easel model they map to; None is the default."""
    if isinstance(model, bool) or (model is not None and not isinstance(model, str)):
        raise type_error(param="model", expected=str, value=model)
    if not model:
        return None
    return model_alias_target(name=model) or model


def generation_params_check(
    *, operation: str, prompt: Any, n: Any, size: int | str | None
) -> ImageSize | None:
    """The request's own limits (operation, prompt, n, size), in OpenAI's words; the size asked
    for (None: `auto`). Admission applies them to jobs and to the free preflight alike."""
    if operation not in Generation.Operation.values:
        raise InvalidRequest(f"Unknown operation '{operation}'.", param="operation")
    prompt_check(prompt, required=operation != Generation.Operation.VARIATION)
    n_check(n)
    return size_parse(size)
