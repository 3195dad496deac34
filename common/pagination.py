"""Cursor pagination for the native API's lists: stable while new rows arrive, O(1) per page.

A cursor is the (created_at, id) of the last row of a page, opaque to the client (base64). The
next page is the rows strictly after it in (created_at DESC, id DESC) order, so a row created
while the client pages never shifts the pages (the flaw of offset pagination).
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from common.errors import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, allow_blank=True, default="")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def paginate(queryset: QuerySet, *, limit: int, cursor: str) -> Page:
    queryset = queryset.order_by("-created_at", "-pk")
    if cursor:
        created_at, pk = _decode(cursor)
        queryset = queryset.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
        )
    try:
        rows = list(queryset[: limit + 1])
    except (ValueError, ValidationError):  # a tampered cursor with an id of the wrong shape
        raise InvalidRequest("The cursor is not one this API gave out.", param="cursor") from None
    items = rows[:limit]
    next_cursor = _encode(items[-1]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def page_body(page: Page, *, serializer: type[serializers.Serializer]) -> dict[str, Any]:
    """A list's answer: the page's rows, serialised, and the cursor of the next page."""
    return {
        "data": serializer(page.items, many=True).data,
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    }


def page_schema(name: str, serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """The OpenAPI shape of `page_body()`'s answer."""
    return inline_serializer(
        name,
        {
            "data": serializer(many=True),
            "has_more": serializers.BooleanField(),
            "next_cursor": serializers.CharField(allow_null=True),
        },
    )


def _encode(row: Any) -> str:
    raw = json.dumps([row.created_at.isoformat(), str(row.pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, pk = json.loads(raw)
        return datetime.fromisoformat(created_at), str(pk)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidRequest("The cursor is not one this API gave out.", param="cursor") from None
