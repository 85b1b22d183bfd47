#!/usr/bin/env python3
"""Reads an open file again and again until a read is refused (cluster
tests: a node whose lease ends, a change made on another node).

    read_until_refused.py FILE OUT [SECONDS]

Opens FILE, reads its first 4096 bytes, then writes "first ok" (or "first
ERRNO") to OUT. Then reads 4096 bytes every 10 ms, at changing offsets, so
each read reaches the daemon; at the first refusal it appends "refused
ERRNO WALLCLOCK" (seconds since the epoch, the time the refused read
returned) and exits; after SECONDS (default 60) "never refused".
"""
import errno
import os
import sys
import time

path, out = sys.argv[1], sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0


def say(line):
    with open(out, "a") as f:
        f.write(line + "\n")


try:
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    os.pread(fd, 4096, 0)
except OSError as e:
    say("first %s" % errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
say("first ok")
end = time.monotonic() + limit
off = 0
while time.monotonic() < end:
    off = (off + 8192) % max(size - 4096, 1)
    try:
        os.pread(fd, 4096, off)
    except OSError as e:
        say("refused %s %.6f" % (errno.errorcode.get(e.errno, e.errno), time.time()))
        sys.exit(0)
    time.sleep(0.01)
say("never refused")
