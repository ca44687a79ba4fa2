# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # run-qemu's test table in, qemu, busybox,
# disk and accel out
# run-qemu's guest: QEMU and busybox for an architecture, the disk, the
# initramfs that holds guest-init, the modules and the selected selftests,
# and the accelerator.  Source it after lib.sh and manifest.sh; do not run
# it.

# guest_tools ARCH: set qemu and busybox for ARCH, failing with the package
# to install if either is missing.
guest_tools()
{
	case $1 in
	x86_64)
		qemu='qemu-system-x86_64'
		need_cmd "$qemu" qemu-system-x86
		busybox=${KVMQ_BUSYBOX:-/bin/busybox}
		[ -x "$busybox" ] || die "$busybox missing; install busybox-static"
		;;
	arm64)
		qemu='qemu-system-aarch64'
		need_cmd "$qemu" qemu-system-arm
		busybox=${KVMQ_BUSYBOX:-$KVMQ_WORK/busybox-arm64/bin/busybox}
		[ -x "$busybox" ] ||
			die "$busybox missing; run scripts/fetch-busybox-arm64 (Debian's busybox-static:arm64)"
		;;
	esac
	need_cmd cpio cpio
}

# guest_disk: set disk to the disk for tests that need writeback (tmpfs
# has none): XFS, which has large page cache folios in 6.12.  Made once;
# every boot writes to a throwaway overlay (snapshot=on), so each group
# starts from an empty one.  Two runs that start at once (ci/run's
# benchmark beside its selftests) take turns: the second finds the disk.
guest_disk()
{
	local lock

	disk=$KVMQ_WORK/xfs-disk.img
	[ ! -f "$disk" ] || return 0
	need_cmd mkfs.xfs xfsprogs
	exec {lock}>> "$disk.lock"
	flock "$lock"
	if [ ! -f "$disk" ]; then
		rm -f "$disk.tmp"
		{ truncate -s 1G "$disk.tmp" && mkfs.xfs -q "$disk.tmp" &&
		  mv "$disk.tmp" "$disk"; } ||
			die "cannot make the XFS disk image $disk"
	fi
	exec {lock}>&-
}

# make_initramfs ROOT MODLIB: ROOT.cpio, from a tree made in ROOT: busybox,
# scripts/guest-init as /init, the modules of MODLIB (a lib/ directory with
# modules/VERSION; none if empty), the splat pattern, and the selected
# tests' programs (from $st, or selftests/kvm/kvmq/ for "kvmq/NAME") with
# the plan guest-init runs: "ID GROUP TIMEOUT COMMAND" a line.
make_initramfs()
{
	local root=$1 modlib=$2 i bin src what

	rm -rf "$root" "$root.cpio"
	mkdir -p "$root/bin" "$root/kvmq/selftests"
	cp "$busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	cp "$KVMQ_TOP/scripts/guest-init" "$root/init"
	[ -z "$modlib" ] || cp -a "$modlib" "$root/"
	: > "$root/kvmq/plan"
	echo "$KVMQ_SPLAT_RE" > "$root/kvmq/splat_re"
	for i in "${sel[@]}"; do
		bin=${t_cmd[$i]%% *}
		# kvmq/NAME: a check of this repository's, selftests/kvm/kvmq/NAME.
		case $bin in
		kvmq/*) src=$KVMQ_TOP/selftests/kvm/$bin what="a check in $KVMQ_TOP/selftests/kvm/kvmq" ;;
		*) src=$st/$bin what="a built selftest in $st" ;;
		esac
		if [ ! -f "$src" ] || [ ! -x "$src" ]; then
			die "'$bin' (in '${t_cmd[$i]}') is not $what"
		fi
		mkdir -p "$root/kvmq/selftests/$(dirname "$bin")"
		cp "$src" "$root/kvmq/selftests/$bin"
		echo "$i ${t_group[$i]} ${t_tmo[$i]} ${t_cmd[$i]}" >> "$root/kvmq/plan"
	done
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 > "$root.cpio") ||
		die "cannot make the initramfs $root.cpio"
}

# guest_accel ARCH: set accel to kvm or tcg, and accel_why to why not kvm.
# KVMQ_ACCEL=tcg|kvm|auto (auto, the default: kvm where it can run the
# guest).  KVM can for an x86_64 guest on an x86_64 host whose /dev/kvm
# opens read-write, with AMD SVM and kvm_amd's nested virtualization on (the
# guest runs KVM itself, as kvm_amd: the manifests' parameters are
# kvm_amd's), and with every CPU feature the selected groups add (cpu=;
# -cpu host cannot add what the host lacks), and not with --icount (its
# instruction clock is TCG's) or --tcg-single.  An arm64 guest needs EL2,
# which QEMU gives only under TCG.
guest_accel()
{
	local want=${KVMQ_ACCEL:-auto} i f feats=''

	case $want in
	tcg|kvm|auto) ;;
	*) die "KVMQ_ACCEL must be tcg, kvm or auto, not '$want'" ;;
	esac
	accel=tcg accel_why="KVMQ_ACCEL=tcg"
	[ "$want" != tcg ] || return 0
	accel_why=''
	for i in "${sel[@]}"; do
		feats="$feats ${gcpu[${t_group[$i]}]//[+,]/ }"
	done
	if [ "$1" != x86_64 ]; then
		accel_why="an $1 guest needs EL2, which QEMU gives only under TCG"
	elif [ "$(uname -m)" != x86_64 ]; then
		accel_why="the host is not x86_64"
	elif [ -n "${icount-}" ]; then
		accel_why="--icount's clock counts TCG's instructions"
	elif [ -n "${tcg_single-}" ]; then
		accel_why="--tcg-single asks for TCG"
	elif ! [ -c /dev/kvm ] || ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
		accel_why="no /dev/kvm that this user can read and write"
	elif ! grep -q -w svm /proc/cpuinfo; then
		accel_why="the host CPU has no AMD SVM (the guest runs kvm_amd)"
	elif ! grep -q -x -E '1|Y' /sys/module/kvm_amd/parameters/nested 2>/dev/null; then
		accel_why="kvm_amd's nested virtualization is off (kvm_amd.nested=1)"
	else
		for f in $feats; do
			grep -q -w -- "$f" /proc/cpuinfo && continue
			accel_why="the host CPU has no $f, which a group adds"
			break
		done
	fi
	if [ -n "$accel_why" ]; then
		[ "$want" != kvm ] || die "KVMQ_ACCEL=kvm, but KVM cannot run the guest: $accel_why"
		return 0
	fi
	accel=kvm
}
