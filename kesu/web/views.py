"""Views of the workbench (thin: they call kesu.cases selectors and services)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def home(request):
    return render(request, "web/home.html", {"nav_active": "home"})


@login_required
def queue(request, queue: str):
    return render(request, "web/home.html", {"nav_active": f"queue_{queue}"})


@login_required
def intake(request):
    return render(request, "web/home.html", {"nav_active": "intake"})


@login_required
def board(request):
    return render(request, "web/home.html", {"nav_active": "board"})
