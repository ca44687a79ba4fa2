# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Common settings and helpers for the scripts in this directory.  Source it;
# do not run it.
#
# Environment (all optional):
#   KVMQ_WORK   where trees, builds, caches and logs live
#               (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kvm-pfnwalk)
#   KVMQ_TREE   the kernel git tree to work in (default: $KVMQ_WORK/linux)
#   KVMQ_BASE   the base ref in that tree (default: v6.12.117)
#   KVMQ_JOBS   make -j value (default: nproc + 1)

KVMQ_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Whether the user named the tree (decided once, by the first script that
# sources this, and inherited by the scripts it runs).
KVMQ_TREE_GIVEN=${KVMQ_TREE_GIVEN-${KVMQ_TREE:+yes}}
KVMQ_WORK=${KVMQ_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-pfnwalk}
KVMQ_TREE=${KVMQ_TREE:-$KVMQ_WORK/linux}
case $KVMQ_TREE in /*) ;; *) KVMQ_TREE=$PWD/$KVMQ_TREE ;; esac
case $KVMQ_WORK in /*) ;; *) KVMQ_WORK=$PWD/$KVMQ_WORK ;; esac
KVMQ_BASE=${KVMQ_BASE:-v6.12.117}
KVMQ_JOBS=${KVMQ_JOBS:-$(( $(nproc) + 1 ))}
KVMQ_BASE_VERSION=6.12.117
export KVMQ_WORK KVMQ_TREE KVMQ_TREE_GIVEN KVMQ_BASE KVMQ_JOBS

# git in the kernel tree.
kgit()
{
	command git -C "$KVMQ_TREE" "$@"
}

PROG=${PROG:-$(basename "$0")}

die()
{
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

info()
{
	printf '%s: %s\n' "$PROG" "$*" >&2
}

need_cmd()
{
	local cmd=$1 pkg=$2

	command -v "$cmd" >/dev/null 2>&1 ||
		die "'$cmd' not found; install the Debian package '$pkg' (or run ci/install-deps)"
}

# The kernel architecture name used by Kbuild and the manifests.
check_arch()
{
	case $1 in
	x86_64|arm64) ;;
	*) die "unknown architecture '$1' (expected x86_64 or arm64)" ;;
	esac
}

# Makefile version of a tree at a ref: "6.12.117".
tree_version()
{
	git -C "$1" show "$2:Makefile" 2>/dev/null |
		awk -F' *= *' '/^VERSION/ {v=$2} /^PATCHLEVEL/ {p=$2}
			       /^SUBLEVEL/ {s=$2} /^EXTRAVERSION/ {exit}
			       END {if (v != "") printf "%s.%s.%s\n", v, p, s}'
}

# Fail unless KVMQ_TREE is a git tree whose KVMQ_BASE is Linux 6.12.117.
check_tree()
{
	local ver

	if ! kgit rev-parse --git-dir >/dev/null 2>&1; then
		[ -z "$KVMQ_TREE_GIVEN" ] ||
			die "KVMQ_TREE=$KVMQ_TREE is not a git tree; point it at a kernel tree with $KVMQ_BASE, or unset it to have scripts/base-tree make one"
		die "no kernel git tree at $KVMQ_TREE; run scripts/base-tree first (or set KVMQ_TREE)"
	fi
	kgit rev-parse -q --verify "$KVMQ_BASE^{commit}" >/dev/null ||
		if [ -n "$KVMQ_TREE_GIVEN" ]; then
			die "$KVMQ_TREE has no '$KVMQ_BASE'; fetch that tag into it, or set KVMQ_BASE to a ref of Linux $KVMQ_BASE_VERSION"
		else
			die "$KVMQ_TREE has no '$KVMQ_BASE'; remove it and run scripts/base-tree"
		fi
	ver=$(tree_version "$KVMQ_TREE" "$KVMQ_BASE")
	[ "$ver" = "$KVMQ_BASE_VERSION" ] ||
		die "$KVMQ_BASE in $KVMQ_TREE is Linux '${ver:-unknown}', not $KVMQ_BASE_VERSION"
}

# merged_maintainers TREE: TREE's MAINTAINERS with MAINTAINERS.snippet's
# entries (not its comments) appended: what get_maintainer.pl sees once the
# series lands.
merged_maintainers()
{
	cat "$1/MAINTAINERS"
	grep -v '^#' "$KVMQ_TOP/MAINTAINERS.snippet" || true
}

# Fail unless KVMQ_TREE has no uncommitted changes and no git am or rebase
# in progress: the scripts check out other commits in it.
check_tree_clean()
{
	local d

	for d in rebase-apply rebase-merge; do
		[ ! -d "$(kgit rev-parse --path-format=absolute --git-path "$d")" ] ||
			die "$KVMQ_TREE is in the middle of 'git am' or a rebase; finish or abort it first"
	done
	[ -z "$(kgit status --porcelain --untracked-files=no)" ] ||
		die "$KVMQ_TREE has uncommitted changes; commit or stash them first"
}

# Patch file names from the series file, in order, without comments.
series_patches()
{
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' \
		"$KVMQ_TOP/series"
}

# set_flavour FLAVOUR: for --debug, --kcsan and --trace, which pick a config overlay
# each (and exclude each other), and --base, the unpatched base, which goes
# with either: sets $flavour or $base, and $variant, the name of the build
# ("", base, debug, trace, base-debug or base-trace).
set_flavour()
{
	if [ "$1" = base ]; then
		base=1
	else
		[ -z "${flavour-}" ] || [ "$flavour" = "$1" ] ||
			die "--$flavour and --$1 exclude each other"
		flavour=$1
	fi
	# shellcheck disable=SC2034 # for the scripts that source this
	variant=${base:+base}${base:+${flavour:+-}}${flavour-}
}

# Where an architecture's kernel is built (build_dir ARCH VARIANT) and where
# its selftests and modules go.  The base's builds sit as far from
# base_src as the series' builds sit from $KVMQ_WORK/linux, so that with
# CCACHE_BASEDIR (kbuild_env) both compile with the same relative paths and
# share ccache's results: the base then builds from the cache of the per-patch
# gate's first build.  KVMQ_BUILD_SUFFIX (ci/test-gates: -gatetest) gives
# a caller build directories of its own beside those, at the same depth.
build_dir()
{
	case ${2-} in
	base|base-*) echo "$KVMQ_WORK/base/build/$1${2#base}" ;;
	*) echo "$KVMQ_WORK/build/$1${2:+-$2}${KVMQ_BUILD_SUFFIX-}" ;;
	esac
}
base_src() { echo "$KVMQ_WORK/base/linux"; }

# The arch/ directory of ARCH's kernel sources (kbuild's SRCARCH).
src_arch()
{
	case $1 in
	x86_64) echo x86 ;;
	arm64)  echo arm64 ;;
	esac
}

# Whether ARCH is the host's own architecture.
native_arch()
{
	case $1:$(uname -m) in
	x86_64:x86_64|arm64:aarch64) return 0 ;;
	*) return 1 ;;
	esac
}

# The compilers' prefix for ARCH: none for the host's own architecture;
# for the other, CROSS_COMPILE if it is set, else Debian's cross compiler's.
cross_prefix()
{
	native_arch "$1" && return
	if [ -n "${CROSS_COMPILE-}" ]; then
		echo "$CROSS_COMPILE"
		return
	fi
	case $1 in
	x86_64) echo x86_64-linux-gnu- ;;
	arm64)  echo aarch64-linux-gnu- ;;
	esac
}

# The clang that kbuild's LLVM (LLVM=1, LLVM=/PREFIX/ or LLVM=-SUFFIX) names.
llvm_clang()
{
	case $LLVM in
	*/) echo "${LLVM}clang" ;;
	-*) echo "clang$LLVM" ;;
	*)  echo clang ;;
	esac
}

