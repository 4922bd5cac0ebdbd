"""The 2FA API as WSGI middleware, mountable in Flask, Django, Pyramid or bare WSGI."""

from .middleware import TwoFactorMiddleware

__all__ = ["TwoFactorMiddleware"]
