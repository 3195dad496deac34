"""Forms of the web app. They check shape only (types, lengths); rules live in services."""

import datetime as dt
from typing import cast

from django import forms

from accounts.models import STUDIO_SQUARES, ApiKey
from accounts.services.api_keys import DEFAULT_SCOPES, MONTHLY_CREDIT_CAP_MAX
from generation.services.image_options import MAX_INPUT_IMAGES, OUTPUT_FORMATS
from moderation.models import Category

PROMPT_MAX_LENGTH = 1000  # DALL-E 2's limit for a prompt
SEED_MAX = 2**31 - 1


# The studio's shapes, as their size at the 1024 resolution (OpenAI's sizes where it names
# them); each is offered at every resolution in STUDIO_SQUARES whose pixels the plan allows.
SHAPES = (
    ("Square", 1024, 1024),
    ("Landscape 3:2", 1536, 1024),
    ("Portrait 2:3", 1024, 1536),
    ("Wide 16:9", 1792, 1024),
    ("Tall 9:16", 1024, 1792),
)
FORMAT_LABELS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


def size_choices(*, max_pixels: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """The size menu: each shape's sizes ("WxH") within `max_pixels`, grouped by shape; a
    shape with none left is not offered. Sides stay multiples of 64 at every resolution."""
    groups = []
    for name, width, height in SHAPES:
        sizes = [(width * side // 1024, height * side // 1024) for side in STUDIO_SQUARES]
        options = [(f"{w}x{h}", f"{name} {w}×{h}") for w, h in sizes if w * h <= max_pixels]
        if options:
            groups.append((name, options))
    return groups


def size_value(text: object) -> int | str:
    """A size as the service reads it: a bare number is a square's side (older pages and the
    run-again form of a job made before shapes), anything else is sent as written."""
    text = str(text if text is not None else "").strip()
    return int(text) if text.isdigit() else text


def size_values(choices: list[tuple[str, list[tuple[str, str]]]]) -> list[str]:
    return [value for _, options in choices for value, _ in options]


class ImageChoicesForm(forms.Form):
    """Size and shape, file format and background: what the service's image options take
    (generation/services/image_options.py). The size is any text, so that one the plan does not
    allow is refused by the service, in its words, rather than by the menu."""

    size = forms.CharField(max_length=16, label="Size and shape", widget=forms.Select)
    output_format = forms.ChoiceField(
        choices=[(name, FORMAT_LABELS[name]) for name in OUTPUT_FORMATS],
        required=False,  # none sent: the service's default, PNG
        initial="png",
        label="Format",
    )
    transparent = forms.BooleanField(
        required=False,
        label="Transparent background",
        help_text="PNG and WebP only: JPEG has no transparency.",
    )

    def __init__(self, *args: object, max_pixels: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        choices = size_choices(max_pixels=max_pixels)
        self.fields["size"].widget.choices = choices  # type: ignore[attr-defined]
        values = size_values(choices)
        self.fields["size"].initial = values[0] if values else None
        self.fields["transparent"].widget.attrs.update(
            {"data-transparent": "", "aria-describedby": "transparent-help"}
        )
        self.fields["output_format"].widget.attrs.update({"data-format": ""})

    def image_options(self) -> dict:
        """The cleaned choices as generation_create's keyword arguments."""
        return {
            "size": size_value(self.cleaned_data["size"]),
            "output_format": self.cleaned_data["output_format"] or None,
            "background": "transparent" if self.cleaned_data["transparent"] else "auto",
        }


class CreateForm(ImageChoicesForm):
    prompt = forms.CharField(
        max_length=PROMPT_MAX_LENGTH,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "A lighthouse on a cliff at dawn, watercolour"}
        ),
    )
    n = forms.IntegerField(label="Images", min_value=1, max_value=10, initial=1)
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=SEED_MAX, help_text="Leave empty for a random seed."
    )

    def __init__(self, *args: object, max_pixels: int, max_n: int, **kwargs: object) -> None:
        super().__init__(*args, max_pixels=max_pixels, **kwargs)
        # The browser hints the plan's limit; the service explains it when it is exceeded.
        self.fields["n"].widget.attrs.update({"min": 1, "max": max_n})
        self.fields["prompt"].widget.attrs.update({"maxlength": PROMPT_MAX_LENGTH})


class EditForm(forms.Form):
    prompt = forms.CharField(max_length=PROMPT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))
    n = forms.IntegerField(label="Images", min_value=1, max_value=10, initial=1)
    # The painted mask as a PNG data URL, written by the canvas script.
    mask = forms.CharField(widget=forms.HiddenInput, max_length=8_000_000)

    def __init__(self, *args: object, max_n: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # As on Create: the browser offers the plan's limit, the service explains a larger n.
        self.fields["n"].widget.attrs.update({"min": 1, "max": max_n})


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (`<input type=file multiple>`): a list, maybe empty."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("widget", _MultipleFileInput())
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self, data: object, initial: object = None) -> list:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(one, initial) for one in files]


def _upload_size_check(upload: object, *, what: str) -> None:
    """Refused before it is read into memory; the upload rules check everything else."""
    from generation.services.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB

    size = cast(int, getattr(upload, "size", 0))
    if size >= MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            f"{what} must be under {MAX_UPLOAD_MB} MB; this one is {size / 2**20:.1f} MB."
        )