# The C compiler for ARCH: with LLVM, CC if it is set, else llvm_clang
# (clang builds for every architecture); without, CC for the host's own
# architecture if it is set, else gcc with cross_prefix.  (CC names one
# compiler: it cannot build both architectures with gcc.)
target_cc()
{
	if [ -n "${LLVM-}" ]; then
		echo "${CC:-$(llvm_clang)}"
	elif [ -n "${CC-}" ] && native_arch "$1"; then
		echo "$CC"
	else
		echo "$(cross_prefix "$1")gcc"
	fi
}

# check_compiler ARCH: fail, saying what to install or set, unless ARCH's
# compiler (and, with LLVM, its linker) is there.
check_compiler()
{
	local cc tool

	cc=$(target_cc "$1")
	cc=${cc#ccache }
	cc=${cc%% *}
	case $cc in
	aarch64-linux-gnu-gcc) need_cmd "$cc" gcc-aarch64-linux-gnu ;;
	x86_64-linux-gnu-gcc) need_cmd "$cc" gcc-x86-64-linux-gnu ;;
	gcc) need_cmd gcc gcc ;;
	*)
		for tool in "$cc" ${LLVM:+"$(llvm_clang | sed 's/clang/ld.lld/')"}; do
			command -v "$tool" >/dev/null 2>&1 ||
				die "'$tool' not found (CC=${CC-} LLVM=${LLVM-} CROSS_COMPILE=${CROSS_COMPILE-}); install it or change those"
		done ;;
	esac
}

