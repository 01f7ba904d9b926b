#!/usr/bin/python3
"""An S3 endpoint that refuses every request with an error echoing pieces of the secret.

Usage: s3_impostor.py SECRET_FILE PORT_FILE [SECONDS]

Serves on 127.0.0.1 (a free port, written to PORT_FILE) for at most SECONDS (default 30) and
answers every request 403 with an S3 error document whose Message quotes the whole secret,
its first twelve characters and its lower-cased form, after a long run of filler: what a
careless or hostile S3 server could send back to stockelt.
"""

import http.server
import os
import sys
import threading


def main():
    secret_file, port_file = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    with open(secret_file) as f:
        secret = f.read().strip()
    message = (f"The request signature we calculated does not match: {secret} "
               f"(cut {secret[:12]}, lower {secret.lower()}) " + "x" * 1000)
    body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
            f"<Message>{message}</Message></Error>").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self):
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = answer

        def log_message(self, fmt, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    threading.Timer(seconds, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
