"""A stand-in for a demo system that misbehaves, run as `python -m tests.support.demo_impostor --port P ...`.

IMPOSTOR=crash exits at once with code 3; IMPOSTOR=stranger serves a health answer without the instance
value it was given (as another program on the port would).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        body = json.dumps({"status": "ok", "service": "demo-household"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--instance")
    parser.add_argument("--parent", type=int)
    args = parser.parse_args()
    if os.environ.get("IMPOSTOR") == "crash":
        sys.exit(3)
    HTTPServer(("127.0.0.1", args.port), _Health).serve_forever()


if __name__ == "__main__":
    main()