# kbuild_vars ARCH: set the array kvars to kbuild's variables for ARCH:
# ARCH, CROSS_COMPILE (cross_prefix; always given, so that the
# environment's cannot reach the host's own architecture's build), LLVM if
# it is set, and CC and HOSTCC (target_cc; HOSTCC if it is set, else gcc
# or, with LLVM, llvm_clang) through ccache, and KCFLAGS: the
# environment's, and on x86 x86_rep8's option.  The environment's CC would
# not reach kbuild: its Makefile sets CC itself, and only the command line
# overrides that.
kbuild_vars()
{
	local host kcflags=${KCFLAGS-}

	host=${HOSTCC:-gcc}
	[ -z "${LLVM-}" ] || host=${HOSTCC:-$(llvm_clang)}
	kvars=("ARCH=$1" "CROSS_COMPILE=$(cross_prefix "$1")")
	[ -z "${LLVM-}" ] || kvars+=("LLVM=$LLVM")
	kvars+=("CC=ccache $(target_cc "$1")" "HOSTCC=ccache $host")
	if [ "$1" = x86_64 ] && [[ " $kcflags " != *" -mstringop-strategy="* ]] &&
	   x86_rep8 "$(target_cc "$1")"; then
		kcflags="${kcflags:+$kcflags }-mstringop-strategy=rep_8byte"
	fi
	[ -z "$kcflags" ] || kvars+=("KCFLAGS=$kcflags")
}

# x86_rep8 CC: whether CC takes -mstringop-strategy=rep_8byte (gcc does,
# clang does not).  Every x86 kernel build gets
# it (kbuild_vars): at -Os gcc expands block copies and sets inline as
# 'rep movsb' or 'rep stosb', a memcpy() of unknown size among them, and
# QEMU's TCG runs those a byte an iteration.  copy_mc_to_kernel() is such
# a memcpy() on a CPU without ERMS (QEMU's EPYC model), and every COW copy
# goes through it: a 1G hugetlb COW took 74 s in the guest, mm/gup_longterm
# 332 s in all (42 s with the option, which copies eight bytes an
# iteration).  gcc refuses it for 32-bit code: the x86 configs leave
# IA32_EMULATION (the 32-bit vDSO) off.
x86_rep8()
{
	# shellcheck disable=SC2086 # CC may carry options
	${1#ccache } -mstringop-strategy=rep_8byte -E -x c /dev/null > /dev/null 2>&1
}

# Environment for every kernel build: the shared ccache, and a fixed build
# identity (better ccache hits, reproducible images).
kbuild_env()
{
	export CCACHE_DIR=${CCACHE_DIR:-$KVMQ_WORK/ccache}
	export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
	# Paths below KVMQ_WORK reach the compiler relative to the build
	# directory (diagnostics print them so, e.g. ../../linux/mm/gup.c).
	export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$KVMQ_WORK}
	export KBUILD_BUILD_USER=kvmq KBUILD_BUILD_HOST=qemu
	export KBUILD_BUILD_TIMESTAMP="Thu Jan  1 00:00:00 UTC 2026"
}

# kbuild OUT ARCH MAKE-ARGS...: make in KVMQ_TREE for ARCH, output in OUT,
# compilers through ccache.
kbuild()
{
	local out=$1 arch=$2 kvars

	shift 2
	kbuild_vars "$arch"
	make -C "$KVMQ_TREE" O="$out" -j"$KVMQ_JOBS" "${kvars[@]}" "$@"
}

# selftests_make ARCH DIR MAKE-ARGS...: make in the selftests directory DIR
# for ARCH, with ARCH, CROSS_COMPILE and LLVM as kbuild_vars gives them,
# and CC only if it was set (the selftests' lib.mk gives clang its
# --target itself); no ccache.
selftests_make()
{
	local arch=$1 dir=$2 cc=''

	shift 2
	{ [ -n "${LLVM-}" ] || native_arch "$arch"; } && cc=${CC-}
	make -C "$dir" -j"$KVMQ_JOBS" "ARCH=$arch" "CROSS_COMPILE=$(cross_prefix "$arch")" \
		${LLVM:+"LLVM=$LLVM"} ${cc:+"CC=$cc"} "$@"
}

