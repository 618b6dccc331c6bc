"""HTTP headers that keep browsers from being turned against our users."""

from flask import Flask, Response

# The pages use only their own scripts and styles: no CDN, nothing inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def security_headers_init_app(app: Flask) -> None:
    """Add the headers to every answer; HSTS where `STRICT_TRANSPORT_SECURITY` is set.

    The headers are fixed when the app is built, and added in one pass over
    the answer's own headers (`headers.setdefault` would raise and catch an
    exception per missing header): a status poll pays next to nothing.
    """
    headers = dict(SECURITY_HEADERS)
    if app.config.get("STRICT_TRANSPORT_SECURITY"):
        headers["Strict-Transport-Security"] = app.config["STRICT_TRANSPORT_SECURITY"]

    def set_security_headers(response: Response) -> Response:
        present = {name.lower() for name, _ in response.headers}
        response.headers.extend(
            (name, value)
            for name, value in headers.items()
            if name.lower() not in present
        )
        return response

    app.after_request(set_security_headers)
