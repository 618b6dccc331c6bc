"""Jinja filters that render answers as literals of the generated files' languages.

Answers may hold quotes, apostrophes, backslashes and accents; these filters
keep the generated code valid whatever the answer, instead of pasting the text
between quotes.
"""

import json

from cookiecutter.utils import simple_filter

# Characters Python needs escaped inside a quoted string.
PYTHON_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@simple_filter
def python_string(value: object) -> str:
    """A Python string literal for `value`, as `ruff format` would quote it.

    Double quotes, unless the text holds more double than single quotes.
    """
    text = str(value)
    quote = "'" if text.count('"') > text.count("'") else '"'
    body = []
    for char in text:
        if char in PYTHON_ESCAPES:
            body.append(PYTHON_ESCAPES[char])
        elif char == quote:
            body.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            body.append(f"\\x{ord(char):02x}")
        else:
            body.append(char)
    return quote + "".join(body) + quote


@simple_filter
def toml_string(value: object) -> str:
    """A TOML basic string for `value` (JSON's escapes are TOML's)."""
    return json.dumps(str(value), ensure_ascii=False)
