"""HTTP headers that keep browsers from being turned against our users.

The headers come from `secure` (secure.py), a maintained library that knows
each header's syntax; this module only says which ones this app sends.
"""

from flask import Flask, Response
from secure import (
    ContentSecurityPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)

SELF = "'self'"


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
