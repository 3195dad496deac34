"""Offset paging for the staff console's lists: `limit` (1-100, default 50) and `offset`."""

from django.db.models import QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class PageInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    offset = serializers.IntegerField(min_value=0, default=0)


def page(*, request: Request, queryset: QuerySet, serializer: type[serializers.Serializer]) -> dict:
    """One page of `queryset`, serialised, with `has_more` so the console knows to ask again."""
    params = PageInputSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    limit, offset = params.validated_data["limit"], params.validated_data["offset"]
    rows = list(queryset[offset : offset + limit + 1])
    return {
        "data": serializer(rows[:limit], many=True).data,
        "limit": limit,
        "offset": offset,
        "has_more": len(rows) > limit,
    }


def page_schema(name: str, serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """The OpenAPI shape of `page()`'s answer."""
    return inline_serializer(
        name=name,
        fields={
            "data": serializer(many=True),
            "limit": serializers.IntegerField(),
            "offset": serializers.IntegerField(),
            "has_more": serializers.BooleanField(),
        },
    )
