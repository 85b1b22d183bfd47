#!/usr/bin/python3
"""Minimal, independent Crypt4GH v1 decoder, written from the GA4GH
specification (hts-specs crypt4gh.pdf) and the Crypt4GH key format, for
interop tests of kura's engine where the reference tool cannot be installed.
It shares no code with kura; crypto comes from Debian's python3-nacl
(libsodium) and hashlib.

    c4gh_decrypt.py --sk SECKEY [--passphrase-env VAR] <in.c4gh >out
    c4gh_decrypt.py --sk SECKEY [--passphrase-env VAR] --print-public-key

Exit status 0 on success, 1 with a message on stderr on any error
(bad key, no header packet for this key, authentication failure, truncation).
"""
import argparse
import base64
import hashlib
import os
import struct
import sys

from nacl.bindings import (crypto_aead_chacha20poly1305_ietf_decrypt,
                           crypto_scalarmult, crypto_scalarmult_base)
from nacl.exceptions import CryptoError

SEGMENT = 65536
NONCE, MAC = 12, 16


class Bad(Exception):
    pass


def aead_open(key, nonce_ct_mac):
    if len(nonce_ct_mac) < NONCE + MAC:
        raise Bad("ciphertext shorter than nonce + MAC")
    try:
        return crypto_aead_chacha20poly1305_ietf_decrypt(
            nonce_ct_mac[NONCE:], None, nonce_ct_mac[:NONCE], key)
    except CryptoError:
        raise Bad("authentication failed") from None


# ---- keys ---------------------------------------------------------------

def armoured(text, kind):
    lines = [l.strip() for l in text.strip().splitlines()]
    if lines[0] != f"-----BEGIN CRYPT4GH {kind} KEY-----" or \
       lines[-1] != f"-----END CRYPT4GH {kind} KEY-----":
        raise Bad(f"not a Crypt4GH {kind.lower()} key")
    return base64.b64decode("".join(lines[1:-1]), validate=True)


def read_string(blob, pos):
    if pos + 2 > len(blob):
        raise Bad("key truncated")
    (n,) = struct.unpack_from(">H", blob, pos)
    if pos + 2 + n > len(blob):
        raise Bad("key truncated")
    return blob[pos + 2:pos + 2 + n], pos + 2 + n


def secret_key(path, passphrase):
    """c4gh-v1 | kdf | [kdf options] | cipher | key data [| comment]"""
    blob = armoured(open(path).read(), "PRIVATE")
    if not blob.startswith(b"c4gh-v1"):
        raise Bad("secret key lacks the c4gh-v1 magic")
    kdf, pos = read_string(blob, 7)
    if kdf != b"none":
        options, pos = read_string(blob, pos)
        rounds, salt = struct.unpack(">I", options[:4])[0], options[4:]
    cipher, pos = read_string(blob, pos)
    data, pos = read_string(blob, pos)
    if kdf == b"none" and cipher == b"none":
        key = data
    elif cipher == b"chacha20_poly1305":
        if passphrase is None:
            raise Bad("secret key is passphrase-protected")
        pw = passphrase.encode()
        if kdf == b"scrypt":
            shared = hashlib.scrypt(pw, salt=salt, n=1 << 14, r=8, p=1, dklen=32)
        elif kdf == b"pbkdf2_hmac_sha256":
            shared = hashlib.pbkdf2_hmac("sha256", pw, salt, rounds, dklen=32)
        else:
            raise Bad(f"unsupported KDF {kdf.decode(errors='replace')}")
        try:
            key = aead_open(shared, data)
        except Bad:
            raise Bad("wrong passphrase or damaged secret key") from None
    else:
        raise Bad(f"unsupported key cipher {cipher.decode(errors='replace')}")
    if len(key) != 32:
        raise Bad("secret key is not 32 bytes")
    return key


# ---- header -------------------------------------------------------------

