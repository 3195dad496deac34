"""The staff console. Every view is wrapped in accounts.decorators.staff_two_factor_required."""

from django.urls import path

from frontend.views import console

urlpatterns = [
    path("", console.queue, name="queue"),
]
