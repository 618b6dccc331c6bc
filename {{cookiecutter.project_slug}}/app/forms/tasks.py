"""The body of POST /tasks: a long task's options, and the time it may take."""

import json
from dataclasses import dataclass
from typing import Any

from flask import current_app
from werkzeug.exceptions import BadRequest

from app.platform.celery import redelivery_limit

# The longest a task may overrun its expected time before it is stopped.
TIME_LIMIT_MARGIN = 60


@dataclass(frozen=True)
class Field:
    """One field of the POST body: its default and its allowed range."""

    default: float
    lowest: float
    highest: float
    whole_number: bool

    def check(self, name: str, value: Any) -> float:
        allowed = int if self.whole_number else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, allowed)
            # False for NaN and infinity too.
            or not self.lowest <= value <= self.highest
        ):
            kind = "a whole number" if self.whole_number else "a number"
            raise BadRequest(
                f"{name} must be {kind} from {self.lowest:g} to {self.highest:g}."
            )
        return value


FIELDS = {
    "total": Field(default=10, lowest=1, highest=10_000, whole_number=True),
    "delay": Field(default=0.5, lowest=0, highest=10, whole_number=False),
}


def parse_options(body: bytes) -> dict[str, Any]:
    """The task's options from a JSON object body; BadRequest names the field."""
    try:
        data = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        raise BadRequest("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise BadRequest(f"Unknown field: {unknown[0]!r}.")
    return {
        name: field.check(name, data.get(name, field.default))
        for name, field in FIELDS.items()
    }


def time_limits(expected_seconds: float) -> tuple[float, float]:
    """Soft and hard time limits for work expected to take `expected_seconds`.

    The hard limit stays under the broker's redelivery limit: a task still
    running then would be handed to a second worker and run twice. Work
    that cannot finish in time is refused (400, naming the fields).
    """
    soft = expected_seconds + TIME_LIMIT_MARGIN
    hard = expected_seconds + 2 * TIME_LIMIT_MARGIN
    limit = redelivery_limit(current_app.config)
    if limit is not None:
        hard = min(hard, limit - 1)
        soft = min(soft, hard - 1)
        if soft <= expected_seconds:
            raise BadRequest(
                f"total times delay must stay under {limit - 2:g} seconds: longer "
                "work would outlive the broker's redelivery limit and run twice."
            )
    return soft, hard
