#!/usr/bin/env python3
"""Holds a descriptor of a kura file across the end of its access, then
maps it afresh, as a removed user could (mount_end_processes.sh).

    map_late.py FILE PLAIN DIR

Opens FILE and creates DIR/opened; waits for DIR/ended (access ended);
maps the descriptor privately (the kernel asks FUSE nothing) and creates
DIR/mapped; waits for DIR/refilled (a listed user read the file again);
then reads only the pages mincore says are cached, never a page that would
fault, and prints "leaked N pages" for those equal to PLAIN's.
"""
import ctypes
import mmap
import os
import sys
import time

path, plain_path, flags = sys.argv[1:4]
fd = os.open(path, os.O_RDONLY)
plain = open(plain_path, "rb").read()


def signal(name):
    open(os.path.join(flags, name), "w").close()


def wait(name):
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(flags, name)) and time.monotonic() < deadline:
        time.sleep(0.01)


signal("opened")
wait("ended")
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
size, page = len(plain), mmap.PAGESIZE
addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
if addr in (None, ctypes.c_void_p(-1).value):
    sys.exit("mmap failed: errno %d" % ctypes.get_errno())
signal("mapped")
wait("refilled")
pages = (size + page - 1) // page
vec = ctypes.create_string_buffer(pages)
libc.mincore(ctypes.c_void_p(addr), size, vec)
leaked = 0
for i in range(pages):
    if vec.raw[i] & 1:
        got = ctypes.string_at(addr + i * page, min(page, size - i * page))
        leaked += got == plain[i * page:i * page + len(got)]
print("leaked", leaked, "pages", flush=True)