class UploadForm(ImageChoicesForm):
    """An image of the user's own, to vary or to repaint part of (uploads.py checks the file)."""

    ACTIONS = [("variation", "Make variations of it"), ("edit", "Repaint part of it")]
    image = forms.FileField(
        label="Your image",
        help_text=(
            "A PNG, JPEG or WebP under 20 MB, of any shape up to 3:1; a shape other than the "
            "size chosen below is cropped about its centre, never stretched."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    action = forms.ChoiceField(
        choices=ACTIONS, initial="variation", widget=forms.RadioSelect, label="What to do"
    )
    prompt = forms.CharField(
        required=False,
        max_length=PROMPT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For a repaint: describe the whole image you want.",
    )
    n = forms.IntegerField(label="Images", min_value=1, max_value=10, initial=1)
    references = MultipleFileField(
        required=False,
        label="Reference images (optional)",
        help_text=(
            f"Up to {MAX_INPUT_IMAGES - 1} more images whose look steers the result (their "
            "style, colours, subject), checked like your image."
        ),
        widget=_MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    face_consent = forms.BooleanField(
        required=False,
        label="It shows a real person's face, and I have their consent to use it.",
    )
    # The painted area as a PNG data URL (the canvas script); empty: the PNG's own transparent
    # area is what a repaint changes.
    mask = forms.CharField(required=False, widget=forms.HiddenInput, max_length=8_000_000)

    def __init__(
        self,
        *args: object,
        max_pixels: int,
        max_n: int,
        takes_references: bool,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, max_pixels=max_pixels, **kwargs)
        self.fields["size"].label = "Size of the new images"
        self.fields["n"].widget.attrs.update({"min": 1, "max": max_n})
        if not takes_references:  # the studio's model has no IP-Adapter
            del self.fields["references"]

    def clean_image(self) -> object:
        image = self.cleaned_data["image"]
        _upload_size_check(image, what="The image")
        return image

    def clean_references(self) -> list:
        references = self.cleaned_data["references"]
        if len(references) >= MAX_INPUT_IMAGES:
            raise forms.ValidationError(
                f"At most {MAX_INPUT_IMAGES - 1} reference images; you chose {len(references)}."
            )
        for reference in references:
            _upload_size_check(reference, what="Each reference image")
        return references

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        if cleaned.get("action") == "edit" and not cleaned.get("prompt", "").strip():
            self.add_error("prompt", "Describe the image you want the repaint to make.")
        return cleaned


class ExtendForm(forms.Form):
    """Where the canvas grows and by how much; generation.services.outpainting checks the rest."""

    SCALES = [("1.5", "1.5×"), ("2", "2×")]
    DIRECTIONS = [
        ("right", "Right"),
        ("left", "Left"),
        ("down", "Down"),
        ("up", "Up"),
        ("horizontal", "Left and right"),
        ("vertical", "Up and down"),
        ("around", "All around"),
    ]
    prompt = forms.CharField(
        max_length=PROMPT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Describe the whole picture, including what the new area shows.",
    )
    scale = forms.ChoiceField(choices=SCALES, initial="2", label="Canvas size")
    direction = forms.ChoiceField(choices=DIRECTIONS, initial="right")


class ShareForm(forms.Form):
    share = forms.BooleanField(required=False)
    in_explore = forms.BooleanField(required=False, initial=True, label="Show in Explore")


class CollectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    is_public = forms.BooleanField(required=False, label="Public")


class ReportForm(forms.Form):
    reason = forms.ChoiceField(choices=[])
    details = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: object, **kwargs: object) -> None:

        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        cast(forms.ChoiceField, self.fields["reason"]).choices = Category.choices


class AppealForm(forms.Form):
    text = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 4}), label="Why should we look again?"
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    monthly_credit_cap = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MONTHLY_CREDIT_CAP_MAX,
        label="Monthly credit cap",
        help_text="Optional: the most credits this key may spend in a calendar month.",
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the key stops working at the end of this day (UTC).",
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=sorted(DEFAULT_SCOPES),
        widget=forms.CheckboxSelectMultiple,
        label="What the key may do",
        help_text="Managing keys, webhooks and billing must be chosen here; a key never "
        "deletes the account.",
    )

    def clean_expires_on(self) -> dt.date | None:
        day = self.cleaned_data.get("expires_on")
        if day is not None and day >= dt.date.max:
            raise forms.ValidationError("Choose an earlier date.")  # the day after overflows
        return day

    def expires_at(self) -> dt.datetime | None:
        """The first moment after the chosen day, UTC (the service checks it is in the future)."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


class WebhookForm(forms.Form):
    url = forms.URLField(
        max_length=2000,
        label="Endpoint URL",
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/easel-webhook"}),
    )


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(help_text="Type DELETE to confirm.")

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"]
        if value.strip() != "DELETE":
            raise forms.ValidationError("Type DELETE (in capitals) to confirm.")
        return value


class ResendVerificationForm(forms.Form):
    email = forms.EmailField(max_length=254)
