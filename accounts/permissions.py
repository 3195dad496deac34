"""Who may reach staff-only parts: staff accounts with two-factor authentication turned on."""

from allauth.mfa.utils import is_mfa_enabled
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import User


def is_staff_with_two_factor(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff and is_mfa_enabled(user))


class IsStaffWithTwoFactor(BasePermission):
    """DRF permission for `/api/v1/staff/`: staff, and two-factor authentication enabled."""

    message = "Staff only, with two-factor authentication enabled."

    def has_permission(self, request: Request, view: object) -> bool:
        return is_staff_with_two_factor(request.user)
