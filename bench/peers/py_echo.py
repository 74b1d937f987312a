"""The classic Python threaded echo server: one thread per client, recv(1024) then sendall.

Usage: python3 py_echo.py PORT [HOST]
"""
import socket
import sys
import threading


def handle_client(c, addr):
    with c:
        while True:
            try:
                data = c.recv(1024)
            except OSError:
                return
            if not data:
                return
            try:
                c.sendall(data)
            except OSError:
                return


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 1234
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(128)
        print("listening on %s:%d" % s.getsockname(), flush=True)
        while True:
            c, addr = s.accept()
            threading.Thread(target=handle_client, args=(c, addr), daemon=True).start()


if __name__ == "__main__":
    main()
