"""Flask's signed-cookie sessions, skipped for requests that carry none.

Flask opens and saves the session on every request, building its signer
each time, though the task API never uses it: a cost every status poll
paid. Requests without a session cookie now get an empty session at once,
and an untouched empty session is not saved. Anything that reads or writes
the session (the registration form's CSRF token) goes through Flask's own
code, unchanged.
"""

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class SessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(
        self, app: Flask, session: SecureCookieSession, response: Response
    ) -> None:
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)
