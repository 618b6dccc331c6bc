"""A small HTTP load generator: REQUESTS requests from CLIENTS threads.

    python load.py METHOD URL REQUESTS CLIENTS

Prints JSON: requests per second, p50 and p99 latency (ms), and the status
codes seen. Same client for every server measured, so ratios are fair even
where the client itself limits the rate.
"""

import collections
import http.client
import json
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit


def worker(
    method: str, url: str, count: int, latencies: list, codes: collections.Counter
):
    parts = urlsplit(url)
    body = b"{}" if method == "POST" else None
    headers = {"Content-Type": "application/json"}
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.request(method, parts.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        latencies.append((time.perf_counter() - started) * 1000)
        codes[response.status] += 1


def main(method: str, url: str, requests: int, clients: int) -> None:
    latencies: list[float] = []
    codes: collections.Counter = collections.Counter()
    share = requests // clients
    threads = [
        threading.Thread(target=worker, args=(method, url, share, latencies, codes))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        json.dumps(
            {
                "rps": len(latencies) / elapsed,
                "p50": statistics.median(latencies),
                "p99": quantiles[98],
                "codes": {str(code): n for code, n in codes.items()},
            }
        )
    )


if __name__ == "__main__":
    method, url, requests, clients = sys.argv[1:]
    main(method, url, int(requests), int(clients))
