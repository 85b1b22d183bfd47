#!/usr/bin/env bash
# Installs, only if missing, the Debian packages kura builds, tests and demos with.
# Idempotent: a machine that has everything is left untouched (no apt-get call).
set -euo pipefail

packages=(
  # build
  make gcc clang libclang-rt-14-dev pkg-config
  libfuse3-dev libsodium-dev libacl1-dev libinih-dev libssl-dev
  # run
  fuse3 acl attr tzdata
  # tests and demo: real tools through the mount
  samtools bcftools tabix python3 util-linux procps psmisc
  python3-nacl   # tests/interop/c4gh_decrypt.py: independent Crypt4GH decoder
  rsync cpio zip openssh-sftp-server openssh-client e2fsprogs logrotate man-db
  # packaging (make deb, and the test that installs the package)
  debhelper dpkg-dev fakeroot lintian adduser
)
[ -n "${KURA_EXTRA_PACKAGES:-}" ] && read -r -a extra <<<"$KURA_EXTRA_PACKAGES" && packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
