#!/usr/bin/env python3
"""How much of a file is in the page cache right after reading it (R-CPY-2).

    cached_after_read.py FILE...

For each FILE: opens it once, reads it to the end with read(), then, on the
same descriptor, maps it without touching it and asks mincore() which pages
are in the page cache. Prints "FILE BYTES" (cached bytes, whole pages).
Exits 1 on any error, so an error never reads as "nothing cached".

Why not fincore: it opens the file again, and a FUSE open without
keep_cache drops the file's page cache, so fincore reports 0 whether or not
reads filled the cache. Measuring on the reading descriptor does not.
"""
import ctypes
import ctypes.util
import mmap
import os
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
MAP_FAILED = ctypes.c_void_p(-1).value
page = mmap.PAGESIZE

for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    size = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        size += len(chunk)
    if size == 0:
        sys.exit(f"{path}: empty, nothing to measure")
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
    if addr in (None, MAP_FAILED):
        sys.exit(f"{path}: mmap: {os.strerror(ctypes.get_errno())}")
    pages = (size + page - 1) // page
    vec = ctypes.create_string_buffer(pages)
    if libc.mincore(addr, size, vec) != 0:
        sys.exit(f"{path}: mincore: {os.strerror(ctypes.get_errno())}")
    cached = sum(b & 1 for b in vec.raw)
    libc.munmap(addr, size)
    os.close(fd)
    print(path, cached * page)
