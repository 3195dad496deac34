"""The native API (`/api/v1/`): asynchronous jobs, their progress, images, preflight, provenance.

`POST /api/v1/generations` answers 202 at once with the job (queue position and estimated start
included); the client polls `GET /api/v1/generations/<id>`, follows its Server-Sent Events
stream, or receives a webhook. One view per operation (docs/architecture.md): validate, call
one service, serialise.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import GENERATE_IMAGES, READ_IMAGES, authenticated_user, request_scopes
from common.errors import NotFound
from common.pagination import PageQuerySerializer, page_body, page_schema, paginate
from generation.api.asyncviews import AsyncApiView, request_thread_release, run_sync
from generation.api.events import generation_progress
from generation.api.openai import IDEMPOTENCY_HEADER
from generation.models import Generation, Image
from generation.selectors.jobs import (
    generation_get_for_user,
    image_signed_url,
    images_for_user,
    progress_of,
    queue_estimate,
)
from generation.services import image_options
from generation.services.admission import Idempotency, admission_admit, admission_preflight
from generation.services.generations import generation_cancel
from generation.services.images import image_delete
from generation.services.parameters import json_types_check
from generation.services.provenance import provenance_check
from generation.services.uploads import MAX_UPLOAD_BYTES, upload_bytes

SSE_HEARTBEAT_SECONDS = 15.0


# --- Serializers -------------------------------------------------------------------------------


class ImageOutputSerializer(serializers.ModelSerializer):
    generation_id = serializers.UUIDField()
    prompt = serializers.CharField(source="generation.prompt")
    url = serializers.SerializerMethodField(help_text="Signed; expires after an hour.")

    class Meta:
        model = Image
        fields = [
            "id",
            "generation_id",
            "index",
            "seed",
            "width",
            "height",
            "prompt",
            "under_review",
            "created_at",
            "url",
        ]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, image: Image) -> str | None:
        return image_signed_url(image=image)


class GenerationImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Signed; expires after an hour.")

    class Meta:
        model = Image
        fields = ["id", "index", "seed", "width", "height", "url"]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, image: Image) -> str | None:
        return image_signed_url(image=image)


class GenerationOutputSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    queue = serializers.SerializerMethodField(
        help_text="Position and estimated start while queued."
    )
    images = serializers.SerializerMethodField()

    class Meta:
        model = Generation
        fields = [
            "id",
            "object",
            "status",
            "status_message",
            "operation",
            "model",
            "prompt",
            "n",
            "size",
            "quality",
            "output_format",
            "output_compression",
            "background",
            "moderation",
            "input_fidelity",
            "input_tokens",
            "seed",
            "steps",
            "progress",
            "queue",
            "credits_reserved",
            "credits_captured",
            "withheld_count",
            "created_at",
            "started_at",
            "finished_at",
            "images",
        ]

    def get_object(self, generation: Generation) -> str:
        return "generation"

    def get_size(self, generation: Generation) -> str:
        return generation.size_label

    @extend_schema_field(
        inline_serializer(
            "Progress", {"step": serializers.IntegerField(), "total": serializers.IntegerField()}
        )
    )
    def get_progress(self, generation: Generation) -> dict[str, int]:
        return progress_of(generation=generation)

    @extend_schema_field(
        inline_serializer(
            "QueueEstimate",
            {
                "position": serializers.IntegerField(),
                "estimated_start_seconds": serializers.IntegerField(allow_null=True),
            },
            allow_null=True,
        )
    )
    def get_queue(self, generation: Generation) -> dict[str, Any] | None:
        if generation.status != Generation.Status.QUEUED:
            return None
        return queue_estimate(generation=generation)

    @extend_schema_field(GenerationImageSerializer(many=True))
    def get_images(self, generation: Generation) -> Any:
        delivered = generation.images.filter(
            status=Image.Status.DELIVERED, deleted_at__isnull=True
        ).exclude(storage_key="")
        return GenerationImageSerializer(delivered, many=True).data


class GenerationInputSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        json_types_check(data)  # strict JSON types, as the OpenAI API answers them
        return super().to_internal_value(data)

    operation = serializers.ChoiceField(choices=Generation.Operation.values, default="generate")
    prompt = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, default=""
    )
    n = serializers.IntegerField(required=False, default=1, help_text="1 to 10.")
    size = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="auto (default: the model's native size within your plan) or WIDTHxHEIGHT in "
        "multiples of 64 within the model's and your plan's pixels, aspect at most 3:1.",
    )
    quality = serializers.ChoiceField(
        choices=image_options.QUALITIES,
        required=False,
        allow_null=True,
        default=None,
        help_text="Steps per model (docs/api.md); default auto.",
    )
    output_format = serializers.ChoiceField(
        choices=image_options.OUTPUT_FORMATS, required=False, allow_null=True, default=None
    )
    output_compression = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=100,
        help_text="jpeg and webp: the encoder's quality, 100 the least lossy (default).",
    )
    background = serializers.ChoiceField(
        choices=image_options.BACKGROUNDS,
        required=False,
        allow_null=True,
        default=None,
        help_text="transparent needs png or webp.",
    )
    moderation = serializers.ChoiceField(
        choices=image_options.MODERATION_LEVELS, required=False, allow_null=True, default=None
    )
    input_fidelity = serializers.ChoiceField(
        choices=image_options.INPUT_FIDELITIES,
        required=False,
        allow_null=True,
        default=None,
        help_text="Variations: how closely the result keeps the input; default low.",
    )
    model = serializers.CharField(required=False, allow_null=True, default=None)
    seed = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Image i uses seed + i."
    )
    user = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=256,
        default="",
        help_text="Your end user's id.",
    )
    face_consent = serializers.BooleanField(required=False, default=False)
    image = serializers.FileField(
        required=False,
        help_text="Edits and variations: a PNG, JPEG or WebP under 20 MB, any shape up to 3:1.",
    )
    mask = serializers.FileField(required=False, help_text="Edits: a PNG of the image's size.")
    references = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="Edits and variations: up to 15 reference images (PNG, JPEG or WebP, each as "
        "`image`) that steer the result, for models with an IP-Adapter (`GET /v1/models`: "
        "`easel_reference_images`); others answer 400 references_not_supported.",
    )


IMAGE_OPTION_FIELDS = (
    "size",
    "quality",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "input_fidelity",
)


def _create_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    """The admission's keyword arguments from the validated body (uploads read as bytes)."""
    kwargs: dict[str, Any] = {
        "operation": data["operation"],
        "prompt": data["prompt"],
        "n": data["n"],
        "model": data["model"],
        "seed": data["seed"],
        "end_user": data["user"],
        "face_consent": data["face_consent"],
        "image_bytes": upload_bytes(data.get("image")),
        "mask_bytes": upload_bytes(data.get("mask")),
        "reference_bytes": tuple(upload_bytes(upload) for upload in data["references"]),
        **{name: data[name] for name in IMAGE_OPTION_FIELDS},
    }
    return kwargs


