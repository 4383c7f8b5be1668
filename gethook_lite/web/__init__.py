"""The built-in dashboard at ``/``: server-rendered pages over the same domain functions as
the API, with their templates and static files shipped as package data."""

from gethook_lite.web.portal_pages import portal_router
from gethook_lite.web.routes import web_router

__all__ = ["portal_router", "web_router"]
