"""ekbclient.py: the line-protocol client shared by the integration tests
and benches written in Python (docs/protocol.md). Client(path).req(line)
sends one request (and a DOC ADD payload) and returns (status line, the
lines an "OK <n>" status announces), both as str without their newline;
a streamed reply ("OK STREAM") returns its lines up to END. Closing closes
both the file object and the socket (a reply is never left half-read)."""
import re
import socket


class Client:
    def __init__(self, path, timeout=30.0):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")

    def req(self, line, payload=None):
        self.f.write(line.encode() + b"\n")
        if payload is not None:
            self.f.write(payload + b"\n")
        self.f.flush()
        head = self.f.readline().decode().rstrip("\n")
        rows = []
        m = re.match(r"OK (\d+)", head)
        if m:
            rows = [self.f.readline().decode().rstrip("\n") for _ in range(int(m.group(1)))]
        elif head.startswith("OK STREAM"):
            while True:
                l = self.f.readline().decode().rstrip("\n")
                rows.append(l)
                if not l or not (l[0] in "+="):
                    break
        return head, rows

    def close(self):
        try:
            self.f.close()
        finally:
            self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def metric(text, name, labels=""):
    """The value of one sample of a METRICS body (None when absent)."""
    pat = "^" + re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)$"
    m = re.search(pat, text, re.M)
    return float(m.group(1)) if m else None
