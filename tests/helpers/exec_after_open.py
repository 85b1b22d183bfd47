#!/usr/bin/env python3
"""A process that opens a file, then changes what it is in the same pid, and
opens again: what the process-facts cache must notice (security_pcache.sh).

  exec_after_open.py rename FILE          open, prctl(PR_SET_NAME, "cp"), open
  exec_after_open.py exec FILE LOADER OUT open, then exec LOADER /bin/cp FILE OUT
                                          (same executable: only the mapped
                                          program tells cp)
  exec_after_open.py parent FILE FIFO OUT RESULT
        a child opens; then this process execs cp FIFO OUT (it stays its
        parent, blocked on the FIFO); the child opens again and writes
        "allowed" or "refused" to RESULT, then releases cp.
Prints one word per open: "allowed" or "refused"."""
import ctypes
import os
import sys
import time


def try_open(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return "allowed"
    except PermissionError:
        return "refused"


def say(word):
    print(word, flush=True)


mode, path = sys.argv[1], sys.argv[2]
if mode == "rename":
    say(try_open(path))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(15, b"cp", 0, 0, 0) != 0:  # PR_SET_NAME
        sys.exit("prctl failed")
    say(try_open(path))
elif mode == "exec":
    loader, out = sys.argv[3], sys.argv[4]
    say(try_open(path))
    os.execv(loader, [loader, "/bin/cp", path, out])
elif mode == "parent":
    fifo, out, result = sys.argv[3], sys.argv[4], sys.argv[5]
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        first = try_open(path)
        os.write(w, first.encode())
        os.close(w)
        # Wait (bounded) until the parent runs cp.
        parent = os.getppid()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if os.path.basename(os.readlink("/proc/%d/exe" % parent)) == "cp":
                    break
            except OSError:
                pass
            time.sleep(0.01)
        else:
            os._exit(3)
        with open(result, "w") as f:
            f.write("%s %s\n" % (first, try_open(path)))
        with open(fifo, "w"):
            pass  # cp reads end of file and exits
        os._exit(0)
    os.close(w)
    first = os.read(r, 16).decode()
    say(first)
    os.execv("/bin/cp", ["cp", fifo, out])
else:
    sys.exit("usage: see the source")
