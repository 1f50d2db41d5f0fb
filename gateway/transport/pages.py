"""The viewer page (docs/protocol.md §2.8): ``GET /qr/<token>`` and its static assets.

The page is the React app of ``web/``, built into ``gateway/web_dist`` and shipped in
the package, so the gateway serves it with Python alone. The HTML is the same for
every token: the page reads the token from its own path, and the token is never
written into the HTML (nor logged: ``logs.redact_path``). Two ``<meta>`` tags left
empty by the build are filled here from the settings: the WebSocket base URL (the
``wsUrl`` of ``/api/token/generate``) and the idle timeout the page's heartbeat
must beat.

The page's CSP allows scripts and styles from this origin only, images from
``data:`` (a PNG QR) and this origin (the app's icons), the web app manifest from
this origin, no worker at all (so no service worker ever caches a tokenised page),
and sockets to the gateway's own WebSocket origin; Trusted Types forbid every HTML
string sink, so no payload text can ever become markup. Assets (scripts, styles, the
manifest and its icons) have content-hashed names under ``/qr-assets/`` and are
cached for a year. Every response here closes its connection (``CLOSE_AFTER``).

The page is installable: its manifest is shared by every token, so it starts the app
at ``/qr/``, the same page without a token (it asks for a payment link), and claims
the scope ``/qr/``, so an installed app opens every viewer link.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from quart import Blueprint, Response, send_from_directory
from quart_schema import hide

from ..config import Settings
from ..errors import NotFound

#: Where ``cd web && npm run build`` writes the page (vite.config.ts ``build.outDir``).
WEB_DIST = Path(__file__).resolve().parent.parent / "web_dist"
#: The build's asset folder and URL prefix (vite.config.ts ``build.assetsDir``).
ASSETS = "qr-assets"
#: The build leaves these empty for the gateway to fill (web/index.html).
WS_URL_META = '<meta name="gateway-ws-url" content="" />'
IDLE_TIMEOUT_META = '<meta name="gateway-idle-timeout" content="" />'
#: The page loads three files once and then lives on its WebSocket. An idle keep-alive
#: TLS connection left behind by a browser holds up SIGTERM by asyncio's 30 s TLS
#: shutdown timeout (the browser never answers close_notify), past the 10 s drain
#: (docs/security.md §3.9).
CLOSE_AFTER = {"Connection": "close"}
#: Content-hashed names: a new build gets new names, so a year is safe.
ASSET_CACHE = "public, max-age=31536000, immutable"
#: Types the platform's ``mimetypes`` may not know (Python < 3.13 has no .webmanifest).
ASSET_TYPES = {".webmanifest": "application/manifest+json"}


@dataclass(frozen=True, slots=True)
class ViewerPage:
    html: bytes
    csp: str
    #: The build's asset file names: the only names ``/qr-assets/`` serves.
    assets: frozenset[str] = frozenset()


def ws_origin(settings: Settings) -> str:
    """The serialized origin of ``server.ws_public_url`` (derived from ``public_url``)."""
    parts = urlsplit(settings.server.effective_ws_public_url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def viewer_csp(settings: Settings) -> str:
    # img-src 'self': the icons of the manifest and the page (PNG QR codes are data:).
    # worker-src 'none': no service worker may ever cache a page whose URL is a token.
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src data: 'self'; "
        f"manifest-src 'self'; worker-src 'none'; connect-src {ws_origin(settings)}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


def build_page(settings: Settings, dist: Path = WEB_DIST) -> ViewerPage:
    """The page's HTML with the settings filled in, and its CSP.

    Raises :class:`RuntimeError` when the build is missing or not this gateway's, so a
    package without its page fails at start-up rather than on a customer's screen.
    """
    index = dist / "index.html"
    try:
        text = index.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            f"{index} is missing: build the viewer page (cd web && npm ci && npm run build)"
        ) from None
    for marker in (WS_URL_META, IDLE_TIMEOUT_META):
        if text.count(marker) != 1:
            raise RuntimeError(f"{index} does not hold {marker!r} once: rebuild it from web/")
    ws_url = html.escape(settings.server.effective_ws_public_url, quote=True)
    idle = f"{settings.websocket.idle_timeout_seconds:g}"
    text = text.replace(WS_URL_META, f'<meta name="gateway-ws-url" content="{ws_url}" />')
    text = text.replace(IDLE_TIMEOUT_META, f'<meta name="gateway-idle-timeout" content="{idle}" />')
    if not (dist / ASSETS).is_dir():
        raise RuntimeError(f"{dist / ASSETS} is missing: rebuild the page (cd web; npm run build)")
    assets = frozenset(p.name for p in (dist / ASSETS).iterdir() if p.is_file())
    return ViewerPage(html=text.encode(), csp=viewer_csp(settings), assets=assets)


def viewer_pages(page: ViewerPage) -> Blueprint:
    """The viewer page and its assets, serving ``page`` (:func:`build_page`)."""
    pages = Blueprint("pages", __name__)

    @pages.get("/qr/", defaults={"token": ""}, strict_slashes=False)  # "/qr" too: no redirect
    @pages.get("/qr/<path:token>")
    @hide  # a page, not part of the API's OpenAPI document
    async def viewer_page(token: str) -> Response:
        """The same HTML for every token; whether it is valid the page learns over the
        socket. ``/qr/``, without a token, is the installed app's ``start_url``: the page
        then asks for a payment link instead of connecting."""
        del token  # read by the page from location.pathname, never echoed
        response = Response(page.html, content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = page.csp
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.update(CLOSE_AFTER)
        return response

    @pages.get(f"/{ASSETS}/<path:filename>")
    @hide
    async def viewer_asset(filename: str) -> Response:
        """A hashed script, stylesheet, manifest or icon of the page (404 for anything else).

        The name is looked up among the build's files before the file system is asked:
        a name of 300 characters, a token, or a path through ``..`` is simply not one.
        """
        if filename not in page.assets:
            raise NotFound("no such asset")
        response = await send_from_directory(WEB_DIST / ASSETS, filename)
        content_type = ASSET_TYPES.get(Path(filename).suffix)
        if content_type is not None:
            response.content_type = content_type
        response.headers["Cache-Control"] = ASSET_CACHE
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.update(CLOSE_AFTER)
        return response

    return pages
