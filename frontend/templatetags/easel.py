"""Small template helpers for Easel's pages: navigation state and number formatting."""

from django import template
from django.urls import reverse
from django.utils.html import format_html

from billing.selectors import credits_text

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_link(context: template.Context, url_name: str, label: str, exact: bool = False) -> str:
    """A navigation link marked `aria-current="page"` when the page lives under it."""
    url = reverse(url_name)
    path = context["request"].path
    current = path == url if exact else path.startswith(url)
    if current:
        return format_html('<a href="{}" aria-current="page">{}</a>', url, label)
    return format_html('<a href="{}">{}</a>', url, label)


@register.filter
def signed(value: int) -> str:
    """A ledger amount with its sign: +500, -4."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    return f"+{number:,}" if number > 0 else f"{number:,}"


@register.filter
def dollars(cents: int) -> str:
    try:
        return f"${int(cents) / 100:,.2f}".replace(".00", "")
    except (TypeError, ValueError):
        return ""


@register.filter
def credits(value: int) -> str:
    """ "1 credit", "1,150 credits"."""

    try:
        return credits_text(int(value))
    except (TypeError, ValueError):
        return ""
