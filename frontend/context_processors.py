"""What every page's layout shows besides its own content: the viewer's suspension, if any,
and the local-mode notice when the default model is the tiny built-in one."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from generation.inference.registry import model_spec
from moderation.models import Suspension
from moderation.selectors import suspension_active


def site_notices(request: HttpRequest) -> dict:
    def suspension() -> Suspension | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return suspension_active(user=user)

    spec = model_spec()
    return {
        # Read only by templates that show it (not the progress fragment polled every second).
        "account_suspension": SimpleLazyObject(suspension),
        # The tiny model paints noise by design (tests, offline demos): say so, and how to
        # switch, before a newcomer takes it for a broken install.
        "tiny_model_id": spec.id if spec.is_builtin_tiny else "",
    }
