#!/usr/bin/env python3
"""Holds a file open across a change of policy (revocation tests).

    hold_read.py FILE FLAG

Opens FILE, reads its first 4096 bytes and prints "first ok"; waits until
FLAG exists; reads again at 65536 and prints "second ok" or "second ERRNO"
(e.g. "second EACCES"). Exits 0 after printing.
"""
import errno
import os
import sys
import time

path, flag = sys.argv[1], sys.argv[2]
try:
    fd = os.open(path, os.O_RDONLY)
    os.pread(fd, 4096, 0)
    print("first ok", flush=True)
except OSError as e:
    print("first", errno.errorcode.get(e.errno, e.errno), flush=True)
    sys.exit(0)
deadline = time.monotonic() + 60
while not os.path.exists(flag) and time.monotonic() < deadline:
    time.sleep(0.01)
try:
    os.pread(fd, 4096, 65536)
    print("second ok", flush=True)
except OSError as e:
    print("second", errno.errorcode.get(e.errno, e.errno), flush=True)
