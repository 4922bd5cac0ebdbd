"""A one-page Django site to mount the middleware in (its ROOT_URLCONF).

Loaded by the conftest under the module name ``tfa_middleware_django_site``.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path


def hello(request: HttpRequest) -> JsonResponse:
    """The host's own page."""
    return JsonResponse({"host": "django", "page": "hello"})


def echo(request: HttpRequest) -> JsonResponse:
    """Any other path: say where Django thinks it is."""
    return JsonResponse(
        {
            "host": "django",
            "script_name": request.META.get("SCRIPT_NAME", ""),
            "path_info": request.path_info,
            "path": request.path,
            "method": request.method,
        }
    )


urlpatterns = [
    path("hello", hello),
    re_path(r"^.*$", echo),
]
