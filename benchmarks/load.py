"""HTTP load with wrk: a C client, so the numbers are the server's, not ours.

A Python client on the same two cores spends more time parsing an answer
with more headers than the server spends writing them; wrk does not.
"""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

POST_JSON = """
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    method: str, url: str, connections: int, seconds: int, cookie: str = ""
) -> dict:
    """Requests per second, p50/p99 latency (ms) and failed answers.

    `cookie` goes with every request (a browser's session: its own tasks).
    """
    executable = shutil.which("wrk")
    if executable is None:
        raise SystemExit("The web benchmark needs wrk: apt-get install -y wrk")
    command = [executable, "--latency", "-t", "1", "-c", str(connections)]
    command += ["-d", f"{seconds}s", "--timeout", "10s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    with tempfile.TemporaryDirectory() as scratch:
        if method == "POST":
            script = Path(scratch) / "post.lua"
            script.write_text(POST_JSON)
            command += ["-s", str(script)]
        output = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True
        ).stdout
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "p50": latency(output, "50%"),
        "p99": latency(output, "99%"),
        "requests": int(re.search(r"(\d+) requests in", output)[1]),
        "failed": failed(output),
    }


def latency(output: str, percentile: str) -> float:
    value, unit = re.search(
        rf"^\s*{percentile}\s+([\d.]+)(us|ms|s)$", output, re.M
    ).groups()
    return float(value) * UNITS_MS[unit]


def failed(output: str) -> int:
    """Non-2xx/3xx answers plus socket errors (connect, read, write, timeout)."""
    total = 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        total += int(bad[1])
    errors = re.search(r"Socket errors: (.*)", output)
    if errors:
        total += sum(int(n) for n in re.findall(r"\d+", errors[1]))
    return total
