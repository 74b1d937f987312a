#!/usr/bin/env python3
"""Abrupt peers for sockkit's reliability tests: opens COUNT connections to 127.0.0.1:PORT, sends up to BYTES
on each (whatever the socket accepts at once), waits for the first bytes from the server unless WAIT is 0,
then resets every connection with SO_LINGER {on, 0 s}, which makes close() send RST instead of FIN.

Usage: rst_peer.py PORT COUNT BYTES [WAIT]
Prints one JSON line: {"connected": n, "echoing": n, "reset": n} (echoing: connections that got bytes).
"""
import json
import socket
import struct
import sys


def main() -> None:
    port, count, size = (int(a) for a in sys.argv[1:4])
    wait = len(sys.argv) < 5 or sys.argv[4] != "0"
    payload = bytes(i % 251 for i in range(size))
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for s in socks:
        s.setblocking(False)
        try:
            if payload:
                s.send(payload)
        except BlockingIOError:
            pass
    echoing = 0
    for s in socks if wait else []:
        s.settimeout(10)
        if s.recv(1024):
            echoing += 1
    linger_zero = struct.pack("ii", 1, 0)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
        s.close()
    print(json.dumps({"connected": len(socks), "echoing": echoing, "reset": len(socks)}))


if __name__ == "__main__":
    main()
