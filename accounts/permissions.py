"""Who may reach staff-only parts: staff accounts with two-factor authentication turned on."""

from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth.models import AnonymousUser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request

from accounts.models import ApiKey, User
from common.errors import PermissionDenied


def authenticated_user(request: Request) -> User:
    """The signed-in user of a request that passed IsAuthenticated (every API view's default
    permission, which runs before any handler), typed as Easel's User."""
    user = request.user
    assert isinstance(user, User), "authenticated_user() needs an authenticated request"
    return user


def is_staff_with_two_factor(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff and is_mfa_enabled(user))


class IsStaffWithTwoFactor(BasePermission):
    """DRF permission for `/api/v1/staff/`: staff, two-factor authentication enabled, and a web
    session (whose login asked for the code): an API key would skip the second factor."""

    message = "Staff only, with two-factor authentication enabled, from a signed-in web session."

    def has_permission(self, request: Request, view: object) -> bool:
        return request.auth is None and is_staff_with_two_factor(request.user)


def request_scopes(request: Request) -> frozenset[str]:
    """The scopes this request carries: its key's, or every scope for a signed-in web session."""
    if isinstance(request.auth, ApiKey):
        return frozenset(request.auth.scopes)
    if request.user and request.user.is_authenticated:
        return frozenset(ApiKey.Scope.values)
    return frozenset()


def HasScope(*scopes: str) -> type[BasePermission]:  # noqa: N802 - reads as a class in views
    """A DRF permission class requiring every one of `scopes`:

    permission_classes = [IsAuthenticated, HasScope(ApiKey.Scope.GENERATE)]
    """
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown or not scopes:
        raise ValueError(f"Unknown scopes: {sorted(unknown)}")  # a programming error

    class _HasScope(BasePermission):
        required = frozenset(scopes)

        def has_permission(self, request: Request, view: object) -> bool:
            if not (request.user and request.user.is_authenticated):
                return False  # IsAuthenticated answers 401 first when it is listed
            missing = sorted(self.required - request_scopes(request))
            if missing:
                raise PermissionDenied(
                    "This API key lacks the scope needed for this operation. Missing scopes: "
                    f"{', '.join(missing)}. Create a key with them in your account.",
                    code="missing_scope",
                )
            return True

    _HasScope.__name__ = f"HasScope({', '.join(scopes)})"
    return _HasScope


# What image endpoints require: a signed-in caller whose key (if any) carries the scope.
READ_IMAGES: list[type[BasePermission]] = [IsAuthenticated, HasScope(ApiKey.Scope.READ)]
GENERATE_IMAGES: list[type[BasePermission]] = [IsAuthenticated, HasScope(ApiKey.Scope.GENERATE)]
