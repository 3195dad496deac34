"""Likeness protection in the native API: a person enrols their own face, lists and withdraws
their enrolments; staff review enrolments that look like someone else and enrol public figures.

Under /api/v1/: `likeness/enrolments` (GET, POST), `likeness/enrolments/<id>` (DELETE),
`staff/likeness/enrolments` (GET), `staff/likeness/enrolments/<id>/review` (POST) and
`staff/figures/<id>/likeness` (POST, with `photo_source`). Photos are multipart files named
`photos`; they are read into memory, embedded and dropped, never stored.
"""

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from PIL import Image, UnidentifiedImageError
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import READ_ACCOUNT, SESSION_ONLY
from common.errors import InvalidRequest
from moderation.api.staff import StaffApi
from moderation.models import LikenessEnrolment
from moderation.selectors.enrolments import enrolments_for_user, enrolments_to_review
from moderation.services.figures import ReferencePhoto
from moderation.services.likeness import (
    CONSENT_TEXT,
    MAX_PHOTOS,
    likeness_enrol,
    likeness_enrol_public_figure,
    likeness_review,
    likeness_withdraw,
)

MAX_PHOTO_BYTES = 10 * 1024 * 1024


@extend_schema_serializer(component_name="LikenessEnrolment")
class EnrolmentOutputSerializer(serializers.ModelSerializer):
    photos = serializers.SerializerMethodField()

    class Meta:
        model = LikenessEnrolment
        fields = ["id", "kind", "state", "photos", "consent_text", "consent_at", "created_at"]

    def get_photos(self, enrolment: LikenessEnrolment) -> int:
        """How many photos' embeddings it holds (0 once withdrawn)."""
        count = getattr(enrolment, "face_count", None)
        return int(count) if count is not None else enrolment.faces.count()


def photos_from(request: Request) -> list[ReferencePhoto]:
    """The uploaded `photos` as images, with a clear error for a file that is not one."""
    uploads: list[UploadedFile] = request.FILES.getlist("photos")
    if not uploads:
        raise InvalidRequest(
            "Attach photos of the face as multipart files named 'photos'.", param="photos"
        )
    if len(uploads) > MAX_PHOTOS:
        raise InvalidRequest(f"Send at most {MAX_PHOTOS} photos.", param="photos")
    photos = []
    for upload in uploads:
        if upload.size is not None and upload.size > MAX_PHOTO_BYTES:
            raise InvalidRequest(f"{upload.name}: larger than 10 MB.", param="photos")
        try:
            with Image.open(upload) as image:
                image.load()
                photos.append(
                    ReferencePhoto(image=image.convert("RGB"), source_name=upload.name or "")
                )
        except (UnidentifiedImageError, OSError):
            raise InvalidRequest(
                f"{upload.name}: not an image file Easel can read (PNG or JPEG).", param="photos"
            ) from None
    return photos


class LikenessEnrolmentListApi(APIView):
    permission_classes = READ_ACCOUNT

    @extend_schema(
        operation_id="likeness_enrolments_list",
        summary="Your likeness enrolments",
        responses=EnrolmentOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        enrolments = enrolments_for_user(user_id=request.user.pk)
        return Response({"data": EnrolmentOutputSerializer(enrolments, many=True).data})


class LikenessEnrolApi(APIView):
    """Multipart: `photos` (1-5 image files, each showing only your face) and `consent=true`,
    which agrees to the statement returned in `consent_text` (and shown on the web page)."""

    # Consent to keep a face's embedding is the person's own act, not a script's.
    permission_classes = SESSION_ONLY

    class InputSerializer(serializers.Serializer):
        # Absent is "no": the service then says why consent is needed.
        consent = serializers.BooleanField(default=False)

    @extend_schema_serializer(component_name="LikenessEnrolInput")
    class SchemaSerializer(InputSerializer):
        # Documented here; read by `photos_from`, which names the file that is not an image.
        photos = serializers.ListField(child=serializers.ImageField())

    @extend_schema(
        operation_id="likeness_enrolments_create",
        summary="Protect your own face",
        description=f"Consent statement: {CONSENT_TEXT}",
        request={"multipart/form-data": SchemaSerializer},
        responses={201: EnrolmentOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        photos = photos_from(request)
        enrolment = likeness_enrol(
            user=request.user, photos=photos, consent=body.validated_data["consent"]
        )
        return Response(EnrolmentOutputSerializer(enrolment).data, status=status.HTTP_201_CREATED)


class LikenessWithdrawApi(APIView):
    # A leaked key must not take a person's likeness protection away.
    permission_classes = SESSION_ONLY

    @extend_schema(
        operation_id="likeness_enrolments_withdraw",
        summary="Withdraw an enrolment (its face embeddings are deleted)",
        responses=EnrolmentOutputSerializer,
    )
    def delete(self, request: Request, enrolment_id: int) -> Response:
        assert isinstance(request.user, User)
        enrolment = likeness_withdraw(user=request.user, enrolment_id=enrolment_id)
        return Response(EnrolmentOutputSerializer(enrolment).data)


@extend_schema_serializer(component_name="StaffLikenessEnrolment")
class StaffEnrolmentOutputSerializer(EnrolmentOutputSerializer):
    class Meta(EnrolmentOutputSerializer.Meta):
        fields = [
            *EnrolmentOutputSerializer.Meta.fields,
            "user_id",
            "figure_id",
            "needs_review",
            "review_reason",
            "reviewed_by_id",
            "reviewed_at",
        ]


class StaffEnrolmentReviewListApi(StaffApi):
    @extend_schema(
        operation_id="staff_likeness_enrolments_to_review",
        summary="Likeness enrolments that look like someone else",
        responses=StaffEnrolmentOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"data": StaffEnrolmentOutputSerializer(enrolments_to_review(), many=True).data}
        )


class StaffEnrolmentReviewApi(StaffApi):
    @extend_schema_serializer(component_name="StaffLikenessReviewInput")
    class InputSerializer(serializers.Serializer):
        keep = serializers.BooleanField()
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        operation_id="staff_likeness_enrolments_review",
        summary="Keep or remove an enrolment marked for review",
        request=InputSerializer,
        responses=StaffEnrolmentOutputSerializer,
    )
    def post(self, request: Request, enrolment_id: int) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        enrolment = likeness_review(
            actor=self.staff(request), enrolment_id=enrolment_id, **body.validated_data
        )
        return Response(StaffEnrolmentOutputSerializer(enrolment).data)


class StaffFigureLikenessApi(StaffApi):
    """Multipart: `photos` (1-5 files, each showing only the figure's face) and `source`."""

    class InputSerializer(serializers.Serializer):
        # Where the photos came from; blank is refused by the service with the reason.
        photo_source = serializers.CharField(
            max_length=500, default="", allow_blank=True, source="source"
        )

    @extend_schema_serializer(component_name="StaffFigureLikenessInput")
    class SchemaSerializer(InputSerializer):
        photos = serializers.ListField(child=serializers.ImageField())

    @extend_schema(
        operation_id="staff_figures_likeness_enrol",
        summary="Enrol a public figure's face, recording where the photos came from",
        request={"multipart/form-data": SchemaSerializer},
        responses={201: StaffEnrolmentOutputSerializer},
    )
    def post(self, request: Request, figure_id: int) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        enrolment = likeness_enrol_public_figure(
            actor=self.staff(request),
            figure_id=figure_id,
            photos=photos_from(request),
            source=body.validated_data["source"],
        )
        return Response(
            StaffEnrolmentOutputSerializer(enrolment).data, status=status.HTTP_201_CREATED
        )
