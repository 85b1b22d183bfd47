#!/usr/bin/env python3
"""How long the disk makes a durable append wait, while something else runs
(scripts/bench.sh, BENCH_CLUSTER_TRACE): a stall of the disk shows here as
it does in PostgreSQL's commits, kuractl's fsyncs and the nodes' audit log.

    fsync_probe.py DIR OUT

Every 50 ms appends 200 bytes to a file in DIR and fdatasyncs it; writes to
OUT one line per call ("sync START_S MS"), one line per sample of the disk
("disk TIME_S ..." from /proc/diskstats: writes, flushes and the ms spent
on each, in flight), and, the first time one call has waited 300 ms, the
kernel stack of every process in D state (root only). Runs until killed.
"""
import glob
import os
import signal
import sys
import threading
import time

directory, out_path = sys.argv[1], sys.argv[2]
out = open(out_path, 'w', buffering=1)
lock = threading.Lock()
path = os.path.join(directory, '.fsync-probe')
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
dev = os.stat(directory).st_dev
disk = '%d:%d' % (os.major(dev), os.minor(dev))
waiting_since = None


def emit(line):
    with lock:
        out.write(line + '\n')


def disk_sample():
    for line in open('/proc/diskstats'):
        f = line.split()
        # the partition's or, for a whole-disk file system, the disk's line
        if '%s:%s' % (f[0], f[1]) == disk:
            flush = ' flushes=%s flush_ms=%s' % (f[18], f[19]) if len(f) > 19 else ''
            return 'writes=%s write_ms=%s in_flight=%s%s' % (f[7], f[10], f[11], flush)
    return ''


def stacks():
    lines = []
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            text = open(stat).read()
            if text[text.rindex(')') + 2] == 'D':
                name = text[text.index('(') + 1:text.rindex(')')]
                lines.append('D %s (%s)\n%s' % (os.path.basename(os.path.dirname(stat)), name,
                                                open(os.path.join(os.path.dirname(stat), 'stack')).read()))
        except (OSError, ValueError):
            pass  # gone meanwhile, or no stack to read (not root)
    return ''.join(lines)


def sampler():
    dumped = None
    while True:
        emit('disk %.3f %s' % (time.time(), disk_sample()))
        since = waiting_since
        if since and since != dumped and time.time() - since > 0.3:
            dumped = since
            emit('stall since %.3f, processes waiting on the disk:\n%s' % (since, stacks()))
        time.sleep(0.1)


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the file is removed on the way out
threading.Thread(target=sampler, daemon=True).start()
try:
    while True:
        os.write(fd, b'x' * 199 + b'\n')
        t0 = time.time()
        waiting_since = t0
        os.fdatasync(fd)
        waiting_since = None
        emit('sync %.3f %.1f' % (t0, (time.time() - t0) * 1000))
        time.sleep(0.05)
finally:
    os.unlink(path)
