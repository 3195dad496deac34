"""Native API: sharing one image at /s/<slug>, and collections of the user's own images.

Thin views: the rules (who may share what, Explore on the Free plan, unique collection names)
live in generation/services/sharing.py and collections.py, the same services the web app uses.
"""

import uuid

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import GENERATE_IMAGES, READ_IMAGES, authenticated_user
from common.site import site_url
from generation.models import Collection, Share
from generation.selectors.sharing import (
    collection_get_for_user,
    collection_images,
    collections_for_user,
)
from generation.services.collections import (
    collection_add_image,
    collection_create,
    collection_delete,
    collection_remove_image,
    collection_update,
)
from generation.services.sharing import share_disable, share_enable

# --- Sharing -----------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Share")
class ShareOutputSerializer(serializers.ModelSerializer):
    image_id = serializers.UUIDField()
    url = serializers.SerializerMethodField(help_text="The public page: SITE_URL/s/<slug>.")

    class Meta:
        model = Share
        fields = ["image_id", "slug", "url", "in_explore", "is_active", "created_at"]

    def get_url(self, share: Share) -> str:
        return site_url(f"/s/{share.slug}")


class ImageShareCreateApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema_serializer(component_name="ShareCreateRequest")
    class InputSerializer(serializers.Serializer):
        in_explore = serializers.BooleanField(
            default=True, help_text="List it in Explore. Only paid plans may say false."
        )

    @extend_schema(
        operation_id="images_share",
        summary="Share one of your images at a public link (idempotent: same link again)",
        request=InputSerializer,
        responses=ShareOutputSerializer,
    )
    def post(self, request: Request, image_id: uuid.UUID) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        share = share_enable(
            user=authenticated_user(request),
            image_id=image_id,
            in_explore=serializer.validated_data["in_explore"],
        )
        return Response(ShareOutputSerializer(share).data)


class ImageShareDeleteApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="images_unshare",
        summary="Stop sharing an image: its link answers 404 (idempotent)",
        responses={204: None},
    )
    def delete(self, request: Request, image_id: uuid.UUID) -> Response:
        share_disable(user=authenticated_user(request), image_id=image_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Collections -------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Collection")
class CollectionOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Its page: SITE_URL/c/<slug>/.")

    class Meta:
        model = Collection
        fields = ["id", "name", "slug", "is_public", "url", "created_at"]

    def get_url(self, collection: Collection) -> str:
        return site_url(f"/c/{collection.slug}/")


@extend_schema_serializer(component_name="CollectionDetail")
class CollectionDetailOutputSerializer(CollectionOutputSerializer):
    image_ids = serializers.SerializerMethodField(help_text="Its live images, newest added first.")

    class Meta(CollectionOutputSerializer.Meta):
        fields = [*CollectionOutputSerializer.Meta.fields, "image_ids"]

    def get_image_ids(self, collection: Collection) -> list[str]:
        images = collection_images(collection=collection, viewer=collection.user)
        return [str(pk) for pk in images.values_list("pk", flat=True)]


def _detail(collection: Collection) -> Response:
    return Response(CollectionDetailOutputSerializer(collection).data)


class CollectionListApi(APIView):
    permission_classes = READ_IMAGES

    @extend_schema(
        operation_id="collections_list",
        summary="List your collections, by name",
        responses=inline_serializer(
            "CollectionList", {"data": CollectionOutputSerializer(many=True)}
        ),
    )
    def get(self, request: Request) -> Response:
        collections = collections_for_user(user=authenticated_user(request))
        return Response({"data": CollectionOutputSerializer(collections, many=True).data})


class CollectionCreateApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema_serializer(component_name="CollectionCreateRequest")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, help_text="1 to 100 characters, unique.")
        is_public = serializers.BooleanField(default=False)

    @extend_schema(
        operation_id="collections_create",
        summary="Create a collection",
        request=InputSerializer,
        responses={201: CollectionDetailOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        collection = collection_create(
            user=authenticated_user(request), **serializer.validated_data
        )
        return Response(
            CollectionDetailOutputSerializer(collection).data, status=status.HTTP_201_CREATED
        )


class CollectionDetailApi(APIView):
    permission_classes = READ_IMAGES

    @extend_schema(
        operation_id="collections_retrieve",
        summary="One of your collections, with its image ids",
        responses=CollectionDetailOutputSerializer,
    )
    def get(self, request: Request, collection_id: int) -> Response:
        return _detail(
            collection_get_for_user(user=authenticated_user(request), collection_id=collection_id)
        )


class CollectionUpdateApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema_serializer(component_name="CollectionUpdateRequest")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        is_public = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="collections_update",
        summary="Rename a collection or make it public or private",
        request=InputSerializer,
        responses=CollectionDetailOutputSerializer,
    )
    def patch(self, request: Request, collection_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        collection = collection_update(
            user=authenticated_user(request),
            collection_id=collection_id,
            **serializer.validated_data,
        )
        return _detail(collection)


class CollectionDeleteApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="collections_delete",
        summary="Delete a collection (never the images in it)",
        responses={204: None},
    )
    def delete(self, request: Request, collection_id: int) -> Response:
        collection_delete(user=authenticated_user(request), collection_id=collection_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CollectionImageAddApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="collections_add_image",
        summary="Add one of your images to a collection (idempotent)",
        request=None,
        responses=CollectionDetailOutputSerializer,
    )
    def post(self, request: Request, collection_id: int, image_id: uuid.UUID) -> Response:
        collection_add_image(
            user=authenticated_user(request), collection_id=collection_id, image_id=image_id
        )
        return _detail(
            collection_get_for_user(user=authenticated_user(request), collection_id=collection_id)
        )


class CollectionImageRemoveApi(APIView):
    permission_classes = GENERATE_IMAGES

    @extend_schema(
        operation_id="collections_remove_image",
        summary="Take an image out of a collection (idempotent; the image stays)",
        responses={204: None},
    )
    def delete(self, request: Request, collection_id: int, image_id: uuid.UUID) -> Response:
        collection_remove_image(
            user=authenticated_user(request), collection_id=collection_id, image_id=image_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
