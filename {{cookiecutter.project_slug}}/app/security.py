"""HTTP headers that keep browsers from being turned against our users."""

from flask import Response

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


def set_security_headers(response: Response) -> Response:
    """Add the security headers a view did not set (an `after_request` hook).

    One pass over the headers, not `headers.setdefault` per header: that
    raises and catches an exception for each missing one, a cost paid on
    every status poll.
    """
    present = {name.lower() for name, _ in response.headers}
    response.headers.extend(
        (name, value)
        for name, value in SECURITY_HEADERS.items()
        if name.lower() not in present
    )
    return response
