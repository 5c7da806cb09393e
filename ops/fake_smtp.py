#!/usr/bin/env python3
"""A loopback SMTP sink for ops/check.sh: accepts every message, so `keywarden demo` has an email
channel that delivers (keywarden_alerts_sent_total{channel="email"}). Prints its port, then serves
until killed. Plain SMTP only; never listens beyond 127.0.0.1."""
import socketserver
import sys


class Session(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 localhost ESMTP ops-check sink")
        in_data = False
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    self.reply("250 2.0.0 queued")
                continue
            verb = line[:4].upper()
            if verb == "EHLO":
                self.reply("250-localhost")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "DATA":
                in_data = True
                self.reply("354 end with <CRLF>.<CRLF>")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.reply("250 2.0.0 ok")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    with Server(("127.0.0.1", 0), Session) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()
