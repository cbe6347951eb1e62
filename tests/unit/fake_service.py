"""A tiny HTTP service for supervisor tests: `python fake_service.py PORT MARKER_FILE`.

It writes "stopped" to MARKER_FILE when it receives SIGTERM, so tests can see clean stops.
"""

import http.server
import pathlib
import signal
import sys
from typing import Any

port, marker = int(sys.argv[1]), pathlib.Path(sys.argv[2])


def on_term(*_: Any) -> None:
    marker.write_text("stopped")
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
print("hello from child", flush=True)
http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler).serve_forever()
