"""A lean HTTP client for `bench_collector`: posts prebuilt batch bodies to ``/v1/batch`` from a process of its own.

A collector is posted to by other machines, so the client's work must not share the server's process (nor its
GIL). Standard library only (``http.client``, one keep-alive connection), nothing imported from the project.

    python bench/collector_client.py BODIES_FILE HOST PORT AUTHORIZATION

``BODIES_FILE`` holds one body per line (a JSON body has no raw newline), each line ``<expected count>\\t<body>``.
The bodies are posted in order, one at a time; the clock runs from the first request sent to the last answer
read. Prints one JSON line: ``{"wall": s, "cpu": s, "requests": n}`` (``cpu``: this client process's CPU while
posting). Exits non-zero when an answer is not a 200 accepting the expected count.
"""

from __future__ import annotations

import http.client
import json
import sys
import time


def main() -> int:
    path, host, port, authorization = sys.argv[1:5]
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    batches = [(int(count), body) for count, body in (line.split(b"\t", 1) for line in lines if line)]
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    conn.connect()
    answers: list[tuple[int, bytes]] = []
    started, cpu = time.perf_counter(), time.process_time()
    for _, body in batches:
        conn.request("POST", "/v1/batch", body=body, headers=headers)
        response = conn.getresponse()
        answers.append((response.status, response.read()))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    for (count, _), (status, answer) in zip(batches, answers, strict=True):
        if status != 200 or json.loads(answer).get("accepted") != count:
            print(f"unexpected answer {status}: {answer[:300]!r}", file=sys.stderr)
            return 1
    print(json.dumps({"wall": wall, "cpu": cpu, "requests": len(batches)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
