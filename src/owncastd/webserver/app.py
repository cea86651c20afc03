"""The web application (quart-trio on hypercorn): route modules, limits, security headers."""

from __future__ import annotations

from quart import Response
from quart_trio import QuartTrio

from owncastd.services import Services
from owncastd.webserver.auth import AdminAuth
from owncastd.webserver.routes import admin, chat, chat_admin, hls, pages, public, viewer_api

MAX_BODY = 1 << 20


def create_app(services: Services) -> QuartTrio:
    app = QuartTrio("owncastd")
    app.config["SERVICES"] = services
    app.config["ADMIN_AUTH"] = AdminAuth()
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(public.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(hls.bp)
    app.register_blueprint(viewer_api.bp)
    app.register_blueprint(chat.bp)
    app.register_blueprint(chat_admin.bp)
    app.register_blueprint(pages.bp)

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        return response

    return app
