#!/usr/bin/env python3
"""Makes a small synthetic JGA-style dataset: no real person's data.

    make-synthetic-data.py OUTDIR [--reads N] [--marker TEXT]

Writes OUTDIR/{JGAS00000N.bam,.bai,.summary.txt for N = 1, 2, cohort.vcf.gz,.tbi,
samples.tsv, README.txt}. Reads and variants are pseudo-random but
deterministic (fixed seed), on one made-up 200 kb contig "chr1". The marker
text is planted in read names and a VCF header line so tests can grep for
plaintext leaks.
"""
import argparse
import os
import random
import subprocess
import sys

CONTIG_LEN = 200_000


def reference(rng):
    return "".join(rng.choice("ACGT") for _ in range(CONTIG_LEN))


def write_sam(path, ref, sample, nreads, marker, rng):
    with open(path, "w") as f:
        f.write("@HD\tVN:1.6\tSO:coordinate\n")
        f.write(f"@SQ\tSN:chr1\tLN:{CONTIG_LEN}\n")
        f.write(f"@RG\tID:{sample}\tSM:{sample}\tPL:ILLUMINA\n")
        f.write(f"@CO\t{marker}\n")
        starts = sorted(rng.randrange(1, CONTIG_LEN - 150) for _ in range(nreads))
        for i, pos in enumerate(starts):
            seq = list(ref[pos - 1:pos - 1 + 100])
            for _ in range(rng.randrange(0, 3)):  # a few mismatches
                j = rng.randrange(100)
                seq[j] = rng.choice("ACGT")
            qual = "".join(chr(33 + rng.randrange(20, 41)) for _ in range(100))
            name = f"{marker}_{sample}_{i}"
            f.write(f"{name}\t0\tchr1\t{pos}\t60\t100M\t*\t0\t0\t{''.join(seq)}\t{qual}\tRG:Z:{sample}\n")


def write_vcf(path, ref, samples, marker, rng):
    with open(path, "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        f.write(f"##contig=<ID=chr1,length={CONTIG_LEN}>\n")
        f.write(f"##kura_marker={marker}\n")
        f.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n")
        for pos in sorted(rng.sample(range(1, CONTIG_LEN), 2000)):
            refb = ref[pos - 1]
            alt = rng.choice([b for b in "ACGT" if b != refb])
            gts = "\t".join(rng.choice(["0/0", "0/1", "1/1"]) for _ in samples)
            f.write(f"chr1\t{pos}\t.\t{refb}\t{alt}\t50\tPASS\t.\tGT\t{gts}\n")


def run(*cmd):
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--marker", default="KURA_SYNTHETIC_MARKER_7f3a")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(20261122)
    ref = reference(rng)
    samples = ["JGAS000001", "JGAS000002"]
    for s in samples:
        sam = os.path.join(a.outdir, s + ".sam")
        bam = os.path.join(a.outdir, s + ".bam")
        write_sam(sam, ref, s, a.reads, a.marker, rng)
        run("samtools", "view", "-b", "-o", bam, sam)
        run("samtools", "index", bam)
        os.unlink(sam)
        # Uncompressed text, so a leak scan can find the marker in any copy.
        with open(os.path.join(a.outdir, s + ".summary.txt"), "w") as f:
            for i in range(2000):
                f.write(f"{a.marker}\t{s}\tline {i}\n")
    vcf = os.path.join(a.outdir, "cohort.vcf")
    write_vcf(vcf, ref, samples, a.marker, rng)
    run("bgzip", "-f", vcf)
    run("tabix", "-p", "vcf", vcf + ".gz")
    with open(os.path.join(a.outdir, "samples.tsv"), "w") as f:
        f.write("# path<TAB>sample_id\n")
        for s in samples:
            f.write(f"{s}.bam\t{s}\n{s}.bam.bai\t{s}\n{s}.summary.txt\t{s}\n")
            f.write(f"cohort.vcf.gz\t{s}\ncohort.vcf.gz.tbi\t{s}\n")
    with open(os.path.join(a.outdir, "README.txt"), "w") as f:
        f.write("Synthetic data made by kura's scripts/make-synthetic-data.py; no real person's data.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
