#!/usr/bin/env bash
# Build the BIOS-bootable guest images for ringvisor's SeaBIOS boot tests,
# cached in target/guest-assets/images (or $RINGVISOR_ASSETS/images):
#
#   initramfs-disk.cpio.gz  busybox + guest/init + the kernel modules the
#                           kernel needs to drive an IDE disk and an ATAPI
#                           CD-ROM itself (ata_piix, sd_mod, sr_mod, vfat,
#                           isofs, ...), listed in /etc/modules-load
#   disk.img                64 MiB raw hard disk: syslinux MBR, one active
#                           FAT16 partition at sector 2048 with SYSLINUX,
#                           vmlinuz, initramfs-disk.cpio.gz, syslinux.cfg
#                           and hello.txt
#   disk.qcow2              disk.img converted to qcow2 (qemu-img)
#   boot.iso                El Torito (no emulation) ISOLINUX CD with the
#                           same kernel and initramfs
#
# Everything is built from files, without loop mounts or root-only kernel
# features (CI containers may not allow them): sfdisk partitions the image
# file, mkfs.fat/mtools write the filesystem at its offset, and the mtools
# flavour of the syslinux installer installs the boot loader into it.
#
# Safe to run again: the images are rebuilt only when one of their inputs
# (kernel, modules, busybox, guest/init, this script) changed; a stamp file
# with their checksums records what the cached images were built from.
#
# Environment: RINGVISOR_ASSETS (asset cache), RINGVISOR_BIN (the
# ringvisor binary used for `ringvisor initramfs`; default
# target/release/ringvisor, built if missing).
set -euo pipefail

