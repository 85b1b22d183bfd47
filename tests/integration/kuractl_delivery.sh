#!/usr/bin/env bash
# kuractl delivery make (issue 20): a test delivery made offline with kura's
# own codec, encrypted to a dataset's delivery key or to the server key, is
# imported by dataset import and read back byte-exact through a mount; the
# server-key one decrypts with the independent decoder
# (tests/interop/c4gh_decrypt.py); an output never replaces a file; an
# operator through the daemon reads and writes with their own rights only;
# the PI may not run it.
. "$(dirname "$0")/lib.sh"

ID=JGAD000091
py=/usr/bin/python3   # Debian's, where python3-nacl is installed
for u in kt_alice kt_bob kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "bob listed" kuractl user add "$ID" kt_bob
mkdir -p "$T/data" "$T/deliv" "$T/outs"
head -c 200000 /dev/urandom >"$T/data/a.bin"
head -c 131072 /dev/urandom >"$T/data/b.bin"   # two whole segments
: >"$T/data/empty.bin"
chmod -R a+rX "$T/data"
require "mount" mount_kura "$T/mnt"

check_output "root makes a delivery to $ID's delivery key" "^$T/deliv/a.bin.c4gh: 200000 bytes encrypted to the delivery key of dataset $ID$" \
  kuractl delivery make --to "$ID" --out "$T/deliv" "$T/data/a.bin" "$T/data/b.bin" "$T/data/empty.bin"
check "... one FILE.c4gh per file" test -s "$T/deliv/b.bin.c4gh" -a -s "$T/deliv/empty.bin.c4gh"
check "... and no temporary left" test "$(ls -A "$T/deliv" | wc -l)" = 3
sum=$(sha256sum "$T/deliv/a.bin.c4gh")
check_output_fails "an existing output is never replaced" "a.bin.c4gh exists; a delivery never replaces a file" \
  kuractl delivery make --to "$ID" --out "$T/deliv" "$T/data/a.bin"
check "... it is unchanged" test "$(sha256sum "$T/deliv/a.bin.c4gh")" = "$sum"
check_output "without --out the output goes next to FILE, to the server key" "^$T/data/a.bin.c4gh: 200000 bytes encrypted to the current server key$" \
  kuractl delivery make --to server "$T/data/a.bin"
check "the server-key delivery decrypts with the independent decoder" \
  bash -c "'$py' '$KURA_TOP/tests/interop/c4gh_decrypt.py' --sk '$KROOT/lib/keys/server.sec' <'$T/data/a.bin.c4gh' | cmp -s - '$T/data/a.bin'"
check_fails "the dataset-key delivery does not open with the server key (it is the dataset's)" \
  bash -c "'$py' '$KURA_TOP/tests/interop/c4gh_decrypt.py' --sk '$KROOT/lib/keys/server.sec' <'$T/deliv/a.bin.c4gh' >/dev/null 2>&1"
check_output_fails "an unknown dataset is refused" "JGAD999999 has no key" kuractl delivery make --to JGAD999999 --out "$T/outs" "$T/data/b.bin"
check_output_fails "--to is needed (usage)" "--to is needed" kuractl delivery make "$T/data/b.bin"
check "... exit 2" bash -c "'$KURACTL' -c '$KCONF' delivery make '$T/data/b.bin' >/dev/null 2>&1; test \$? = 2"
check_output_fails "a directory is not a FILE" "is not a regular file" kuractl delivery make --to server --out "$T/outs" "$T/data"
mkfifo "$T/fifo"
check_output_fails "nor is a FIFO, refused without waiting for a writer" "fifo is not a regular file" \
  timeout 20 "$KURACTL" -c "$KCONF" delivery make --to server --out "$T/outs" "$T/fifo"
check "nothing was written by the refusals" test "$(ls -A "$T/outs" | wc -l)" = 0

# ---- import and read back through the mount ----
check "dataset import takes the deliveries" kuractl dataset import "$ID" "$T/deliv"
for f in a.bin b.bin empty.bin; do
  check "bob reads $f byte-exact through the mount" as kt_bob cmp -s "$T/mnt/$ID/$f" "$T/data/$f"
done
check_output "the import recorded the dataset's key" "dataset-import .*dataset key" kuractl ledger "$ID"

# ---- an operator through the daemon, with their own rights ----
mkdir -p "$T/op" && chown kt_op "$T/op"
check "operator op makes a delivery (relative path, through the daemon)" \
  bash -c "cd '$T/op' && cp '$T/data/b.bin' . && chown kt_op b.bin && setpriv --reuid=kt_op --regid=\$(id -g kt_op) --init-groups -- '$KURACTL' -c '$KCONF' delivery make --to '$ID' b.bin >/dev/null"
check "... written in op's directory, owned by op" test "$(stat -c %U "$T/op/b.bin.c4gh" 2>/dev/null)" = kt_op
# kuractl makes the paths it parses absolute; --out=DIR and a FILE after
# "--" reach the daemon as typed, and its working directory is not op's.
opctl() { bash -c "cd '$T/op' && setpriv --reuid=kt_op --regid=\$(id -g kt_op) --init-groups -- '$KURACTL' -c '$KCONF' $*"; }
check_output_fails "... a relative --out=DIR through the daemon is refused" "--out outs: give an absolute path to the daemon" \
  opctl delivery make --to "$ID" --out=outs b.bin
check_output_fails "... as is a relative FILE after --" "b.bin: give an absolute path to the daemon" \
  opctl delivery make --to "$ID" --out "$T/op" -- b.bin
check_output_fails "... who cannot encrypt a file they cannot read" "Permission denied" \
  as kt_op "$KURACTL" -c "$KCONF" delivery make --to server --out "$T/op" /etc/shadow
check "... so nothing of it is written" test ! -e "$T/op/shadow.c4gh"
check_output_fails "... nor write where they may not" "Permission denied" \
  as kt_op "$KURACTL" -c "$KCONF" delivery make --to server --out "$KROOT/lib" "$T/data/b.bin"
check_output_fails "the PI may not make deliveries" "only (an operator|operators)" \
  as kt_alice "$KURACTL" -c "$KCONF" delivery make --to "$ID" --out /tmp "$T/data/b.bin"

# The output is written with op's rights to the end, not root's: on a file
# system with half its blocks kept for root, op's delivery larger than what
# op may use fails (ENOSPC) and leaves nothing, as op's own cp does.
SMALL=$T/small
mkdir -p "$SMALL" && truncate -s 32M "$T/small.img" && mkfs.ext4 -q -m 50 "$T/small.img" &&
  mount -o loop "$T/small.img" "$SMALL" && on_exit "umount -l '$SMALL'"
require "a 32 MiB ext4 with half its blocks kept for root" mountpoint -q "$SMALL"
mkdir -p "$SMALL/op" && chown kt_op "$SMALL/op"
head -c 18000000 /dev/urandom >"$T/data/big.bin" && chmod 0644 "$T/data/big.bin"
check_fails "op's own cp of 18 MB does not fit in what op may use" as kt_op cp "$T/data/big.bin" "$SMALL/op/copy.bin"
rm -f "$SMALL/op/copy.bin"
check_output_fails "... nor does op's delivery of it through the daemon" "No space left" \
  as kt_op "$KURACTL" -c "$KCONF" delivery make --to "$ID" --out "$SMALL/op" "$T/data/big.bin"
check "... which leaves nothing behind" test -z "$(ls -A "$SMALL/op")"

stop_kura "$T/mnt"
done_testing
