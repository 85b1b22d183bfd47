#!/usr/bin/env python3
"""A loopback TCP proxy to a PostgreSQL Unix socket, owned by a test that
cuts a cluster node off from the database by stopping it (never the
machine's firewall).

    pg_proxy.py SOCKET PORT PORTFILE

Listens on 127.0.0.1:PORT (0: any free port), writes the port to PORTFILE
once it listens, and copies bytes both ways between each client and
SOCKET. Killed, every connection through it ends with it.
"""
import os
import socket
import sys
import threading

target, port, portfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(64)
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % listener.getsockname()[1])
os.rename(tmp, portfile)
while True:
    client, _ = listener.accept()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.connect(target)
    except OSError:
        client.close()
        continue
    for a, b in ((client, server), (server, client)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
