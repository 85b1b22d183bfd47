#!/usr/bin/env python3
"""One filesystem operation, for table-driven permission tests.

    fsop.py OP PATH [ARG]

Prints one word: "ok" (or "ok N" for counts), "WRONG" when read bytes differ
from ARG's, or the errno name of the first call that failed (ENOENT, EROFS,
EACCES, ...). Always exits 0, so the caller compares the word with the table.

OPs (PATH is the file or directory under the mount):
  stat readdir open read access getxattr listxattr      the read side
  create open-write open-rdwr truncate mkdir rmdir unlink rename link symlink
  chmod chown utime setxattr removexattr mknod           the write side
  readdir-has NAME: "ok" if NAME is listed in PATH, "hidden" if not
  read compares the whole file with the plaintext file ARG.
"""
import errno
import os
import sys


def run(op, path, arg):
    if op == "stat":
        os.stat(path)
    elif op == "readdir":
        return "ok %d" % len(os.listdir(path))
    elif op == "readdir-has":
        return "ok" if arg in os.listdir(path) else "hidden"
    elif op == "open":
        os.close(os.open(path, os.O_RDONLY))
    elif op == "read":
        fd = os.open(path, os.O_RDONLY)
        chunks = []
        while True:
            b = os.read(fd, 1 << 17)
            if not b:
                break
            chunks.append(b)
        os.close(fd)
        with open(arg, "rb") as f:
            want = f.read()
        return "ok" if b"".join(chunks) == want else "WRONG"
    elif op == "access":
        # access() reports through its return value; name it like open would
        if not os.access(path, os.R_OK):
            return "EACCES" if os.path.lexists(path) else "ENOENT"
    elif op == "getxattr":
        os.getxattr(path, "system.posix_acl_access")
    elif op == "listxattr":
        os.listxattr(path)
    elif op == "create":
        os.close(os.open(os.path.join(path, "matrix-new"), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    elif op == "open-write":
        os.close(os.open(path, os.O_WRONLY))
    elif op == "open-rdwr":
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, 4096)
        finally:
            os.close(fd)
    elif op == "truncate":
        os.truncate(path, 0)
    elif op == "mkdir":
        os.mkdir(os.path.join(path, "matrix-dir"))
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "unlink":
        os.unlink(path)
    elif op == "rename":
        os.rename(path, path + ".renamed")
    elif op == "link":
        os.link(path, path + ".link")
    elif op == "symlink":
        os.symlink("target", os.path.join(path, "matrix-symlink"))
    elif op == "chmod":
        os.chmod(path, 0o777)
    elif op == "chown":
        os.chown(path, os.getuid(), os.getgid())
    elif op == "utime":
        os.utime(path, (0, 0))
    elif op == "setxattr":
        os.setxattr(path, "user.matrix", b"x")
    elif op == "removexattr":
        os.removexattr(path, "user.matrix")
    elif op == "mknod":
        os.mkfifo(os.path.join(path, "matrix-fifo"))
    else:
        return "BADOP"
    return "ok"


def main():
    op, path = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    try:
        print(run(op, path, arg))
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))


main()
