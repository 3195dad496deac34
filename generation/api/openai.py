"""The OpenAI-compatible Images API (`/v1/`): DALL-E 2's parameters, limits, answers and errors.

`POST /v1/images/generations` (JSON), `/v1/images/edits` and `/v1/images/variations`
(multipart) answer when the images are ready, as OpenAI's do. The wait happens on the event
loop (generation.api.events): a held request costs a coroutine and a queue, not a thread.
"""

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import ANY_KEY, GENERATE_IMAGES, authenticated_user
from common.errors import ApiError, ContentPolicyViolation, InvalidRequest, NotFound
from generation.api.asyncviews import AsyncApiView, request_thread_release, run_sync
from generation.api.events import generation_progress, generation_wait_final
from generation.inference.registry import (
    model_alias_target,
    model_aliases,
    model_ids,
    model_spec,
)
from generation.models import Generation, Image
from generation.services import image_options
from generation.services.admission import Admitted, Idempotency, admission_admit
from generation.services.parameters import (
    json_types_check,
    n_check,
    prompt_check,
)
from generation.services.storage import signed_url, storage_read
from generation.services.uploads import upload_bytes
from moderation.selectors.customer import decision_block_for_generation
from moderation.verdicts import decision_reference

RESPONSE_FORMATS = ["url", "b64_json"]
OPENAI_URL_EXPIRES = 3600  # OpenAI's image URLs last an hour; so do ours

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The same key and body within 24 hours answers the first result and charges "
    "once; the same key with a different body is 409.",
)


class GenerationFailed(ApiError):
    status_code = 500
    error_type = "server_error"
    code = "generation_failed"


class GenerationTimeout(ApiError):
    status_code = 504
    error_type = "server_error"
    code = "timeout"


class GenerationCanceled(ApiError):
    status_code = 409
    code = "generation_canceled"


# --- Parameters --------------------------------------------------------------------------------


def _enum_error(value: Any, choices: list[str], param: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{value}' is not one of {choices} - '{param}'", param=param, code="invalid_value"
    )


def _choice_field(choices: tuple[str, ...], help_text: str) -> serializers.CharField:
    # A plain CharField: the image_options check answers a wrong value in OpenAI's words.
    return serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text=f"{' | '.join(choices)}. {help_text}",
    )


class ImageParamsSerializer(serializers.Serializer):
    """What all three operations share, validated with OpenAI's words. The image options
    (size ... moderation) are checked by generation/services/image_options.py, behind
    admission's parameters step, so both APIs and the studio refuse alike."""

    n = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="1 to 10; default 1."
    )
    size = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="auto (default: the model's native size within your plan), or WIDTHxHEIGHT in "
        "multiples of 64 up to the model's and your plan's pixels, aspect at most 3:1 "
        "(1024x1024, 1536x1024, 1024x1536, 1792x1024, 1024x1792, 256x256, ...).",
    )
    quality = _choice_field(image_options.QUALITIES, "Steps per model: docs/api.md.")
    output_format = _choice_field(image_options.OUTPUT_FORMATS, "Default png.")
    output_compression = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="0-100, jpeg and webp."
    )
    background = _choice_field(image_options.BACKGROUNDS, "transparent needs png or webp.")
    moderation = _choice_field(image_options.MODERATION_LEVELS, "What low relaxes: docs/api.md.")
    response_format = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="url (valid for an hour) or b64_json; default url.",
    )
    user = serializers.CharField(
        required=False, allow_blank=True, max_length=256, help_text="Your end user's id."
    )
    safety_identifier = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=256,
        help_text="Your end user's id (today's name for `user`); wins when both are sent.",
    )
    seed = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Easel: image i uses seed + i."
    )
    stream = serializers.BooleanField(required=False, allow_null=True, default=None)
    partial_images = serializers.IntegerField(required=False, allow_null=True, default=None)
    model = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="A GET /v1/models id, or an OpenAI name (dall-e-2, dall-e-3, gpt-image-1).",
    )

    def to_internal_value(self, data: Any) -> Any:
        json_types_check(data)  # {"prompt": 123} is a 400 on prompt, as OpenAI answers
        return super().to_internal_value(data)

    def validate_n(self, value: int | None) -> int:
        return 1 if value is None else n_check(value)

    def validate_response_format(self, value: str | None) -> str:
        if value is None:
            return "url"
        if value not in RESPONSE_FORMATS:
            raise _enum_error(value, RESPONSE_FORMATS, "response_format")
        return value

    def validate_stream(self, value: bool | None) -> bool:
        return bool(value)

    def validate_model(self, value: str | None) -> str | None:
        if not value:
            return None
        target = model_alias_target(name=value)
        if target is not None:
            return target
        if value not in model_ids():
            raise InvalidRequest(
                f"The model '{value}' does not exist.", param="model", code="model_not_found"
            )
        return value


