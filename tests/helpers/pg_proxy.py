#!/usr/bin/env python3
"""A loopback TCP proxy to a PostgreSQL Unix socket, owned by a test that
cuts a cluster node off from the database by stopping it (never the
machine's firewall).

    pg_proxy.py SOCKET PORT PORTFILE

Listens on 127.0.0.1:PORT (0: any free port), writes the port to PORTFILE
once it listens, and copies bytes both ways between each client and
SOCKET. Killed, every connection through it ends with it.

SIGUSR1 silences every connection open at that moment: from then on it
passes no byte either way, and its sockets stay open (no FIN, no reset),
as a path cut by a fail-over or a firewall that forgot the connection
looks to both ends. Connections made afterwards are served as before.
"""
import os
import signal
import socket
import sys
import threading

target, port, portfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]


silenced = 0  # connections of a generation below this pass nothing


def silence(_signum, _frame):
    global silenced
    silenced = generation + 1


def pump(src, dst, gen):
    try:
        while True:
            data = src.recv(65536)
            if gen < silenced:
                threading.Event().wait()  # holds both sockets open, forever
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


generation = 0  # of the connections accepted now
signal.signal(signal.SIGUSR1, silence)
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
    generation = silenced if silenced > generation else generation
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.connect(target)
    except OSError:
        client.close()
        continue
    for a, b in ((client, server), (server, client)):
        threading.Thread(target=pump, args=(a, b, generation), daemon=True).start()
