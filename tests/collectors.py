"""HTTP endpoints of the tests' own that keep what a baked project sends them:
OTLP trace exports, Sentry envelopes."""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from support import free_port


class Collector:
    """Answers 200 to every POST and keeps its path and (unzipped) body."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()


def exported(collector: Collector) -> list[tuple[str, str, str, dict[str, str]]]:
    """(service name, trace id, span name, string attributes) of every span."""
    found = []
    for path, body in list(collector.received):
        if path != "/v1/traces":
            continue
        export = ExportTraceServiceRequest.FromString(body)
        for resource in export.resource_spans:
            service = next(
                attribute.value.string_value
                for attribute in resource.resource.attributes
                if attribute.key == "service.name"
            )
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {
                        attribute.key: attribute.value.string_value
                        for attribute in span.attributes
                    }
                    found.append((service, span.trace_id.hex(), span.name, attributes))
    return found


def sentry_events(collector: Collector) -> list[dict]:
    """The events (errors) of every Sentry envelope received so far."""
    events = []
    for path, body in list(collector.received):
        if not path.endswith("/envelope/"):
            continue
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events
