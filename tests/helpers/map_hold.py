#!/usr/bin/env python3
"""Maps a file shared and read-only, as numpy.memmap and mmap.ACCESS_READ
do, and holds the mapping across a change of policy (mmap tests).

    map_hold.py mmap|numpy FILE FLAG

Maps FILE, reads all of it and prints "mapped SHA256"; waits until FLAG
exists, then touches its first byte again and prints "touched" (a revoked
mapping gets SIGBUS instead, and the process dies of it).
"""
import hashlib
import mmap
import os
import sys
import time

kind, path, flag = sys.argv[1:4]
if kind == "numpy":
    import numpy

    m = numpy.memmap(path, dtype=numpy.uint8, mode="r")
    data = m.tobytes()
else:
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    os.close(fd)  # the mapping keeps the file open, as numpy's does
    data = m[:]
print("mapped", hashlib.sha256(data).hexdigest(), flush=True)
del data
deadline = time.monotonic() + 60
while not os.path.exists(flag) and time.monotonic() < deadline:
    time.sleep(0.01)
print("touched", int(m[0]), flush=True)
