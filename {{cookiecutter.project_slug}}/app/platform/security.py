"""Keeping browsers from being turned against our users: headers, cross-site posts.

The headers come from `secure` (secure.py), a maintained library that knows
each header's syntax; this module only says which ones this app sends.
"""

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from secure import (
    ContentSecurityPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)
from werkzeug.exceptions import Forbidden

SELF = "'self'"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def security_headers(app: Flask) -> Secure:
    """The headers of every answer; HSTS where `STRICT_TRANSPORT_SECURITY` is set."""
    # The pages use only their own scripts and styles: no CDN, nothing inline.
    csp = (
        ContentSecurityPolicy()
        .default_src(SELF)
        .frame_ancestors("'none'")
        .base_uri(SELF)
        .form_action(SELF)
    )
    hsts = app.config.get("STRICT_TRANSPORT_SECURITY")
    return Secure(
        csp=csp,
        xcto=XContentTypeOptions().nosniff(),
        xfo=XFrameOptions().deny(),
        referrer=ReferrerPolicy().same_origin(),
        hsts=StrictTransportSecurity().value(hsts) if hsts else None,
    )


def security_headers_init_app(app: Flask) -> None:
    """Add the headers to every answer, built once when the app is."""
    headers = security_headers(app)

    def set_security_headers(response: Response) -> Response:
        headers.set_headers(response)
        return response

    app.after_request(set_security_headers)


def refuse_cross_site() -> None:
    """403 for a request from another site's page that would change something.

    A page of another site can make a browser send a POST that needs no
    preflight (a form, or `text/plain`), with the user's cookies. Browsers
    say where a request comes from: `Sec-Fetch-Site`, and `Origin` on every
    POST and DELETE. Clients that are not browsers send neither and pass.
    https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Sec-Fetch-Site
    """
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or not own_origin(
        request.headers.get("Origin")
    ):
        raise Forbidden("Requests from another site may not start or cancel tasks.")


def own_origin(origin: str | None) -> bool:
    """True for no `Origin`, this app's `APP_BASE_URL`, or the host asked."""
    if origin is None:
        return True
    base = urlsplit(current_app.config["APP_BASE_URL"] or "")
    if origin == f"{base.scheme}://{base.netloc}":
        return True
    # Behind a proxy the scheme seen here may differ from the browser's.
    return urlsplit(origin).netloc == request.host
