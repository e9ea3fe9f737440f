"""The target of the benchmark's I/O-bound section: a single-thread TCP echo server and a
threaded HTTP server in one long-lived CPython process (Python 2.7 and 3.x).

    python io_server.py serve     prints "ready PID VERSION ECHO_PORT HTTP_PORT", serves both on
                                  127.0.0.1 until stdin closes
    python io_server.py client PORT SECONDS
                                  the echo client (run in another process): sends 64-byte
                                  messages one at a time on one connection for SECONDS and
                                  prints "ROUND_TRIPS_PER_S ROUND_TRIPS"

The echo server is one thread (accept, then recv/sendall until the client closes): every round
trip releases and re-takes the GIL around recv and around send. The HTTP server is the standard
library's threaded server (http.server.ThreadingHTTPServer; ThreadingMixIn + HTTPServer where
that class is missing: 2.7, 3.6), answering GET / with a small body; the load generator is an
outside program. The two are measured one after the other, never at once.
"""
from __future__ import print_function

import os
import platform
import socket
import sys
import threading
import time

try:  # Python 3
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn
except ImportError:  # Python 2.7
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer
    from SocketServer import ThreadingMixIn

MESSAGE = 64
BODY = b"hello from the I/O-bound benchmark\n"


def now():
    return getattr(time, "monotonic", time.time)()


class ThreadingServer(ThreadingMixIn, HTTPServer):
    daemon_threads = True


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


def echo_forever(listener):
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data)
        except socket.error:
            pass
        conn.close()


def serve():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    httpd = ThreadingServer(("127.0.0.1", 0), Handler)
    for fn, arg in ((echo_forever, listener), (lambda s: s.serve_forever(), httpd)):
        t = threading.Thread(target=fn, args=(arg,))
        t.daemon = True
        t.start()
    print("ready %d %s %d %d" % (os.getpid(), platform.python_version(),
                                 listener.getsockname()[1], httpd.server_address[1]))
    sys.stdout.flush()
    sys.stdin.read()  # until the benchmark closes stdin


def client(port, seconds):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * MESSAGE
    n = 0
    start = now()
    deadline = start + seconds
    while now() < deadline:
        s.sendall(msg)
        got = 0
        while got < MESSAGE:
            chunk = s.recv(MESSAGE - got)
            if not chunk:
                raise SystemExit("echo server closed the connection")
            got += len(chunk)
        n += 1
    elapsed = now() - start
    s.close()
    print("%.1f %d" % (n / elapsed, n))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    elif sys.argv[1:2] == ["client"] and len(sys.argv) == 4:
        client(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)
