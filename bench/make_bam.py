#!/usr/bin/env python3
"""A large synthetic, coordinate-sorted, indexed BAM for the samtools benchmark.

    make_bam.py OUT.bam [--reads N] [--contig-len L] [--regions K] [--region-len R]

Writes OUT.bam, OUT.bam.bai and OUT.regions (K random regions chr1:S-E of R
bases, one per line, in random order). No real person's data: the contig is
random bases, reads are slices of it with a few mismatches. Deterministic
(fixed seed). Faster than scripts/make-synthetic-data.py for millions of
reads: base qualities come from a pool instead of one draw per base.
"""
import argparse
import random
import subprocess
import sys

READ_LEN = 100


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--reads", type=int, default=2_000_000)
    ap.add_argument("--contig-len", type=int, default=50_000_000)
    ap.add_argument("--regions", type=int, default=300)
    ap.add_argument("--region-len", type=int, default=1000)
    a = ap.parse_args()
    if a.contig_len < 10 * READ_LEN or a.reads < 1:
        sys.exit("make_bam.py: --contig-len must be >= 1000 and --reads >= 1")
    rng = random.Random(20261122)
    ref = rng.randbytes(a.contig_len).translate(bytes(b"ACGT"[i % 4] for i in range(256))).decode()
    quals = ["".join(chr(33 + rng.randrange(20, 41)) for _ in range(READ_LEN)) for _ in range(4096)]
    starts = sorted(rng.randrange(1, a.contig_len - READ_LEN) for _ in range(a.reads))

    view = subprocess.Popen(["samtools", "view", "-b", "-@", "2", "-o", a.out, "-"], stdin=subprocess.PIPE,
                            text=True)
    w = view.stdin
    w.write(f"@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:{a.contig_len}\n@RG\tID:S1\tSM:SYNTHETIC\n")
    lines = []
    for i, pos in enumerate(starts):
        seq = ref[pos - 1:pos - 1 + READ_LEN]
        j = rng.randrange(READ_LEN)
        seq = seq[:j] + "ACGT"[(i + j) % 4] + seq[j + 1:]  # one mismatch (or none)
        lines.append(f"r{i}\t0\tchr1\t{pos}\t60\t{READ_LEN}M\t*\t0\t0\t{seq}\t{quals[i % 4096]}\tRG:Z:S1\n")
        if len(lines) == 10000:
            w.write("".join(lines))
            lines.clear()
    w.write("".join(lines))
    w.close()
    if view.wait() != 0:
        sys.exit("make_bam.py: samtools view failed")
    subprocess.run(["samtools", "index", a.out], check=True)
    with open(a.out.removesuffix(".bam") + ".regions", "w") as f:
        for _ in range(a.regions):
            s = rng.randrange(1, a.contig_len - a.region_len)
            f.write(f"chr1:{s}-{s + a.region_len - 1}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
