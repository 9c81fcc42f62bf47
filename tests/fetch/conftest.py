"""A loopback HTTP server (127.0.0.1, standard library) for the fetch tests: files
served whole or by Range, statuses, redirects, and connections cut short."""

import http.server
import threading

import pytest


class Routes:
    """What the server answers for each path, and the requests it saw."""

    def __init__(self):
        self.files, self.statuses, self.redirects, self.cuts = {}, {}, {}, {}
        self.requests = []

    def serve(self, path, data: bytes, cut_after: int | None = None):
        """Serve `data` at `path`; the first `cut_after` bytes only, the first time."""
        self.files[path] = data
        if cut_after is not None:
            self.cuts[path] = cut_after


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: Routes

    def log_message(self, *args):
        pass

    def do_GET(self):
        routes = self.routes
        routes.requests.append((self.path, self.headers.get("Range")))
        if self.path in routes.statuses:
            self.send_error(routes.statuses[self.path])
            return
        if self.path in routes.redirects:
            self.send_response(302)
            self.send_header("Location", routes.redirects[self.path])
            self.end_headers()
            return
        if self.path not in routes.files:
            self.send_error(404)
            return
        data = routes.files[self.path]
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"
            )
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = routes.cuts.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.close_connection = True


@pytest.fixture
def server():
    """(base URL, Routes) of a server running for the test."""
    routes = Routes()
    handler = type("Handler", (_Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