# --- Jobs --------------------------------------------------------------------------------------


class GenerationCreateApi(APIView):
    parser_classes = [JSONParser, MultiPartParser]
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="generations_create",
        summary="Start a generation; answers 202 with the queued job",
        request={
            "application/json": GenerationInputSerializer,
            "multipart/form-data": GenerationInputSerializer,
        },
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: GenerationOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = GenerationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        started = admission_admit(
            user=authenticated_user(request),
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            source=Generation.Source.NATIVE_API,
            idempotency=None
            if key is None
            else Idempotency(key=key, method="POST", path=request.path, accepted_status=202),
            **_create_kwargs(serializer.validated_data),
        )
        headers = dict(started.headers)
        if started.replayed:
            headers["idempotent-replayed"] = "true"
        started.generation.refresh_from_db()
        return Response(
            GenerationOutputSerializer(started.generation).data,
            status=status.HTTP_202_ACCEPTED,
            headers={**headers, "Location": f"/api/v1/generations/{started.generation.id}"},
        )


class GenerationPreflightApi(APIView):
    parser_classes = [JSONParser, MultiPartParser]
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="generations_preflight",
        summary="What a generation would cost, whether the policy allows its prompt, how long "
        "it would wait: free, charges and stores nothing",
        request={
            "application/json": GenerationInputSerializer,
            "multipart/form-data": GenerationInputSerializer,
        },
        responses=inline_serializer(
            "Preflight",
            {
                "credits": serializers.IntegerField(),
                "size": serializers.CharField(help_text="WIDTHxHEIGHT it would render."),
                "pixels": serializers.IntegerField(help_text="Per image: what the price follows."),
                "steps": serializers.IntegerField(help_text="What the quality means here."),
                "balance": serializers.IntegerField(),
                "affordable": serializers.BooleanField(),
                "unaffordable_reason": serializers.CharField(
                    help_text="Why not, when `affordable` is false: the balance, a frozen "
                    "account, debt, the key's monthly cap or a suspension."
                ),
                "policy": inline_serializer(
                    "PreflightPolicy",
                    {
                        "decision": serializers.CharField(),
                        "categories": serializers.ListField(child=serializers.CharField()),
                        "message": serializers.CharField(),
                    },
                ),
                "estimated_wait_seconds": serializers.IntegerField(allow_null=True),
                "queue_position": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = GenerationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kwargs = _create_kwargs(serializer.validated_data)
        del kwargs["seed"]  # changes nothing a preflight answers
        preflight = admission_preflight(
            user=authenticated_user(request),
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            **kwargs,
        )
        return Response(preflight.body, headers=preflight.headers)


class GenerationDetailApi(APIView):
    permission_classes = READ_IMAGES

    @extend_schema(
        operation_id="generations_retrieve",
        summary="A generation (poll it)",
        responses=GenerationOutputSerializer,
    )
    def get(self, request: Request, generation_id: str) -> Response:
        generation = generation_get_for_user(
            user=authenticated_user(request), generation_id=generation_id
        )
        return Response(GenerationOutputSerializer(generation).data)


class GenerationCancelApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="generations_cancel",
        request=None,
        summary="Cancel: a queued job stops at once, a running one at its next step",
        responses=GenerationOutputSerializer,
    )
    def post(self, request: Request, generation_id: str) -> Response:
        generation = generation_get_for_user(
            user=authenticated_user(request), generation_id=generation_id
        )
        generation = generation_cancel(generation=generation)
        return Response(GenerationOutputSerializer(generation).data)


class EventStreamNegotiation(DefaultContentNegotiation):
    """An event stream's client sends `Accept: text/event-stream` (a browser's EventSource
    always does), a type no DRF renderer names since the view streams it itself: DRF's own
    negotiation would answer 406. The default renderer instead, for the view's errors."""

    def select_renderer(  # type: ignore[override]
        self, request: Request, renderers: list, format_suffix: str | None = None
    ) -> tuple:
        return renderers[0], renderers[0].media_type


class GenerationEventsApi(AsyncApiView):
    permission_classes = READ_IMAGES
    content_negotiation_class = EventStreamNegotiation

    @extend_schema(
        operation_id="generations_events",
        summary="Server-Sent Events: the job's progress until it ends",
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="`event: progress` lines with JSON {status, step, total}; the last "
                "one is final. Comments every 15 s keep the connection open.",
            )
        },
    )
    async def get(self, request: Request, generation_id: str) -> StreamingHttpResponse:
        generation = await run_sync(
            generation_get_for_user, user=authenticated_user(request), generation_id=generation_id
        )
        response = StreamingHttpResponse(_sse(generation.id), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must pass each event on at once
        return response


async def _sse(generation_id: Any) -> AsyncIterator[bytes]:
    request_thread_release()
    progress = generation_progress(
        generation_id=generation_id,
        timeout=settings.EASEL_API_WAIT_TIMEOUT,
        heartbeat=SSE_HEARTBEAT_SECONDS,
    )
    try:
        async for state in progress:
            if state is None:
                yield b": keep-alive\n\n"
                continue
            yield f"event: progress\ndata: {json.dumps(state)}\n\n".encode()
    finally:
        await progress.aclose()


# --- Images ------------------------------------------------------------------------------------


class ImageListQuerySerializer(PageQuerySerializer):
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    prompt = serializers.CharField(
        required=False, allow_blank=True, help_text="Text the prompt contains."
    )


class ImageListApi(APIView):
    permission_classes = READ_IMAGES

    @extend_schema(
        operation_id="images_list",
        summary="Your images, newest first (cursor pagination, filter by date and prompt text)",
        parameters=[ImageListQuerySerializer],
        responses=page_schema("ImagePage", ImageOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        query = ImageListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        images = images_for_user(
            user=authenticated_user(request),
            created_after=filters.get("created_after"),
            created_before=filters.get("created_before"),
            prompt_contains=filters.get("prompt", ""),
        )
        page = paginate(images, limit=filters["limit"], cursor=filters["cursor"])
        return Response(page_body(page, serializer=ImageOutputSerializer))


def _image_for_user(request: Request, image_id: str) -> Image:
    image = images_for_user(user=authenticated_user(request)).filter(pk=image_id).first()
    if image is None:
        raise NotFound(f"No image with id '{image_id}'.", param="id")
    return image


class ImageDetailApi(APIView):
    permission_classes = READ_IMAGES

    @extend_schema(
        operation_id="images_retrieve",
        summary="One of your images",
        responses=ImageOutputSerializer,
    )
    def get(self, request: Request, image_id: str) -> Response:
        return Response(ImageOutputSerializer(_image_for_user(request, image_id)).data)


class ImageDeleteApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="images_delete",
        summary="Delete one of your images (its file goes too)",
        responses={204: None},
    )
    def delete(self, request: Request, image_id: str) -> Response:
        image_delete(image=_image_for_user(request, image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Provenance --------------------------------------------------------------------------------


class ProvenanceCheckApi(APIView):
    """Open to anyone, signed in or not, with any key (rate-limited per account, else per
    address). Which image of the caller's it is needs images.read: a key without that scope
    gets the answer anyone gets."""

    parser_classes = [MultiPartParser]
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ProvenanceCheckRequest")
    class InputSerializer(serializers.Serializer):
        image = serializers.FileField(help_text="PNG, JPEG or WebP under 4 MB.")

    class OutputSerializer(serializers.Serializer):
        made_by_easel = serializers.BooleanField()
        found_by = serializers.ChoiceField(
            choices=["content_credentials", "watermark"],
            allow_null=True,
            help_text="content_credentials: a C2PA manifest signed by Easel; watermark: the "
            "invisible watermark (survives re-encoding, resizing, crops).",
        )
        created_at = serializers.DateTimeField(allow_null=True)
        model = serializers.CharField(allow_null=True)
        operation = serializers.CharField(allow_null=True)
        content_credentials = serializers.ChoiceField(
            choices=["trusted", "valid", "invalid"],
            allow_null=True,
            help_text="The state of any C2PA manifest in the file (null: none).",
        )
        content_credentials_signer = serializers.CharField(allow_null=True)
        confidence = serializers.FloatField(help_text="The watermark's correlation peak.")
        image_id = serializers.UUIDField(allow_null=True, help_text="Only for the owner.")
        generation_id = serializers.UUIDField(allow_null=True, help_text="Only for the owner.")
        metadata = serializers.DictField(
            child=serializers.CharField(), help_text="What the file's text fields claim."
        )

    @extend_schema(
        operation_id="provenance_check",
        summary="Did Easel make this image? (C2PA content credentials, else the watermark)",
        request={"multipart/form-data": InputSerializer},
        responses=OutputSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = provenance_check(
            image_bytes=serializer.validated_data["image"].read(MAX_UPLOAD_BYTES),
            asker=authenticated_user(request)
            if ApiKey.Scope.READ in request_scopes(request)
            else None,
            address=request.META.get("REMOTE_ADDR", ""),
        )
        credentials, own = result.credentials, result.own_image
        return Response(
            self.OutputSerializer(
                {
                    "made_by_easel": result.made_by_easel,
                    "found_by": result.found_by,
                    "created_at": result.created_at,
                    "model": result.model,
                    "operation": result.operation,
                    "content_credentials": credentials.state if credentials else None,
                    "content_credentials_signer": credentials.signer if credentials else None,
                    "confidence": result.watermark_confidence,
                    "image_id": own.pk if own else None,
                    "generation_id": own.generation_id if own else None,
                    "metadata": result.metadata,
                }
            ).data
        )
