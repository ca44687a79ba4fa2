# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# shellcheck disable=SC2154 # arch, manifest, tmo_scale, kernel_kind: run-qemu's
# run-qemu's manifest: parsing selftests/kvm/ARCH.manifest into the test
# table, and choosing the tests to run.  Source it after lib.sh; do not
# run it.  It reads $arch, $manifest, $tmo_scale (the debug kernels'
# factor on the time limits) and $kernel_kind (normal, debug or kcsan: the
# kernel booted, for the entries that name the kinds they run on) and fills:
#   groups             the parameter groups, in manifest order
#   gparams[G]         group G's module parameters, gcpu[G] its CPU features
#   t_expect[I] t_tmo[I] t_group[I] t_cmd[I] t_reason[I]
#                      test I: pass/skip/xfail, time limit (scaled), group,
#                      command, the entry's "# reason"
#   sel                the tests to run (select_tests), group by group

# CPU features a group adds to QEMU's CPU model: cpu=+FEAT[,+FEAT...].
# The guest checks that each is in /proc/cpuinfo (x86 drops la57 from it
# unless the kernel runs with 5-level paging).  x86 only: QEMU's arm64
# -cpu takes PROP=on|off, and arm64's cpuinfo names differ from QEMU's.
check_cpufeat()
{
	[ "$arch" = x86_64 ] ||
		die "$2: CPU features (cpu=, -C) are for x86_64 only"
	[[ "$1" =~ ^\+[a-z0-9_-]+(,\+[a-z0-9_-]+)*$ ]] ||
		die "$2: '$1' is not +FEATURE[,+FEATURE...]"
}

# A module parameter the guest loads KVM with, and checks, itself.
check_modparam()
{
	case $1 in
	kvm.?*=*|kvm_amd.?*=*|kvm_intel.?*=*|kvm-arm.?*=*) ;;
	*) die "$2: '$1' is not MODULE.PARAM=VALUE for kvm, kvm_amd, kvm_intel or kvm-arm" ;;
	esac
}

# group NAME [PARAM=VALUE ...]
# [kernels=KIND[,KIND...]] EXPECT TIMEOUT GROUP[,GROUP...]|all COMMAND... [# REASON]
declare -A gparams gcpu
groups=()
t_expect=() t_tmo=() t_group=() t_cmd=() t_reason=()

add_test()
{
	t_expect+=("$1") t_tmo+=("$2") t_group+=("$3") t_cmd+=("$4") t_reason+=("$5")
}

# $1's words, one space apart (and no pathname expansion of a '*' in it).
words()
{
	local w

	read -r -a w <<< "$1"
	echo "${w[*]}"
}

# The kinds of kernel an entry's kernels=KIND[,KIND...] may name: the normal
# one (scripts/build, also --trace's) and the debug and KCSAN ones.
kernel_kinds="normal debug kcsan"

# on_kernels LIST WHERE: whether the kernel booted is one of LIST's kinds.
on_kernels()
{
	local k kl found=''

	[ -n "$1" ] || die "$2: 'kernels=' names no kind ($kernel_kinds)"
	IFS=, read -r -a kl <<< "$1"
	for k in "${kl[@]}"; do
		[[ " $kernel_kinds " == *" $k "* ]] ||
			die "$2: unknown kernel kind '$k' in kernels= ($kernel_kinds)"
		[ "$k" != "$kernel_kind" ] || found=1
	done
	[ -n "$found" ]
}

# Two passes, so that "all" means every group, wherever it is defined.
parse_manifest()
{
	local pass n line body reason kw a b c cmd g gl p where keep

	for pass in groups tests; do
	n=0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		body=${line%%#*}
		reason=
		[ "$body" = "$line" ] || reason=$(echo "${line#*#}" | sed 's/^ *//; s/ *$//')
		read -r kw a b c <<< "$body" || true
		[ -n "$kw" ] || continue
		where="${manifest#"$KVMQ_TOP"/}:$n"
		keep=1
		if [[ $kw == kernels=* ]]; then
			# The entry is checked all the same, and left out of
			# the table unless the kernel is one of the kinds.
			on_kernels "${kw#kernels=}" "$where" || keep=''
			read -r kw a b c <<< "${body#*kernels=* }" || true
			case $kw in
			pass|skip|xfail) ;;
			*) die "$where: kernels= goes before pass, skip or xfail" ;;
			esac
		fi
		case $pass:$kw in
		tests:group) ;;
		groups:pass|groups:skip|groups:xfail) ;;
		groups:group)
			[ -n "$a" ] || die "$where: 'group' needs a name"
			[ -z "${gparams[$a]+set}" ] || die "$where: group '$a' defined twice"
			gparams[$a]='' gcpu[$a]=''
			for p in $b $c; do
				case $p in
				cpu=*)
					check_cpufeat "${p#cpu=}" "$where: $p"
					[ -z "${gcpu[$a]}" ] || die "$where: more than one cpu= in group '$a'"
					gcpu[$a]=${p#cpu=} ;;
				*)
					check_modparam "$p" "$where"
					gparams[$a]="${gparams[$a]:+${gparams[$a]} }$p" ;;
				esac
			done
			groups+=("$a")
			;;
		tests:pass|tests:skip|tests:xfail)
			case $a in
			''|*[!0-9]*) die "$where: timeout '$a' is not a number of seconds" ;;
			esac
			if [ -z "$b" ] || [ -z "$c" ]; then
				die "$where: expected '$kw TIMEOUT GROUPS COMMAND'"
			fi
			[ "$kw" = pass ] || [ -n "$reason" ] ||
				die "$where: a '$kw' entry needs a '# reason'"
			[ "$b" != all ] || b=$(IFS=,; echo "${groups[*]}")
			IFS=, read -r -a gl <<< "$b"
			cmd=$(words "$c")
			for g in "${gl[@]}"; do
				[ -n "${gparams[$g]+set}" ] ||
					die "$where: unknown group '$g' (define it with 'group' first)"
				[ -z "$keep" ] ||
					add_test "$kw" "$((a * tmo_scale))" "$g" "$cmd" "$reason"
			done
			;;
		*) die "$where: unknown keyword '$kw' (group, pass, skip or xfail)" ;;
		esac
	done < "$manifest"
	done
	[ ${#groups[@]} -gt 0 ] || die "$manifest defines no group"
}

# The -c COMMAND of run-qemu: one test, in a group of its own ("adhoc").
adhoc_test()
{
	local cmd=$1 params=$2 kparams=$3 cpu=$4 tmo=$5

	groups=(adhoc)
	gparams[adhoc]=$(echo "$params $kparams" | xargs) gcpu[adhoc]=$cpu
	add_test pass "$tmo" adhoc "$(words "$cmd")" ""
}

# select_tests GROUP REGEX: set sel to the tests of GROUP (or, if it is
# empty, of every group) whose "GROUP: COMMAND" matches REGEX (if it is not
# empty), group by group, in manifest order within a group.
select_tests()
{
	local only_group=$1 filter=$2 g i

	[ -z "$only_group" ] || [ -n "${gparams[$only_group]+set}" ] ||
		die "no group '$only_group' in $manifest"
	sel=()
	for g in "${groups[@]}"; do
		[ -z "$only_group" ] || [ "$g" = "$only_group" ] || continue
		for i in "${!t_cmd[@]}"; do
			[ "${t_group[$i]}" = "$g" ] || continue
			[ -z "$filter" ] || [[ "$g: ${t_cmd[$i]}" =~ $filter ]] || continue
			sel+=("$i")
		done
	done
	[ ${#sel[@]} -gt 0 ] || die "no test selected"
}
