# The classic thread-per-client echo server that sockkit grew from, completed; the port comes from argv.
import socket
import sys
import threading


def handle_client(c, addr):
    print(addr, "connected.", flush=True)
    n = 0
    with c:
        while True:
            # receive
            data = c.recv(1024)
            if not data:
                break
            n = n + 1
            print(addr, n, flush=True)
            # send out
            c.sendall(data)


with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # bind
    s.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 1234))
    # listen
    s.listen()
    print("listening on", s.getsockname()[1], flush=True)
    while True:
        # accept
        c, addr = s.accept()
        threading.Thread(target=handle_client, args=(c, addr), daemon=True).start()
