"""The JSON API (``/api/v1``), documented in ``/openapi.json``."""

from hub.web.api.v1 import router

__all__ = ["router"]