die() { echo "guest-images: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/guest-assets.sh"

assets=${RINGVISOR_ASSETS:-$root/target/guest-assets}
images=$assets/images
init=$root/guest/init
self=$root/scripts/guest-images.sh
for f in "$assets/vmlinuz" "$assets/busybox" "$assets/modules/modules.builtin" "$init"; do
    [[ -f $f ]] || die "$f is missing (scripts/guest-assets.sh should have made it)"
done

# ---------------------------------------------------------------------------
# Host tools: install the Debian packages that provide them when missing.
# ---------------------------------------------------------------------------
find_first() { # the first existing file among the arguments
    local f
    for f in "$@"; do [[ -f $f ]] && { echo "$f"; return 0; }; done
    return 1
}
find_boot_files() {
    mbr_bin=$(find_first /usr/lib/syslinux/mbr/mbr.bin /usr/lib/SYSLINUX/mbr.bin /usr/share/syslinux/mbr.bin) || return 1
    ldlinux_c32=$(find_first /usr/lib/syslinux/modules/bios/ldlinux.c32 /usr/lib/syslinux/ldlinux.c32 /usr/share/syslinux/ldlinux.c32) || return 1
    isolinux_bin=$(find_first /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/isolinux.bin /usr/share/syslinux/isolinux.bin) || return 1
}
have_tools() {
    local t
    for t in sfdisk mkfs.fat mcopy mdir syslinux xorriso sha256sum qemu-img; do
        command -v "$t" >/dev/null || return 1
    done
    # SeaBIOS and its VGA BIOS: the firmware `ringvisor run` boots
    # without --kernel.
    [[ -f /usr/share/seabios/bios.bin && -f /usr/share/seabios/vgabios-stdvga.bin ]] || return 1
    find_boot_files
}
packages=(syslinux syslinux-common isolinux mtools xorriso fdisk dosfstools seabios qemu-utils)
if ! have_tools; then
    [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null ||
        die "missing host tools; install (as root): apt-get install ${packages[*]}"
    echo "guest-images: installing host tools: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${packages[@]}"; then
        # A fresh container has no package lists yet. The security index
        # sometimes fails while mirrors sync: go on with what arrived.
        apt-get update -qq || echo "guest-images: apt-get update reported errors; continuing" >&2
        apt-get install -y -qq --no-install-recommends "${packages[@]}" ||
            die "cannot install ${packages[*]}"
    fi
    have_tools || die "host tools still missing after installing ${packages[*]}"
fi

# ---------------------------------------------------------------------------
# Up to date? The stamp holds the checksums of every input.
# ---------------------------------------------------------------------------
stamp_text() {
    (cd "$assets" && sha256sum vmlinuz busybox modules/modules.order)
    sha256sum "$init" "$self" | sed "s|$root/||"
}
want_stamp=$(stamp_text)
outputs=(initramfs-disk.cpio.gz disk.img disk.qcow2 boot.iso)
if [[ -f $images/.stamp ]] && [[ "$(cat "$images/.stamp")" == "$want_stamp" ]]; then
    complete=1
    for o in "${outputs[@]}"; do [[ -f $images/$o ]] || complete=0; done
    if ((complete)); then
        echo "guest images ready in $images"
        exit 0
    fi
fi

ringvisor=${RINGVISOR_BIN:-$root/target/release/ringvisor}
if [[ ! -x $ringvisor ]]; then
    [[ -z ${RINGVISOR_BIN:-} ]] || die "RINGVISOR_BIN=$ringvisor is not executable"
    echo "guest-images: building ringvisor (for \`ringvisor initramfs\`)"
    (cd "$root" && cargo build --release -p ringvisor)
fi

# Work in a scratch directory; finished images are moved into place at the
# end, so an interrupted run never leaves a half-written image behind.
mkdir -p "$images"
work=$images/.work
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
rm -f "$images/.stamp"

# ---------------------------------------------------------------------------
# 1. initramfs-disk.cpio.gz
# ---------------------------------------------------------------------------
mods=$assets/modules
# The kernel release (what `uname -r` says) from a module's vermagic.
some_ko=$(find "$mods/kernel" -name '*.ko' -print -quit)
[[ -n $some_ko ]] || die "no .ko files under $mods/kernel"
kver=$(tr '\0' '\n' <"$some_ko" | sed -n 's/^vermagic=\([^ ]*\).*/\1/p' | head -n1)
[[ -n $kver ]] || die "cannot read the kernel release from $some_ko"

# Module name -> path (relative to lib/modules/<kver>). Names are compared
# with '-' and '_' folded, as the kernel and modprobe do.
declare -A ko_path=() builtin=()
while IFS= read -r rel; do
    name=${rel##*/}
    name=${name%.ko}
    ko_path[${name//-/_}]=$rel
done < <(cd "$mods" && find kernel -name '*.ko')
while IFS= read -r rel; do
    name=${rel##*/}
    name=${name%.ko}
    builtin[${name//-/_}]=1
done <"$mods/modules.builtin"

# A field of a module's .modinfo (NUL-separated key=value strings).
modinfo_field() { tr '\0' '\n' <"$mods/$1" | sed -n "s/^$2=//p"; }

# A name that is no module file may be an alias (softdeps such as
# "crct10dif" name crypto algorithms): find the module declaring it.
alias_module() {
    local f
    while IFS= read -r f; do
        if tr '\0' '\n' <"$mods/$f" | grep -qxF "alias=$1"; then
            f=${f##*/}
            f=${f%.ko}
            echo "${f//-/_}"
            return 0
        fi
    done < <(cd "$mods" && grep -rlaF --include='*.ko' "alias=$1" kernel)
    return 1
}

# Depth-first walk of the dependencies (modinfo "depends", which is what
# depmod writes to modules.dep, plus "softdep pre:"), appending modules in
# post-order: every module comes after everything it needs.
declare -A seen=() deps_of=()
order=()
add_module() { # name, required (1) or optional soft dependency (0)
    local key=${1//-/_} required=$2 rel d deps soft
    [[ -n ${seen[$key]:-} ]] && return 0
    seen[$key]=1
    if [[ -n ${builtin[$key]:-} ]]; then
        echo "  $1: built into the kernel"
        return 0
    fi
    rel=${ko_path[$key]:-}
    if [[ -z $rel ]]; then
        if ((!required)); then
            if key=$(alias_module "$1") && [[ -z ${seen[$key]:-} ]]; then
                add_module "$key" 0
            fi
            return 0
        fi
        die "module $1 not found in $mods (neither a .ko file nor built in)"
    fi
    deps=$(modinfo_field "$rel" depends | tr ',' ' ')
    soft=$(modinfo_field "$rel" softdep | sed -n 's/^pre: *//p' | sed 's/ post:.*//')
    for d in $soft; do add_module "$d" 0; done
    for d in $deps; do add_module "$d" 1; done
    deps_of[$key]=$deps
    order+=("$key")
}

# What the tests need: the PIIX IDE controller (a disk on the primary and
# the CD-ROM on the secondary channel), SCSI disk and CD-ROM drivers, and
# the filesystems of disk.img (FAT16 with long names: vfat, codepage 437,
# iocharset ascii by this kernel's configuration; iso8859-1 and utf8 for
# mount options) and of boot.iso (iso9660 with Rock Ridge and Joliet).
wanted=(ata_piix sd_mod sr_mod cdrom isofs vfat nls_cp437 nls_ascii nls_iso8859-1 nls_utf8)
echo "guest-images: kernel $kver; resolving modules: ${wanted[*]}"
for m in "${wanted[@]}"; do add_module "$m" 1; done

# Transitive dependencies of a module, nearest first (the modules.dep
# convention: modprobe loads them from the end of the list).
all_deps() {
    local -A got=()
    local out=() queue=(${deps_of[$1]//-/_}) d
    while ((${#queue[@]})); do
        d=${queue[0]}
        queue=("${queue[@]:1}")
        d=${d//-/_}
        [[ -n ${got[$d]:-} || -z ${ko_path[$d]:-} || -n ${builtin[$d]:-} ]] && continue
        got[$d]=1
        out+=("${ko_path[$d]}")
        queue+=(${deps_of[$d]:-})
    done
    echo "${out[*]}"
}

initrd_args=()
stage=$work/initramfs
mkdir -p "$stage"
: >"$stage/modules-load"
: >"$stage/modules.dep"
for key in "${order[@]}"; do
    rel=${ko_path[$key]}
    echo "  $key: $rel"
    initrd_args+=(--add "$mods/$rel:/lib/modules/$kver/$rel")
    echo "/lib/modules/$kver/$rel" >>"$stage/modules-load"
    echo "$rel: $(all_deps "$key")" | sed 's/ $//' >>"$stage/modules.dep"
done
# modules.dep (and the builtin list) let busybox's modprobe, which the
# kernel runs for on-demand loads, find these modules by name too.
initrd_args+=(--add "$stage/modules.dep:/lib/modules/$kver/modules.dep")
initrd_args+=(--add "$mods/modules.builtin:/lib/modules/$kver/modules.builtin")
initrd_args+=(--add "$stage/modules-load:/etc/modules-load")
"$ringvisor" initramfs --busybox "$assets/busybox" --init "$init" "${initrd_args[@]}" \
    -o "$work/initramfs-disk.cpio.gz"

# ---------------------------------------------------------------------------
# Boot loader configuration (shared by the disk and the CD)
# ---------------------------------------------------------------------------
# Boot at once (PROMPT 0, no timeout). SAY prints a line on the screen (and
# the serial port) so that a VGA-text test can see the boot loader ran;
# SERIAL mirrors the boot loader's console on COM1 too.
append="console=ttyS0 panic=-1"
bootcfg() { # which (disk|cd)
    cat <<CFG
SERIAL 0 115200
SAY ringvisor-$1: booting Linux
PROMPT 0
TIMEOUT 0
DEFAULT linux
LABEL linux
  KERNEL /vmlinuz
  INITRD /initramfs-disk.cpio.gz
  APPEND $append
CFG
}
hello_line="hello from the ringvisor test image"
echo "$hello_line" >"$work/hello.txt"

# ---------------------------------------------------------------------------
# 2. disk.img: MBR + one active FAT16 partition with SYSLINUX
# ---------------------------------------------------------------------------
disk_mib=64
part_start=2048                                   # sectors (1 MiB alignment)
part_sectors=$((disk_mib * 2048 - part_start))    # to the end of the disk
part_offset=$((part_start * 512))
disk=$work/disk.img
truncate -s "${disk_mib}M" "$disk"
# Type 0x06 (FAT16, > 32 MiB), active. A fixed disk identifier keeps the
# image the same from one build to the next.
sfdisk --quiet --no-reread --no-tell-kernel "$disk" <<PT
label: dos
label-id: 0x52564d31
unit: sectors
start=$part_start, size=$part_sectors, type=6, bootable
PT
# The syslinux MBR (boot code only: the first 440 bytes, before the disk
# identifier and the partition table) chain-loads the active partition.
dd if="$mbr_bin" of="$disk" bs=440 count=1 conv=notrunc status=none
# The filesystem, written straight into the partition. Hidden sectors =
# partition start: the FAT boot sector SYSLINUX installs relies on it.
mkfs.fat -F 16 -n RINGVISOR -i 52564d31 -h "$part_start" --offset "$part_start" \
    "$disk" $((part_sectors / 2)) >/dev/null
export MTOOLS_SKIP_CHECK=1
img="$disk@@$part_offset"
bootcfg disk >"$work/syslinux.cfg"
mcopy -i "$img" "$assets/vmlinuz" "$work/initramfs-disk.cpio.gz" "$work/syslinux.cfg" \
    "$work/hello.txt" ::/
# The syslinux installer (mtools flavour) writes ldlinux.sys and
# ldlinux.c32 and the partition boot sector, working on the image file.
syslinux --install --offset "$part_offset" "$disk"
mdir -i "$img" ::/ >/dev/null || die "the FAT filesystem in $disk is unreadable"
# The same disk as qcow2 (QEMU's tool writes it): the qcow2 boot test
# writes to it, which allocates clusters through ringvisor's qcow2 driver.
qemu-img convert -q -f raw -O qcow2 "$disk" "$work/disk.qcow2"

# ---------------------------------------------------------------------------
# 3. boot.iso: ISOLINUX, El Torito no-emulation boot
# ---------------------------------------------------------------------------
iso=$work/iso
mkdir -p "$iso/isolinux"
cp "$isolinux_bin" "$ldlinux_c32" "$iso/isolinux/"
bootcfg cd >"$iso/isolinux/isolinux.cfg"
cp "$assets/vmlinuz" "$work/initramfs-disk.cpio.gz" "$work/hello.txt" "$iso/"
# Rock Ridge keeps the long file names (ISOLINUX reads them); Joliet too.
# -boot-info-table: isolinux.bin needs its own location patched in.
xorriso -as mkisofs -quiet -o "$work/boot.iso" -V RINGVISOR -R -J \
    -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table "$iso"

# ---------------------------------------------------------------------------
# Into place, stamp last.
# ---------------------------------------------------------------------------
for o in "${outputs[@]}"; do mv -f "$work/$o" "$images/$o"; done
echo "$want_stamp" >"$images/.stamp"
echo "guest images ready in $images:"
echo "  initramfs-disk.cpio.gz  $(stat -c %s "$images/initramfs-disk.cpio.gz") bytes, ${#order[@]} modules"
echo "  disk.img                ${disk_mib} MiB, FAT16 partition 1 at sector $part_start (byte $part_offset)"
echo "  disk.qcow2              the same disk as qcow2 ($(stat -c %s "$images/disk.qcow2") bytes)"
echo "  boot.iso                $(stat -c %s "$images/boot.iso") bytes"
