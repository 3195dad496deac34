"""The web app and the staff console."""

urlpatterns: list = []
