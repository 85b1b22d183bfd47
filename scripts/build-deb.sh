#!/usr/bin/env bash
# Builds kura's Debian package from this tree and checks it with lintian.
#   scripts/build-deb.sh [OUT_DIR]      (make deb; OUT_DIR defaults to build/deb)
# dpkg-buildpackage writes its results next to the source tree, so the
# package is built from a copy of the tree's files inside OUT_DIR: the
# checkout's parent is never written to. Prints the .deb's path last.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
version=$(cat "$top/VERSION")
changelog_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
if [ "$changelog_version" != "$version" ]; then
  echo "build-deb: debian/changelog is at $changelog_version but VERSION says $version; add a changelog entry (dch -v $version)" >&2
  exit 1
fi

src=$out/kura-$version
rm -rf -- "$src"
mkdir -p -- "$src"
# The files git knows or would add (a checkout) or everything but build products (a tarball).
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$top" ls-files -z --cached --others --exclude-standard | tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -
else
  tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
  tail -n 40 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
deb=$out/kura_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb
# Every lintian override is justified in debian/kura.lintian-overrides.
lintian --fail-on error,warning "$deb" "$out"/kura_"${version}"_*.changes >&2
rm -rf -- "$src"
echo "$deb"
