#!/usr/bin/env bash
# Fetch the guest binaries the demo and the tests boot, from Debian's
# archive by package name, into a cache the project owns
# (target/guest-assets, or $RINGVISOR_ASSETS):
#   vmlinuz        Debian's i686 kernel (the package linux-image-686:i386 depends on)
#   modules/       its modules (for drivers such as ata_piix)
#   busybox        busybox-static:i386
# Nothing is installed on the host: a private apt state is used, with the
# host's own Debian mirrors and keyring. Safe to run again: finished work
# is kept. The initramfs is built by `ringvisor initramfs` from these.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${RINGVISOR_ASSETS:-$root/target/guest-assets}
mkdir -p "$out"
if [[ -f $out/vmlinuz && -x $out/busybox && -f $out/.complete ]]; then
    echo "guest assets ready in $out"
    exit 0
fi

for tool in apt-get apt-cache dpkg-deb; do
    command -v "$tool" >/dev/null || { echo "guest-assets: '$tool' is needed (a Debian host)" >&2; exit 1; }
done

apt_dir=$out/apt
mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$apt_dir/sources.list" <<SRC
deb [arch=i386 signed-by=$keyring] http://deb.debian.org/debian $codename main
deb [arch=i386 signed-by=$keyring] http://deb.debian.org/debian $codename-updates main
deb [arch=i386 signed-by=$keyring] http://deb.debian.org/debian-security $codename-security main
SRC
opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State=$apt_dir/state"
    -o "Dir::State::status=$apt_dir/state/status"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Architecture=i386"
    -o "APT::Architectures::=i386"
    -o "Debug::NoLocking=1"
    -o "Acquire::Retries=3"
    -o "APT::Sandbox::User=root"
)
touch "$apt_dir/state/status"
# The security index sometimes fails to download while mirrors sync: go on
# with what arrived.
apt-get "${opts[@]}" -qq update || echo "guest-assets: apt-get update reported errors; continuing" >&2

# The current kernel package is whatever the metapackage depends on.
kpkg=$(apt-cache "${opts[@]}" depends linux-image-686 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n $kpkg ]] || { echo "guest-assets: cannot resolve linux-image-686 to a kernel package" >&2; exit 1; }
echo "kernel package: $kpkg"

cd "$apt_dir/debs"
apt-get "${opts[@]}" -qq download "$kpkg" busybox-static
kdeb=$(ls -1 "${kpkg}"_*.deb | head -n1)
bdeb=$(ls -1 busybox-static_*.deb | head -n1)

rm -rf "$out/kernel-root" "$out/busybox-root"
dpkg-deb -x "$kdeb" "$out/kernel-root"
dpkg-deb -x "$bdeb" "$out/busybox-root"
cp "$(ls -1 "$out"/kernel-root/boot/vmlinuz-* | head -n1)" "$out/vmlinuz"
rm -rf "$out/modules"
mv "$(ls -d "$out"/kernel-root/lib/modules/* | head -n1)" "$out/modules"
cp "$out/busybox-root/bin/busybox" "$out/busybox"
chmod +x "$out/busybox"
rm -rf "$out/kernel-root" "$out/busybox-root"
echo "$kpkg" > "$out/kernel-package"
touch "$out/.complete"
echo "guest assets ready in $out"
