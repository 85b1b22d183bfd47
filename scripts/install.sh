#!/usr/bin/env bash
# Installs kura, or removes exactly what an install added.
#   scripts/install.sh DESTDIR PREFIX BUILD_DIR      (make install)
#   scripts/install.sh --uninstall DESTDIR PREFIX    (make uninstall)
# DESTDIR may be empty (the live system).
#
# Installs:
#   PREFIX/bin/kurafs, PREFIX/bin/kuractl
#   PREFIX/share/man/man8/kurafs.8, kuractl.8; PREFIX/share/man/man5/kura.conf.5
#   PREFIX/share/bash-completion/completions/kuractl
#   PREFIX/lib/systemd/system/kurafs@.service   (ExecStart names PREFIX/bin/kurafs)
#   /etc/kura/kura.conf.example                 (every key, commented)
#   /etc/logrotate.d/kura
#   PREFIX/share/kura/installed                 (this install's manifest)
# /etc is /etc whatever PREFIX is: kura looks for /etc/kura/kura.conf, and
# logrotate reads /etc/logrotate.d. Never written: /etc/kura/kura.conf
# (`kuractl init` creates it; an operator's config is never replaced), the
# state, the keys and the logs. The manifest lists the files installed and
# the directories the install had to create, so uninstall removes those
# and nothing else.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

usage() {
  echo "usage: scripts/install.sh DESTDIR PREFIX BUILD_DIR | scripts/install.sh --uninstall DESTDIR PREFIX" >&2
  exit 2
}

uninstall=0
if [ "${1:-}" = --uninstall ]; then uninstall=1; shift; fi
[ $# -ge 2 ] || usage
destdir=${1%/}
prefix=${2%/}
case $prefix in /*) ;; *) echo "install.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 2 ;; esac

manifest=$prefix/share/kura/installed

# The relative files and where they go (paths without DESTDIR).
files() {
  cat <<EOF
bin/kurafs	$prefix/bin/kurafs	0755
bin/kuractl	$prefix/bin/kuractl	0755
man/kurafs.8	$prefix/share/man/man8/kurafs.8	0644
man/kuractl.8	$prefix/share/man/man8/kuractl.8	0644
man/kura.conf.5	$prefix/share/man/man5/kura.conf.5	0644
completion/kuractl.bash	$prefix/share/bash-completion/completions/kuractl	0644
systemd/kurafs@.service	$prefix/lib/systemd/system/kurafs@.service	0644
config/kura.conf.example	/etc/kura/kura.conf.example	0644
logrotate/kura	/etc/logrotate.d/kura	0644
EOF
}

if [ "$uninstall" = 1 ]; then
  if [ -f "$destdir$manifest" ]; then
    mapfile -t entries <"$destdir$manifest"
  else
    # No manifest (an install older than the manifest): the files only.
    echo "install.sh: no $destdir$manifest; removing the known files, no directories" >&2
    entries=()
    while IFS=$'\t' read -r _ dst _; do entries+=("f $dst"); done < <(files)
  fi
  for e in "${entries[@]}"; do
    [ "${e%% *}" = f ] || continue
    p=${e#f }
    if [ -e "$destdir$p" ] || [ -L "$destdir$p" ]; then rm -f -- "$destdir$p" && echo "removed $destdir$p"; fi
  done
  rm -f -- "$destdir$manifest"
  # Directories the install created, deepest first, if nothing else is in them.
  for ((i = ${#entries[@]} - 1; i >= 0; i--)); do
    e=${entries[i]}
    [ "${e%% *}" = d ] || continue
    d=$destdir${e#d }
    [ -d "$d" ] && rmdir -- "$d" 2>/dev/null && echo "removed $d/"
  done
  if [ -z "$destdir" ] && [ -e /etc/kura/kura.conf ]; then
    echo "kept /etc/kura/kura.conf and every state, key and log file (remove them by hand if you mean to)"
  fi
  exit 0
fi

[ $# -eq 3 ] || usage
build=${3%/}
for f in kurafs kuractl; do
  [ -x "$build/$f" ] || { echo "install.sh: $build/$f is missing; run make first" >&2; exit 1; }
done

[ -z "$destdir" ] || mkdir -p -- "$destdir"

# Directories created by an earlier install stay this install's to remove.
declare -A created=()
if [ -f "$destdir$manifest" ]; then
  while read -r kind p; do [ "$kind" = d ] && created[$p]=1; done <"$destdir$manifest"
fi
dir_order=()
for p in "${!created[@]}"; do dir_order+=("$p"); done

# make_dir PATH: mkdir -p under DESTDIR, remembering each directory it creates.
make_dir() {
  local p=$1 parts=() cur=""
  IFS=/ read -r -a parts <<<"${p#/}"
  for part in "${parts[@]}"; do
    cur=$cur/$part
    if [ ! -d "$destdir$cur" ]; then
      mkdir -m 0755 -- "$destdir$cur"
      created[$cur]=1
      dir_order+=("$cur")
    fi
  done
}

installed=()
while IFS=$'\t' read -r src dst mode; do
  case $src in bin/*) from=$build/${src#bin/} ;; *) from=$top/$src ;; esac
  make_dir "$(dirname "$dst")"
  tmp=$(mktemp "$destdir$(dirname "$dst")/.kura-install.XXXXXX")
  if [ "$src" = "systemd/kurafs@.service" ]; then
    sed "s|@BINDIR@|$prefix/bin|g" "$from" >"$tmp"
  else
    cat "$from" >"$tmp"
  fi
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "$destdir$dst"
  installed+=("$dst")
  echo "installed $destdir$dst"
done < <(files)

make_dir "$(dirname "$manifest")"
{
  printf 'f %s\n' "${installed[@]}"
  # Parents before children; uninstall walks them backwards.
  printf '%s\n' "${dir_order[@]}" | awk 'length' | sort -u | awk '{ print "d " $0 }'
} >"$destdir$manifest"
chmod 0644 "$destdir$manifest"

if [ -z "$destdir" ]; then
  cat <<EOF

Next (see docs/operator.md):
  kuractl init                                   # config, server key, log key
  systemctl daemon-reload
  systemctl enable --now kurafs@mnt-kura.service # mounts /mnt/kura
EOF
  case $prefix in
    /usr | /usr/local) ;;
    *) echo "note: systemd does not look in $prefix/lib/systemd/system; link the unit into /etc/systemd/system" ;;
  esac
fi
