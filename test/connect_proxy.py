#!/usr/bin/env python3
"""A small HTTP CONNECT proxy on 127.0.0.1 for stockelt's tests of stockelt.https_proxy.

It tunnels CONNECT requests to 127.0.0.1 only (anything else gets 403, so that a test
never reaches beyond this machine), answers every other method with 405, and writes
one line per request to its log: "CONNECT 127.0.0.1:PORT 200".

    connect_proxy.py --port-file FILE --log FILE
"""

import argparse
import os
import select
import signal
import socket
import socketserver
import sys
import threading


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(8192).decode("latin-1").strip()
        while True:
            header = self.rfile.readline(8192)
            if header in (b"\r\n", b"\n", b""):
                break
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            self.answer(line, 405, "Method Not Allowed")
            return
        host, _, port = parts[1].rpartition(":")
        if host != "127.0.0.1" or not port.isdigit():
            self.answer(line, 403, "Forbidden")
            return
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            self.answer(line, 502, "Bad Gateway")
            return
        self.answer(line, 200, "Connection established")
        self.tunnel(upstream)

    def answer(self, line, status, reason):
        self.server.log(f"{line.split(' HTTP/')[0]} {status}")
        self.wfile.write(f"HTTP/1.1 {status} {reason}\r\n\r\n".encode())
        self.wfile.flush()

    def tunnel(self, upstream):
        # A client sends nothing after CONNECT's headers before the 200: rfile holds no bytes.
        client = self.connection
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, log_file):
        super().__init__(("127.0.0.1", 0), Handler)
        self.log_lock = threading.Lock()
        self.log_file = log_file

    def log(self, line):
        with self.log_lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    args = p.parse_args()
    server = Proxy(open(args.log, "a"))
    tmp = f"{args.port_file}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                     daemon=True).start()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