def _prompt_field() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="At most 1000 characters.",
    )


class GenerationsInputSerializer(ImageParamsSerializer):
    prompt = _prompt_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["prompt"] = prompt_check(attrs.get("prompt"))
        return attrs


class VariationsInputSerializer(ImageParamsSerializer):
    image = serializers.FileField(
        required=False,
        help_text="A PNG, JPEG or WebP under 20 MB, any shape up to 3:1; or a list (`image[]`, "
        "up to 16): the first is edited or varied, the others are reference images that steer "
        "the result (models with an IP-Adapter; others answer 400 references_not_supported).",
    )
    input_fidelity = _choice_field(
        image_options.INPUT_FIDELITIES, "How closely the result keeps the input; default low."
    )
    face_consent = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Easel: I have the consent of the real person whose face is in the image.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        listed: list[Any] = getattr(self.initial_data, "getlist", lambda _name: [])("image[]")
        if attrs.get("image") is None and not listed:
            raise InvalidRequest(
                "'image' is a required property.", param="image", code="missing_required_parameter"
            )
        return attrs


class EditsInputSerializer(VariationsInputSerializer):
    prompt = _prompt_field()
    mask = serializers.FileField(
        required=False, help_text="A PNG of the image's size; its transparent area is repainted."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["prompt"] = prompt_check(attrs.get("prompt"))
        return super().validate(attrs)


class ImageDataSerializer(serializers.Serializer):
    url = serializers.URLField(required=False, help_text="Expires an hour after the answer.")
    b64_json = serializers.CharField(
        required=False, help_text="The image in its output format, base64-encoded."
    )
    seed = serializers.IntegerField(help_text="Easel: the image's seed (send it to redo it).")


class ImagesUsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField(help_text="The prompt, by the model's tokenizer.")
    input_tokens_details = inline_serializer(
        "UsageInputTokensDetails",
        {"text_tokens": serializers.IntegerField(), "image_tokens": serializers.IntegerField()},
    )
    output_tokens = serializers.IntegerField(help_text="0: a diffusion model emits no tokens.")
    total_tokens = serializers.IntegerField()
    credits = serializers.IntegerField(help_text="Easel: the credits the request was charged.")


class ImagesResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    data = ImageDataSerializer(many=True)  # type: ignore[assignment]
    background = serializers.CharField(help_text="transparent or opaque.")
    output_format = serializers.CharField()
    quality = serializers.CharField(help_text="low, medium or high: the level rendered.")
    size = serializers.CharField(help_text="WIDTHxHEIGHT rendered (auto resolved).")
    usage = ImagesUsageSerializer()


# --- Answer ------------------------------------------------------------------------------------


def openai_images_body(*, generation_id: Any, response_format: str) -> dict[str, Any]:
    """The finished job as OpenAI answers it, or the error it would give. Sync (ORM, storage).

    One query for a job with images (each row carries its job), the common answer: this read
    is on the way between the worker's publish and the client's answer."""
    images = list(
        Image.objects.select_related("generation")
        .filter(generation_id=generation_id, status=Image.Status.DELIVERED, deleted_at__isnull=True)
        .exclude(storage_key="")
    )
    generation = images[0].generation if images else Generation.objects.get(pk=generation_id)
    if generation.status == Generation.Status.BLOCKED:
        block = decision_block_for_generation(generation_id=generation.pk)
        raise ContentPolicyViolation(
            generation.status_message
            or "Your request was rejected as a result of our safety system: the images made "
            "for it are not allowed by Easel's content policy. Nothing was charged.",
            param=None,
            **decision_reference(decision_id=block.pk if block else None),
        )
    if generation.status == Generation.Status.FAILED:
        raise GenerationFailed(
            generation.status_message or "The generation failed. Nothing was charged; try again."
        )
    if generation.status == Generation.Status.CANCELED:
        raise GenerationCanceled("The generation was canceled before it finished.")
    if generation.status != Generation.Status.SUCCEEDED:
        raise GenerationTimeout(
            "The images are not ready yet. The job goes on: "
            f"GET /api/v1/generations/{generation.id}.",
            headers={"x-should-retry": "false"},  # a retry would start (and charge) another job
        )
    return {
        "created": int(generation.created_at.timestamp()),
        "data": [_image_entry(image=image, response_format=response_format) for image in images],
        **openai_job_fields(generation=generation),
    }


def openai_job_fields(*, generation: Generation) -> dict[str, Any]:
    """What OpenAI's answer says of the request beside its images, with the values rendered."""
    return {
        "background": "transparent" if generation.background == "transparent" else "opaque",
        "output_format": generation.output_format,
        "quality": image_options.QUALITY_LEVEL[generation.quality],
        "size": generation.size_label,
        "usage": {
            "input_tokens": generation.input_tokens,
            "input_tokens_details": {"text_tokens": generation.input_tokens, "image_tokens": 0},
            "output_tokens": 0,
            "total_tokens": generation.input_tokens,
            "credits": generation.credits_captured,
        },
    }


def _image_entry(*, image: Image, response_format: str) -> dict[str, Any]:
    if response_format == "b64_json":
        encoded = base64.b64encode(storage_read(key=image.storage_key)).decode()
        return {"b64_json": encoded, "seed": image.seed}
    return {
        "url": signed_url(key=image.storage_key, expires_in=OPENAI_URL_EXPIRES),
        "seed": image.seed,
    }


async def _answer(*, request: Request, started: Admitted, response_format: str) -> Response:
    request_thread_release()
    await generation_wait_final(
        generation_id=started.generation.id, timeout=settings.EASEL_API_WAIT_TIMEOUT
    )
    body = await run_sync(
        openai_images_body, generation_id=started.generation.id, response_format=response_format
    )
    headers = {**started.headers, "easel-generation-id": str(started.generation.id)}
    if started.replayed:
        headers["idempotent-replayed"] = "true"
    return Response(body, headers=headers)


# OpenAI's event names: generations stream `image_generation.*`, edits (and, here, variations)
# `image_edit.*`.
STREAM_EVENT_PREFIX: dict[str, str] = {
    Generation.Operation.GENERATE.value: "image_generation",
    Generation.Operation.EDIT.value: "image_edit",
    Generation.Operation.VARIATION.value: "image_edit",
}


def _sse_event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _stream(*, started: Admitted, event_prefix: str) -> StreamingHttpResponse:
    """`stream=true`: Server-Sent Events as the openai client parses them, held on the event
    loop like a waiting request (no thread): a `<prefix>.partial_image` event per preview the
    worker publishes, then one `<prefix>.completed` per image, with `usage`."""
    response = StreamingHttpResponse(
        _stream_events(started=started, event_prefix=event_prefix),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies must pass each event on at once
    for name, value in {
        **started.headers,
        "easel-generation-id": str(started.generation.id),
    }.items():
        response[name] = value
    return response


async def _stream_events(*, started: Admitted, event_prefix: str) -> AsyncIterator[bytes]:
    request_thread_release()
    generation = started.generation
    fields = await run_sync(_stream_fields, generation_id=generation.id)
    progress = generation_progress(
        generation_id=generation.id, timeout=settings.EASEL_API_WAIT_TIMEOUT, heartbeat=15.0
    )
    sent = set()
    try:
        async for state in progress:
            if state is None:
                yield b": keep-alive\n\n"
                continue
            partial = state.get("partial_image")
            if partial and partial["index"] not in sent:
                sent.add(partial["index"])
                yield _sse_event(
                    f"{event_prefix}.partial_image",
                    {
                        "type": f"{event_prefix}.partial_image",
                        "b64_json": partial["b64_json"],
                        "partial_image_index": partial["index"],
                        "created_at": fields["created"],
                        **{
                            key: fields[key]
                            for key in ("background", "output_format", "quality", "size")
                        },
                    },
                )
    finally:
        await progress.aclose()
    try:
        body = await run_sync(
            openai_images_body, generation_id=generation.id, response_format="b64_json"
        )
    except ApiError as error:
        yield _sse_event("error", error.as_body())
        return
    for image in body["data"]:
        yield _sse_event(
            f"{event_prefix}.completed",
            {
                "type": f"{event_prefix}.completed",
                "b64_json": image["b64_json"],
                "seed": image["seed"],
                "created_at": body["created"],
                **{
                    key: body[key]
                    for key in ("background", "output_format", "quality", "size", "usage")
                },
            },
        )


def _stream_fields(*, generation_id: Any) -> dict[str, Any]:
    generation = Generation.objects.get(pk=generation_id)
    return {
        "created": int(generation.created_at.timestamp()),
        **openai_job_fields(generation=generation),
    }


def _idempotency_key(request: Request) -> str | None:
    return request.headers.get("Idempotency-Key")


def _admit(
    request: Request,
    *,
    operation: str,
    params: dict[str, Any],
    files: dict[str, Any],
    face_consent: bool,
    response_format: str,
) -> Admitted:
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    key = _idempotency_key(request)
    return admission_admit(
        user=authenticated_user(request),
        api_key=api_key,
        source=Generation.Source.OPENAI_API,
        operation=operation,
        face_consent=face_consent,
        image_bytes=upload_bytes(files.get("image")),
        mask_bytes=upload_bytes(files.get("mask")),
        # A listed upload is a file, never None: upload_bytes gives its bytes.
        reference_bytes=tuple(upload_bytes(upload) for upload in files.get("references", ())),  # type: ignore[misc]
        idempotency=None
        if key is None
        else Idempotency(
            key=key,
            method="POST",
            path=request.path,
            accepted_status=200,
            answer_fields={"response_format": response_format},
        ),
        **params,
    )


# Passed to admission_admit as they came (None: the option's default there).
_OPTION_FIELDS = (
    "size",
    "quality",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "seed",
    "input_fidelity",
)


def _create_params(data: dict[str, Any]) -> dict[str, Any]:
    # safety_identifier is today's name for `user`; either counts for end-user strikes.
    end_user = data.get("safety_identifier") or data.get("user", "")
    params = {
        "n": data["n"],
        "end_user": end_user,
        "partial_images": image_options.partial_images_check(
            stream=data["stream"], partial_images=data.get("partial_images")
        ),
    }
    params.update({name: data[name] for name in _OPTION_FIELDS if data.get(name) is not None})
    if data.get("model"):
        params["model"] = data["model"]
    if data.get("prompt"):
        params["prompt"] = data["prompt"]
    return params


def _uploads(request: Request, data: dict[str, Any], file_fields: tuple[str, ...]) -> dict:
    """The named uploads; `image` may come as a list (`image[]`, today's client), counted before
    anything is read: the first is `image`, the others `references`."""
    files = {name: data.get(name) for name in file_fields}
    if "image" in file_fields:
        images = [*request.FILES.getlist("image"), *request.FILES.getlist("image[]")]
        image_options.input_images_check(count=len(images))
        files["image"] = images[0] if images else None
        files["references"] = images[1:]
    return files


@dataclass(frozen=True)
class _Started:
    admitted: Admitted
    stream: bool
    response_format: str


class _ImagesApi(AsyncApiView):
    """What the three operations do alike: validate, start (or replay) the job, answer when
    ready. Validation and admission are `prepare_post`, so they run in authentication's pool
    call (AsyncApiView); the wait and the answer are the handler's, on the event loop.

    `file_fields` name the uploads the operation takes; their validation is the serializer's.
    """

    permission_classes = GENERATE_IMAGES
    input_serializer: type[ImageParamsSerializer]
    operation: str
    file_fields: tuple[str, ...] = ()

    def prepare_post(self, request: Request) -> _Started:
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        admitted = _admit(
            request,
            operation=self.operation,
            params=_create_params(data),
            files=_uploads(request, data, self.file_fields),
            # Only edits and variations take an image, so only they carry the face_consent field.
            face_consent=data.get("face_consent", False),
            response_format="b64_json" if data["stream"] else data["response_format"],
        )
        return _Started(
            admitted=admitted, stream=data["stream"], response_format=data["response_format"]
        )

    async def _respond(self, request: Request) -> Response | StreamingHttpResponse:
        started: _Started = self.prepared
        if started.stream:
            return _stream(
                started=started.admitted, event_prefix=STREAM_EVENT_PREFIX[self.operation]
            )
        return await _answer(
            request=request, started=started.admitted, response_format=started.response_format
        )


def _images_responses(event_prefix: str) -> dict:
    """The JSON answer, and with `stream=true` the event stream `_stream_events` writes."""
    example = (
        f"event: {event_prefix}.partial_image\n"
        f'data: {{"type": "{event_prefix}.partial_image", "b64_json": "iVBORw0...", '
        '"partial_image_index": 0, "created_at": 1780000000, "background": "opaque", '
        '"output_format": "png", "quality": "medium", "size": "1024x1024"}\n\n'
        f"event: {event_prefix}.completed\n"
        f'data: {{"type": "{event_prefix}.completed", "b64_json": "iVBORw0...", "seed": 7, '
        '"created_at": 1780000000, "background": "opaque", "output_format": "png", '
        '"quality": "medium", "size": "1024x1024", "usage": {"input_tokens": 9, '
        '"input_tokens_details": {"image_tokens": 0, "text_tokens": 9}, "output_tokens": 0, '
        '"total_tokens": 9, "credits": 2}}\n\n'
    )
    return {
        (200, "application/json"): ImagesResponseSerializer,
        (200, "text/event-stream"): OpenApiResponse(
            response=OpenApiTypes.STR,
            description=(
                f"With `stream=true`: Server-Sent Events. `{event_prefix}.partial_image` "
                "(`b64_json` a preview decoded from intermediate latents, `partial_image_index` "
                "from 0, `created_at`, `background`, `output_format`, `quality`, `size`), up to "
                f"`partial_images` of them, then one `{event_prefix}.completed` per image "
                "(`b64_json`, `seed`, `created_at`, the same four fields and `usage`). A job "
                "that ends without images sends one `error` event with the API's error body. "
                "Comment lines keep the connection open."
            ),
            examples=[OpenApiExample("stream", value=example, media_type="text/event-stream")],
        ),
    }


class ImagesGenerationsApi(_ImagesApi):
    parser_classes = [JSONParser]
    input_serializer = GenerationsInputSerializer
    operation = Generation.Operation.GENERATE

    @extend_schema(
        operation_id="openai_images_generations",
        summary="Create images from a prompt (OpenAI-compatible); answers when they are ready",
        tags=["openai"],
        request=GenerationsInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses=_images_responses(STREAM_EVENT_PREFIX[Generation.Operation.GENERATE.value]),
    )
    async def post(self, request: Request) -> Response | StreamingHttpResponse:
        return await self._respond(request)


class ImagesEditsApi(_ImagesApi):
    parser_classes = [MultiPartParser]
    input_serializer = EditsInputSerializer
    operation = Generation.Operation.EDIT
    file_fields = ("image", "mask")

    @extend_schema(
        operation_id="openai_images_edits",
        summary="Repaint the transparent area of an image (OpenAI-compatible)",
        tags=["openai"],
        request={"multipart/form-data": EditsInputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        responses=_images_responses(STREAM_EVENT_PREFIX[Generation.Operation.EDIT.value]),
    )
    async def post(self, request: Request) -> Response | StreamingHttpResponse:
        return await self._respond(request)


class ImagesVariationsApi(_ImagesApi):
    parser_classes = [MultiPartParser]
    input_serializer = VariationsInputSerializer
    operation = Generation.Operation.VARIATION
    file_fields = ("image",)

    @extend_schema(
        operation_id="openai_images_variations",
        summary="Make variations of an image (OpenAI-compatible)",
        tags=["openai"],
        request={"multipart/form-data": VariationsInputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        responses=_images_responses(STREAM_EVENT_PREFIX[Generation.Operation.VARIATION.value]),
    )
    async def post(self, request: Request) -> Response | StreamingHttpResponse:
        return await self._respond(request)


# --- Models ------------------------------------------------------------------------------------


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    owned_by = serializers.CharField()
    easel_reference_images = serializers.BooleanField(
        help_text="Easel: edits and variations take reference images (a list of `image`)."
    )
    easel_transparent_background = serializers.BooleanField(
        help_text="Easel: `background=transparent` is served."
    )


def _model_entry(model_id: str) -> dict[str, Any]:
    spec = model_spec(model_id=model_alias_target(name=model_id) or model_id)
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": "easel",
        "easel_reference_images": spec.ip_adapter is not None,
        "easel_transparent_background": bool(spec.background_model),
    }


def _served_model_ids() -> list[str]:
    # OpenAI's names are listed because clients written for OpenAI name them (settings).
    return [*model_ids(), *model_aliases()]


class ModelListApi(APIView):
    permission_classes = ANY_KEY

    @extend_schema(
        operation_id="openai_models_list",
        summary="The models this server serves (OpenAI-compatible)",
        tags=["openai"],
        responses=inline_serializer(
            "ModelList", {"object": serializers.CharField(), "data": ModelSerializer(many=True)}
        ),
    )
    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": [_model_entry(m) for m in _served_model_ids()]})


class ModelDetailApi(APIView):
    permission_classes = ANY_KEY

    @extend_schema(
        operation_id="openai_models_retrieve",
        summary="One model (OpenAI-compatible)",
        tags=["openai"],
        responses=ModelSerializer,
    )
    def get(self, request: Request, model_id: str) -> Response:
        if model_id not in _served_model_ids():
            raise NotFound(
                f"The model '{model_id}' does not exist.", param="model", code="model_not_found"
            )
        entry = _model_entry(model_id)
        target = model_alias_target(name=model_id)
        if target is not None:
            entry["easel_serves_with"] = target
        return Response(entry)