def shared_key(reader_sk, reader_pk, writer_pk):
    # spec: BLAKE2b-512(X25519(reader_sk, writer_pk) | reader_pk | writer_pk)[:32]
    dh = crypto_scalarmult(reader_sk, writer_pk)
    return hashlib.blake2b(dh + reader_pk + writer_pk, digest_size=64).digest()[:32]


def read_exact(f, n, what):
    b = f.read(n)
    if len(b) != n:
        raise Bad(f"{what} truncated")
    return b


def open_header(f, sk):
    magic, version, count = struct.unpack("<8sII", read_exact(f, 16, "header"))
    if magic != b"crypt4gh":
        raise Bad("not a Crypt4GH file (magic)")
    if version != 1:
        raise Bad(f"unsupported version {version}")
    pk = crypto_scalarmult_base(sk)
    keys, edits = [], None
    for _ in range(count):
        (length,) = struct.unpack("<I", read_exact(f, 4, "packet length"))
        if length < 4 + 4 + 32 + NONCE + MAC:
            raise Bad("header packet too short")
        body = read_exact(f, length - 4, "header packet")
        (method,) = struct.unpack_from("<I", body)
        if method != 0:
            continue  # not X25519 + ChaCha20-Poly1305: not for us
        try:
            plain = aead_open(shared_key(sk, pk, body[4:36]), body[36:])
        except Bad:
            continue  # another recipient's packet
        (ptype,) = struct.unpack_from("<I", plain)
        if ptype == 0:  # data encryption parameters
            if len(plain) != 40 or struct.unpack_from("<I", plain, 4)[0] != 0:
                raise Bad("bad data encryption packet")
            keys.append(plain[8:40])
        elif ptype == 1:  # data edit list
            if edits is not None:
                raise Bad("more than one edit list")
            (n,) = struct.unpack_from("<I", plain, 4)
            if len(plain) != 8 + 8 * n:
                raise Bad("bad edit list packet")
            edits = list(struct.unpack_from(f"<{n}Q", plain, 8))
        else:
            raise Bad(f"unknown packet type {ptype}")
    if not keys:
        raise Bad("no header packet opens with this key")
    return keys, edits


# ---- payload ------------------------------------------------------------

def segments(f, keys):
    while True:
        seg = f.read(NONCE + SEGMENT + MAC)
        if not seg:
            return
        for k in keys:
            try:
                yield aead_open(k, seg)
                break
            except Bad:
                pass
        else:
            raise Bad("segment fails authentication")
        if len(seg) < NONCE + SEGMENT + MAC:
            if f.read(1):
                raise Bad("short segment before the end")
            return


def apply_edits(chunks, edits):
    """Edit list: skip, keep, skip, keep, ... An odd-length list (ending on a
    skip) shows everything after it; an even-length one hides the rest."""
    if edits is None:
        yield from chunks
        return
    todo = list(edits)
    skipping = True
    for chunk in chunks:
        while chunk and todo:
            n = min(todo[0], len(chunk))
            if not skipping:
                yield chunk[:n]
            chunk = chunk[n:]
            todo[0] -= n
            if todo[0] == 0:
                todo.pop(0)
                skipping = not skipping
        if not todo:
            if skipping:
                return
            if chunk:
                yield chunk


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sk", required=True)
    ap.add_argument("--passphrase-env")
    ap.add_argument("--print-public-key", action="store_true")
    a = ap.parse_args()
    try:
        sk = secret_key(a.sk, os.environ.get(a.passphrase_env) if a.passphrase_env else None)
        if a.print_public_key:
            print(base64.b64encode(crypto_scalarmult_base(sk)).decode())
            return 0
        inp, out = sys.stdin.buffer, sys.stdout.buffer
        keys, edits = open_header(inp, sk)
        for chunk in apply_edits(segments(inp, keys), edits):
            out.write(chunk)
        out.flush()
        return 0
    except (Bad, ValueError, OSError) as e:
        print(f"c4gh_decrypt.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
