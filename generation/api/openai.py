"""The OpenAI-compatible Images API (`/v1/`): DALL-E 2's parameters, limits, answers and errors.

`POST /v1/images/generations` (JSON), `/v1/images/edits` and `/v1/images/variations`
(multipart) answer when the images are ready, as OpenAI's do. The wait happens on the event
loop (generation.api.events): a held request costs a coroutine and a queue, not a thread.
"""

import base64
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import ANY_KEY, GENERATE_IMAGES, authenticated_user
from common.errors import ApiError, ContentPolicyViolation, InvalidRequest, NotFound
from generation.api.asyncviews import AsyncApiView, request_thread_release, run_sync
from generation.api.events import generation_wait_final
from generation.inference.registry import default_model_id, model_ids
from generation.models import Generation, Image
from generation.services.admission import Admitted, Idempotency, admission_admit
from generation.services.parameters import (
    OPENAI_MODEL_ALIASES,
    SIZES,
    json_types_check,
    n_check,
    prompt_check,
)
from generation.services.storage import signed_url, storage_read
from generation.services.uploads import upload_bytes
from moderation.selectors.customer import decision_block_for_generation
from moderation.verdicts import decision_reference

SIZE_CHOICES = [f"{side}x{side}" for side in SIZES]
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


class ImageParamsSerializer(serializers.Serializer):
    """What all three operations share, validated with OpenAI's words."""

    n = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="1 to 10; default 1."
    )
    size = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="256x256, 512x512 or 1024x1024; default 1024x1024.",
    )
    response_format = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="url (valid for an hour) or b64_json; default url.",
    )
    user = serializers.CharField(
        required=False, allow_blank=True, max_length=256, help_text="Your end user's id."
    )
    model = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="dall-e-2 or a GET /v1/models id.",
    )

    def to_internal_value(self, data: Any) -> Any:
        json_types_check(data)  # {"prompt": 123} is a 400 on prompt, as OpenAI answers
        return super().to_internal_value(data)

    def validate_n(self, value: int | None) -> int:
        return 1 if value is None else n_check(value)

    def validate_size(self, value: str | None) -> int:
        if value is None:
            return 1024
        if value not in SIZE_CHOICES:
            raise _enum_error(value, SIZE_CHOICES, "size")
        return int(value.partition("x")[0])

    def validate_response_format(self, value: str | None) -> str:
        if value is None:
            return "url"
        if value not in RESPONSE_FORMATS:
            raise _enum_error(value, RESPONSE_FORMATS, "response_format")
        return value

    def validate_model(self, value: str | None) -> str | None:
        if not value or value in OPENAI_MODEL_ALIASES:
            return None
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
    image = serializers.FileField(required=False, help_text="A square PNG under 4 MB.")
    face_consent = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Easel: I have the consent of the real person whose face is in the image.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("image") is None:
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
    b64_json = serializers.CharField(required=False, help_text="The PNG, base64-encoded.")


class ImagesResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    data = ImageDataSerializer(many=True)  # type: ignore[assignment]


# --- Answer ------------------------------------------------------------------------------------


def openai_images_body(*, generation_id: Any, response_format: str) -> dict[str, Any]:
    """The finished job as OpenAI answers it, or the error it would give. Sync (ORM, storage)."""
    generation = Generation.objects.get(pk=generation_id)
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
    images = Image.objects.filter(
        generation=generation, status=Image.Status.DELIVERED, deleted_at__isnull=True
    ).exclude(storage_key="")
    return {
        "created": int(generation.created_at.timestamp()),
        "data": [_image_entry(image=image, response_format=response_format) for image in images],
    }


def _image_entry(*, image: Image, response_format: str) -> dict[str, str]:
    if response_format == "b64_json":
        return {"b64_json": base64.b64encode(storage_read(key=image.storage_key)).decode()}
    return {"url": signed_url(key=image.storage_key, expires_in=OPENAI_URL_EXPIRES)}


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


def _idempotency_key(request: Request) -> str | None:
    return request.headers.get("Idempotency-Key")


def _start(
    request: Request,
    *,
    operation: str,
    params: dict[str, Any],
    files: dict[str, Any],
    face_consent: bool,
    response_format: str,
):  # type: ignore[no-untyped-def]
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    key = _idempotency_key(request)
    return run_sync(
        admission_admit,
        user=authenticated_user(request),
        api_key=api_key,
        source=Generation.Source.OPENAI_API,
        operation=operation,
        face_consent=face_consent,
        image_bytes=upload_bytes(files.get("image")),
        mask_bytes=upload_bytes(files.get("mask")),
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


def _create_params(data: dict[str, Any]) -> dict[str, Any]:
    params = {"n": data["n"], "size": data["size"], "end_user": data.get("user", "")}
    if data.get("model"):
        params["model"] = data["model"]
    if data.get("prompt"):
        params["prompt"] = data["prompt"]
    return params


async def _create_images(
    request: Request,
    *,
    serializer_class: type[ImageParamsSerializer],
    operation: str,
    file_fields: tuple[str, ...],
) -> Response:
    """What the three operations do alike: validate, start (or replay) the job, answer when ready.

    `file_fields` name the uploads the operation takes; their validation is the serializer's.
    """
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    started = await _start(
        request,
        operation=operation,
        params=_create_params(data),
        files={name: data.get(name) for name in file_fields},
        # Only edits and variations take an image, so only they carry the face_consent field.
        face_consent=data.get("face_consent", False),
        response_format=data["response_format"],
    )
    return await _answer(request=request, started=started, response_format=data["response_format"])


class ImagesGenerationsApi(AsyncApiView):
    parser_classes = [JSONParser]
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="openai_images_generations",
        summary="Create images from a prompt (OpenAI-compatible); answers when they are ready",
        tags=["openai"],
        request=GenerationsInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: ImagesResponseSerializer},
    )
    async def post(self, request: Request) -> Response:
        return await _create_images(
            request,
            serializer_class=GenerationsInputSerializer,
            operation=Generation.Operation.GENERATE,
            file_fields=(),
        )


class ImagesEditsApi(AsyncApiView):
    parser_classes = [MultiPartParser]
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="openai_images_edits",
        summary="Repaint the transparent area of an image (OpenAI-compatible)",
        tags=["openai"],
        request={"multipart/form-data": EditsInputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: ImagesResponseSerializer},
    )
    async def post(self, request: Request) -> Response:
        return await _create_images(
            request,
            serializer_class=EditsInputSerializer,
            operation=Generation.Operation.EDIT,
            file_fields=("image", "mask"),
        )


class ImagesVariationsApi(AsyncApiView):
    parser_classes = [MultiPartParser]
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="openai_images_variations",
        summary="Make variations of an image (OpenAI-compatible)",
        tags=["openai"],
        request={"multipart/form-data": VariationsInputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: ImagesResponseSerializer},
    )
    async def post(self, request: Request) -> Response:
        return await _create_images(
            request,
            serializer_class=VariationsInputSerializer,
            operation=Generation.Operation.VARIATION,
            file_fields=("image",),
        )


# --- Models ------------------------------------------------------------------------------------


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


def _model_entry(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "easel"}


def _served_model_ids() -> list[str]:
    # dall-e-2 is listed because clients written for OpenAI name it; it means the default model.
    return [*model_ids(), *sorted(OPENAI_MODEL_ALIASES)]


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
        if model_id in OPENAI_MODEL_ALIASES:
            entry["easel_serves_with"] = default_model_id()
        return Response(entry)
