#!/usr/bin/env bash
# Installs, only if missing, the Debian packages kura builds, tests and demos with.
# Idempotent: a machine that has everything is left untouched (no apt-get call).
set -euo pipefail

packages=(
  # build
  make gcc clang libclang-rt-14-dev pkg-config
  libfuse3-dev libsodium-dev libacl1-dev libinih-dev libssl-dev
  # run
  fuse3 acl attr tzdata bash-completion   # bash-completion loads completion/kuractl.bash
  # tests and demo: real tools through the mount
  samtools bcftools tabix python3 util-linux procps psmisc
  strace   # kills at a chosen system call (kuractl_keys.sh); a hostile tracer (security_hostile.sh)
  python3-nacl   # tests/interop/c4gh_decrypt.py: independent Crypt4GH decoder
  # tools that map files (mount_mmap.sh): numpy, R's vroom and readr, Java
  python3-numpy r-base-core r-cran-vroom r-cran-readr picard-tools default-jdk-headless
  rsync cpio zip openssh-sftp-server openssh-client e2fsprogs logrotate man-db
  # packaging (make deb, and the test that installs the package)
  debhelper dpkg-dev fakeroot lintian adduser
  # cluster mode (issue 19): libpq, and a private server each cluster test starts
  libpq-dev postgresql
)
[ -n "${KURA_EXTRA_PACKAGES:-}" ] && read -r -a extra <<<"$KURA_EXTRA_PACKAGES" && packages+=("${extra[@]}")

top=$(cd "$(dirname "$0")/.." && pwd)

# Prometheus' node exporter, for the metrics test (it reads kurafs' metrics
# file with its own parser). Installing its package would start a network
# service, so it is downloaded and unpacked under build/tools instead.
unpack_node_exporter() {
  local dest=$top/build/tools/prometheus-node-exporter tmp
  [ -x "$dest/usr/bin/prometheus-node-exporter" ] && return 0
  [ "$(id -u)" -eq 0 ] || { echo "install-deps: run as root to fetch prometheus-node-exporter" >&2; return 1; }
  tmp=$(mktemp -d /tmp/kura-deps.XXXXXX)
  chmod 0755 "$tmp" # apt's download user writes there
  local rc=0
  if (cd "$tmp" && { apt-get download prometheus-node-exporter >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get download prometheus-node-exporter >/dev/null; }; }); then
    mkdir -p "$dest" && dpkg-deb -x "$tmp"/prometheus-node-exporter_*.deb "$dest" || rc=1
  else
    echo "install-deps: cannot download prometheus-node-exporter (the metrics test needs it)" >&2
    rc=1
  fi
  rm -rf "$tmp"
  return $rc
}

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then unpack_node_exporter; exit; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
unpack_node_exporter
