"""Mail in the end-to-end tests: a real SMTP server, and the form that sends.

The server is aiosmtpd in the test process: tests read what it received,
stop and restart it, make it stall or refuse.
"""

import asyncio
import email
import email.policy
import re
import uuid

import requests
from aiosmtpd.controller import Controller
from stack import Stack
from support import browser


class SMTPServer:
    """An aiosmtpd server on a fixed port that tests can stop and restart.

    It listens on loopback unless given another address of this machine
    (tests/cluster.py: the bridge its hosts reach).
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port, self.host = port, host
        self.reply: str | None = None
        self.messages: list[email.message.EmailMessage] = []
        self.attempts: list[str] = []
        self.controller: Controller | None = None
        # Seconds to stall at RCPT TO, before any message data is sent.
        self.rcpt_delay = 0.0
        self.rcpt_seen: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        self.rcpt_seen.append(address)
        await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.attempts.extend(envelope.rcpt_tos)
        if self.reply:
            return self.reply
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def register(
    stack: Stack, address: str, client: requests.Session | None = None
) -> requests.Response:
    """Post the registration form as a browser would, CSRF token included."""
    session = client or browser()
    page = session.get(stack.url("/account/register"), timeout=15).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    return session.post(
        stack.url("/account/register"),
        data={"email": address, "csrf_token": token},
        timeout=15,
    )


def new_address() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"
