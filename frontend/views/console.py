"""The staff console: review queue, cases, users, public figures, policy, transparency, audit."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import staff_two_factor_required


@staff_two_factor_required
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "console/queue.html", {})
