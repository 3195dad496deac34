"""What every page's layout shows besides its own content: the viewer's suspension, if any,
and the local-mode notice when the default model is the tiny built-in one."""

from django.http import HttpRequest

from generation.inference.registry import model_spec
from moderation.selectors import suspension_active


def site_notices(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    suspension = None
    if user is not None and user.is_authenticated:
        suspension = suspension_active(user=user)  # type: ignore[arg-type]
    spec = model_spec()
    return {
        "account_suspension": suspension,
        # The tiny model paints noise by design (tests, offline demos): say so, and how to
        # switch, before a newcomer takes it for a broken install.
        "tiny_model_id": spec.id if spec.is_builtin_tiny else "",
    }
