# The classic echo client that sockkit grew from; the port comes from argv.
import socket
import sys

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    # connect
    s.connect(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 1234))
    # send
    s.sendall(b"Hello, Kael2")
    # receive
    data = s.recv(1024)
    print("Received:", repr(data))