# kvm_selftests_make ARCH OUT MAKE-ARGS...: make in the KVM selftests of
# KVMQ_TREE for ARCH, against the headers of the kernel built in OUT, into
# OUT/selftests, statically linked: scripts/build's selftests, and
# scripts/bench's program (bench/bench.mk) with the same flags and library.
kvm_selftests_make()
{
	local arch=$1 out=$2

	shift 2
	selftests_make "$arch" "$KVMQ_TREE/tools/testing/selftests/kvm" \
		OUTPUT="$out/selftests" KHDR_INCLUDES="-isystem $out/usr/include" \
		USERLDFLAGS=-static "$@"
}

# build_failed LOG WHAT: keep a copy of a failed step's LOG where no later
# build overwrites it ($KVMQ_WORK/logs/failed/), print the lines that say
# why (compiler and linker errors, modpost's ERROR:, make's own, a full
# disk) or else the log's last lines, then die naming both logs.
build_failed()
{
	local log=$1 what=$2 kept

	kept=$KVMQ_WORK/logs/failed/$(date +%Y%m%d-%H%M%S)-$$-${log##*/}
	mkdir -p "${kept%/*}" && cp "$log" "$kept" || kept=$log
	{
		echo "---- from $log:"
		grep -E -m 20 'error:|ERROR:|Error [0-9]+|undefined reference|[Nn]o space left|Killed|fatal:' "$log" ||
			tail -n 20 "$log"
		echo "----"
	} | cut -c1-300 >&2
	die "$what; full log: $kept"
}

# Kernel log lines that fail the test they appear in (guest-init reads the
# pattern from the initramfs, run-qemu quotes and allow-lists such lines):
# WARN, BUG (KCSAN's included), oopses, KASAN, UBSAN, lockdep, RCU stalls,
# hung tasks, atomic sleeps, panics.
# shellcheck disable=SC2034 # for run-qemu
KVMQ_SPLAT_RE='WARNING:|BUG:|Oops|general protection|KASAN|UBSAN|possible recursive locking|possible circular locking|suspicious RCU usage|sleeping function called|detected stall|blocked for more than|Kernel panic'

# summary_counts FILE: "PASSED FAILED SKIPPED" from FILE's last "N passed,
# N failed[, N skipped]" line (the closing line of run-qemu, ci/run and
# run-debug); nothing if it has none.
summary_counts()
{
	sed -n -E 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/p' "$1" |
		tail -n 1 | awk '{ print $1, $2, ($3 == "" ? 0 : $3) }'
}

kernel_image()
{
	case $1 in
	x86_64) echo arch/x86/boot/bzImage ;;
	arm64)  echo arch/arm64/boot/Image ;;
	esac
}

# The cover letter's subject, without the [PATCH n/N] prefix.
cover_subject()
{
	awk '/^Subject: / { s = $0; sub(/^Subject: \[[^]]*\] */, "", s); getline;
			    while (/^[ \t]/) { s = s $0; getline } print s; exit }' "$1"
}

# The cover letter's text: after the headers, up to the shortlog
# ("Name (N):") or base-commit, without trailing blank lines.
cover_blurb()
{
	awk 'body && /^[^ \t].* \([0-9]+\):$/ { exit }
	     body && /^base-commit: / { exit }
	     body { print }
	     !body && /^$/ { body = 1 }' "$1" |
		sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}'
}

# add_arch ARCH: check ARCH and add it to the array archs, once.
add_arch()
{
	check_arch "$1"
	[[ " ${archs[*]} " == *" $1 "* ]] || archs+=("$1")
}

# replay FILE RC: a command run before, as its output and exit code.
# shellcheck disable=SC2317 # called as a command
replay() { cat "$1"; return "$2"; }

# For the gates: parse "[-a ARCH]... [BRANCH]" into the arrays/variables
# archs (default: x86_64 arm64) and branch (default: kvmq), then check
# that the tree has BRANCH and no uncommitted changes.
parse_gate_args()
{
	archs=()
	while [ $# -gt 0 ]; do
		case $1 in
		-a) [ $# -ge 2 ] || usage; add_arch "$2"; shift ;;
		-h|--help) usage 0 ;;
		-*) usage ;;
		*) break ;;
		esac
		shift
	done
	[ $# -le 1 ] || usage
	branch=${1:-kvmq}
	[ ${#archs[@]} -gt 0 ] || archs=(x86_64 arm64)

	check_tree
	kgit rev-parse -q --verify "$branch^{commit}" >/dev/null ||
		die "no branch '$branch' in $KVMQ_TREE; run scripts/apply first"
	check_tree_clean
}
