// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_fault_bench - what KVM's guest page faults and zaps cost the host
 *
 * Built by scripts/bench against the KVM selftest library of the series'
 * tree and run, on the unpatched base kernel and on the series' kernel in
 * turn, in QEMU with -icount shift=0,sleep=off and one vCPU.  There the
 * guest's CLOCK_MONOTONIC advances one nanosecond per instruction, so what
 * this prints as "insn" is a count of instructions executed by the QEMU
 * guest (the KVM host), repeatable to a few hundredths of a percent.  It
 * measures path length only: atomics, cache misses and the hardware cost of
 * a VM exit are invisible to it.
 *
 * -w costs (default): one guest region of -b bytes backed by -s, in a
 * memslot of its own at a 1G-aligned GPA, at a host address aligned to 2M
 * (or the backing's page size, if larger) as QEMU aligns guest RAM, so that
 * KVM may map huge pages where the host does.  The guest writes one word in
 * every host page of it (every 2M of a 1G page) and exits with a ucall (a
 * "pass").  Before anything is measured, a warm-up pass through a scratch
 * memslot of the same backing at the same GPA faults in the guest's code,
 * stack and page tables, and leaves KVM's page tables as the region will
 * need them; the scratch memslot goes, and afterwards every fault a pass
 * takes is one of the region's.  On x86 the KVM_X86_QUIRK_SLOT_ZAP_ALL
 * quirk is disabled, so that deleting the memslot zaps the region's SPTEs
 * only, as arm64 always does.  In order:
 *
 *   first        the host populated the region before the vCPU ran: the
 *                first guest touch (the reference-free walker's path)
 *   (mapped)     everything is mapped: the pass's own cost (the lower of
 *                two), which is subtracted from every other pass
 *   zap-memslot  delete the memslot, per SPTE; the first delete and the
 *                median of the later ones
 *   refault      re-add the memslot and touch again: the first round and
 *                the median of the later rounds (-r rounds in all)
 *   zap-dontneed MADV_DONTNEED of the mapped region, per SPTE
 *   zap-munmap   munmap() of the mapped region, per SPTE
 *   fresh        new memory the host has not populated: the host
 *                allocates on the fault path; the median of -r rounds (a
 *                pass of 2M faults is a few timer ticks long, and what one
 *                tick happened to run moved a single pass by up to 0.4%)
 *
 * Faults are counted by the vCPU stat pf_taken on x86, and on arm64 by the
 * stat "exits" less the pass's ucall exit; zaps are divided by the faults
 * of the pass that mapped the region.
 *
 * -w contend: -v vCPUs write interleaved 4K pages of host-populated THPs
 * whose memslot is misaligned with them (hva = gpa + 4K modulo 2M), so KVM
 * maps every 4K page of a folio separately and the vCPUs' faults meet on
 * the folio's refcount where a reference is taken.  Wall-clock time, for
 * QEMU without icount: noisy.
 *
 * -w lookup: one host lookup alone, timed by the kvmq_lookup_bench module
 * (its debugfs file; loaded with modprobe if it is not): GUP-fast plus put_page(), a level-only walk like
 * x86's host_pfn_mapping_level(), both, and follow_user_pfn_lockless()
 * where the kernel has it.
 *
 * -T: on a kernel with the function tracer and CONFIG_DEBUG_PAGE_REF, also
 * count, for each measured pass and zap, the host page-table walks and the
 * page reference gets and puts this process did (tracefs, this pid only) on
 * the region's pages (those it maps before or after, by pagemap).
 *
 * Every result is a line "KVMQ-BENCH WORKLOAD BACKING VALUE UNIT [k=v]...",
 * every count a line "KVMQ-COUNT WORKLOAD BACKING faults=N FUNC=N ...".
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/sizes.h>

#include "kvm_util.h"
#include "test_util.h"
#include "ucall_common.h"
#include "processor.h"

#define BENCH_SLOT	1
#define BENCH_GVA	0xc0000000ul	/* 1G-aligned, as memstress uses */
#define TOUCH_STRIDE	0x1000ul

/* What the guest loop touches; set by the host before each VM runs. */
static uint64_t guest_gva;
static uint64_t guest_size;
static uint64_t guest_nr_vcpus;
static uint64_t guest_stride = TOUCH_STRIDE;

static void guest_code(uint64_t idx)
{
	uint64_t pass, off, stride;

	for (pass = 1;; pass++) {
		stride = READ_ONCE(guest_stride) * guest_nr_vcpus;
		for (off = idx * TOUCH_STRIDE; off < guest_size; off += stride)
			*(volatile uint64_t *)(guest_gva + off) = pass;
		GUEST_SYNC(pass);
	}
}

static enum vm_mem_backing_src_type src = VM_MEM_SRC_ANONYMOUS;
static uint64_t region_size = 64ul << 20;
static int rounds = 3;
static bool trace_counts;

/*
 * The pfns of the measured region, before and after a traced pass or zap:
 * only references on them are counted, not those on page tables (arm64's
 * stage-2 tables count their live entries in their page's reference count)
 * or on pages the bench's own thread faults in on the host meanwhile.
 */
static void *traced_hva;
static uint64_t *traced_pfns;
static size_t nr_traced_pfns, max_traced_pfns;

/* --- the guest region, backed by memory this program maps itself ---------- */

struct region {
	void *map;		/* what mmap() returned */
	size_t map_size;
	void *hva;		/* the memslot's userspace_addr */
	int fd;
};

static size_t backing_pagesz(void)
{
	return get_backing_src_pagesz(src);
}

/*
 * Map -b bytes of -s at an address aligned to 2M or the backing's page size,
 * if larger, plus @misalign bytes (contend only).
 */
static void region_map(struct region *r, size_t misalign)
{
	size_t align = backing_pagesz() > SZ_2M ? backing_pagesz() : SZ_2M;
	int flags = vm_mem_backing_src_alias(src)->flag;

	r->fd = -1;
	if (backing_src_is_shared(src))
		r->fd = kvm_memfd_alloc(region_size + align + misalign,
					src == VM_MEM_SRC_SHARED_HUGETLB);
	r->map_size = region_size + align + misalign;
	r->map = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, flags, r->fd, 0);
	TEST_ASSERT(r->map != MAP_FAILED, "mmap() of %zu bytes of %s failed: %s",
		    r->map_size, vm_mem_backing_src_alias(src)->name, strerror(errno));
	r->hva = align_ptr_up(r->map, align) + misalign;
	if (src == VM_MEM_SRC_ANONYMOUS || src == VM_MEM_SRC_ANONYMOUS_THP)
		TEST_ASSERT(!madvise(r->map, r->map_size, src == VM_MEM_SRC_ANONYMOUS ?
				     MADV_NOHUGEPAGE : MADV_HUGEPAGE),
			    "madvise() of %s failed: %s",
			    vm_mem_backing_src_alias(src)->name, strerror(errno));
}

static void region_unmap(struct region *r)
{
	TEST_ASSERT(!munmap(r->map, r->map_size), "munmap() failed: %s", strerror(errno));
	if (r->fd >= 0)
		close(r->fd);
	r->map = NULL;
}

/* A guest touch per host page, and at least one per 2M. */
static uint64_t touch_stride(void)
{
	size_t pagesz = backing_pagesz();

	return pagesz > SZ_2M ? SZ_2M : pagesz;
}

/* Write every 4K page, so that the host maps all of it writable. */
static void region_populate(struct region *r)
{
	uint64_t off;

	for (off = 0; off < region_size; off += TOUCH_STRIDE)
		*(volatile uint64_t *)(r->hva + off) = off;
}

static uint64_t bench_gpa(struct kvm_vm *vm)
{
	uint64_t top = (vm->max_gfn + 1) << vm->page_shift;
	uint64_t gpa = (top - region_size - (1ul << 30)) & ~((1ul << 30) - 1);

	TEST_ASSERT(gpa >= (4ul << 30), "no room for %lu bytes below GPA 0x%lx",
		    region_size, top);
	return gpa;
}

static void slot_set(struct kvm_vm *vm, uint64_t gpa, struct region *r)
{
	if (r)
		traced_hva = r->hva;
	vm_set_user_memory_region(vm, BENCH_SLOT, 0, gpa, r ? region_size : 0,
				  r ? r->hva : NULL);
}

static struct kvm_vm *bench_vm_create(int nr_vcpus, struct kvm_vcpu **vcpus,
				      uint64_t *gpa)
{
	/*
	 * The library sizes memslot 0's page-table area for this many guest
	 * pages mapped elsewhere: the region, at 4K at worst (arm64 maps the
	 * guest side with 4K pages).
	 */
	uint64_t extra_pages = region_size / TOUCH_STRIDE;
	struct kvm_vm *vm;
	int i;

	vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, nr_vcpus, extra_pages,
				    guest_code, vcpus);
	*gpa = bench_gpa(vm);
#ifdef __x86_64__
	/*
	 * Map the guest side at the backing's size: with shadow paging (npt=0)
	 * KVM's mapping is bounded by the guest's too.
	 */
	virt_map_level(vm, BENCH_GVA, *gpa, region_size,
		       backing_pagesz() >= PG_SIZE_1G ? PG_LEVEL_1G :
		       backing_pagesz() >= PG_SIZE_2M ? PG_LEVEL_2M : PG_LEVEL_4K);
#else
	virt_map(vm, BENCH_GVA, *gpa, region_size / vm->page_size);
#endif
	guest_gva = BENCH_GVA;
	guest_size = region_size;
	guest_nr_vcpus = nr_vcpus;
	guest_stride = nr_vcpus > 1 ? TOUCH_STRIDE : touch_stride();
	sync_global_to_guest(vm, guest_stride);
	sync_global_to_guest(vm, guest_gva);
	sync_global_to_guest(vm, guest_size);
	sync_global_to_guest(vm, guest_nr_vcpus);
	for (i = 0; i < nr_vcpus; i++)
		vcpu_args_set(vcpus[i], 1, (uint64_t)i);
	return vm;
}

/* --- counting: clock, KVM stats, tracefs ----------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The faults a pass took, by the vCPU stats; see the top of the file. */
static uint64_t vcpu_faults(struct kvm_vcpu *vcpu)
{
#ifdef __x86_64__
	return vcpu_get_stat(vcpu, "pf_taken");
#else
	return vcpu_get_stat(vcpu, "exits");
#endif
}

#define TRACEFS "/sys/kernel/tracing/"

/*
 * The host page-table walks of KVM's fault paths on the base and on the
 * series (a function a kernel does not have, or has inlined, is left out),
 * the fault handlers, and what else a fault does to a page.
 */
static const char * const traced_funcs[] = {
	/* walks */
	"gup_fast_fallback",		/* GUP-fast: walk + reference */
	"follow_user_pfn_lockless",	/* the series' walker */
	"follow_user_pfns_lockless",	/* ... for prefetch */
	"host_pfn_mapping_level",	/* x86: the level walk */
	"get_user_mapping_size",	/* arm64: the level walk */
	/* faults */
	"kvm_mmu_page_fault",		/* x86 */
	"kvm_handle_guest_abort",	/* arm64 */
	/* the rest */
	"get_user_pages_unlocked",	/* GUP's slow path */
	"handle_mm_fault",
	"kvm_release_pfn_clean",
	"kvm_set_pfn_accessed",
	"kvm_set_pfn_dirty",
	"folio_mark_accessed",
};
#define NR_TRACED ARRAY_SIZE(traced_funcs)
#define NR_WALKERS 5
#define FIRST_FAULT_HANDLER 5
#define NR_FAULT_HANDLERS 2

static bool traced[NR_TRACED];

struct trace_counts {
	uint64_t calls[NR_TRACED];
	uint64_t gets, puts;
};

/* Write @val to a tracefs file; 0 or -errno. */
static int tracefs_write(const char *file, const char *val, bool append)
{
	int fd = open(file, O_WRONLY | (append ? O_APPEND : O_TRUNC)), ret = 0;

	TEST_ASSERT(fd >= 0, "cannot open %s: %s (-T needs a kernel built with "
		    "scripts/build --trace)", file, strerror(errno));
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

static void tracefs_set(const char *file, const char *val)
{
	int ret = tracefs_write(file, val, false);

	TEST_ASSERT(!ret, "writing '%s' to %s failed: %s", val, file, strerror(-ret));
}

static void trace_setup(void)
{
	char pid[32];
	size_t i;

	tracefs_set(TRACEFS "tracing_on", "0");
	tracefs_set(TRACEFS "current_tracer", "nop");
	tracefs_set(TRACEFS "set_ftrace_filter", "");
	/* A function this kernel lacks, or has inlined, is not counted. */
	for (i = 0; i < NR_TRACED; i++)
		traced[i] = !tracefs_write(TRACEFS "set_ftrace_filter",
					   traced_funcs[i], true);
	snprintf(pid, sizeof(pid), "%d", getpid());
	tracefs_set(TRACEFS "set_ftrace_pid", pid);
	tracefs_set(TRACEFS "set_event_pid", pid);
	tracefs_set(TRACEFS "buffer_size_kb", "65536");
	TEST_ASSERT(!tracefs_write(TRACEFS "set_event", "page_ref:*", false),
		    "no page_ref events: -T needs CONFIG_DEBUG_PAGE_REF (configs/trace.config)");
	tracefs_set(TRACEFS "current_tracer", "function");
	tracefs_set(TRACEFS "trace", "");
}

/* Add the pfns the region maps now (/proc/self/pagemap; the bench is root). */
static void traced_pfns_add(void)
{
	size_t nr = region_size / getpagesize(), i;
	uint64_t *ents = malloc(nr * sizeof(*ents));
	int fd = open("/proc/self/pagemap", O_RDONLY);

	TEST_ASSERT(ents && fd >= 0, "cannot read /proc/self/pagemap: %s", strerror(errno));
	TEST_ASSERT(pread(fd, ents, nr * sizeof(*ents),
			  (uintptr_t)traced_hva / getpagesize() * sizeof(*ents)) ==
		    (ssize_t)(nr * sizeof(*ents)), "short read of /proc/self/pagemap");
	close(fd);
	if (nr_traced_pfns + nr > max_traced_pfns) {
		max_traced_pfns = nr_traced_pfns + nr;
		traced_pfns = realloc(traced_pfns, max_traced_pfns * sizeof(*traced_pfns));
		TEST_ASSERT(traced_pfns, "out of memory");
	}
	for (i = 0; i < nr; i++)
		if (ents[i] >> 63)
			traced_pfns[nr_traced_pfns++] = ents[i] & ((1ull << 55) - 1);
	free(ents);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void trace_begin(void)
{
	if (!trace_counts)
		return;
	nr_traced_pfns = 0;
	traced_pfns_add();
	tracefs_set(TRACEFS "trace", "");
	tracefs_set(TRACEFS "tracing_on", "1");
}

/* The value after "@key=" in @line, 0 if there is none. */
static long field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p ? strtol(p + strlen(key), NULL, 0) : 0;
}

/* Count what the trace holds: page reference changes and traced calls. */
static void trace_count(struct trace_counts *c, const char *line)
{
	uint64_t pfn;
	char pat[96];
	long val;
	size_t i;

	if (strstr(line, " page_ref_")) {
		/* Allocation sets, migration freezes: neither is a get or put. */
		if (strstr(line, " page_ref_set: ") || strstr(line, "freeze: "))
			return;
		/* A failed try-get (ret=0) took nothing. */
		if (strstr(line, " page_ref_mod_unless: ") && !field(line, " ret="))
			return;
		pfn = field(line, " pfn=");
		if (!bsearch(&pfn, traced_pfns, nr_traced_pfns, sizeof(pfn), cmp_u64))
			return;
		val = field(line, " val=");
		c->gets += val > 0;
		c->puts += val < 0;
		return;
	}
	for (i = 0; i < NR_TRACED; i++) {
		snprintf(pat, sizeof(pat), ": %s <-", traced_funcs[i]);
		if (strstr(line, pat))
			c->calls[i]++;
	}
}

static void trace_end(struct trace_counts *c)
{
	char line[512], path[64];
	FILE *f;
	int cpu;

	memset(c, 0, sizeof(*c));
	if (!trace_counts)
		return;
	tracefs_set(TRACEFS "tracing_on", "0");
	traced_pfns_add();
	qsort(traced_pfns, nr_traced_pfns, sizeof(*traced_pfns), cmp_u64);

	f = fopen(TRACEFS "trace", "r");
	TEST_ASSERT(f, "cannot read " TRACEFS "trace: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		TEST_ASSERT(!strstr(line, "LOST"), "the trace lost events: %s", line);
		if (line[0] != '#')
			trace_count(c, line);
	}
	fclose(f);

	/* A lost event would make every count a lower bound. */
	for (cpu = 0; ; cpu++) {
		snprintf(path, sizeof(path), TRACEFS "per_cpu/cpu%d/stats", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			TEST_ASSERT(strncmp(line, "overrun: ", 9) || !field(line, "overrun: "),
				    "the trace buffer of CPU %d overran: counts would be short",
				    cpu);
		fclose(f);
	}
}

/*
 * One line per pass or zap: @faults from the vCPU stats, entries= the calls
 * of the fault handler (exact, where the stats also count other exits).
 * A pass's counts are less those of a pass without faults, @base: what
 * running the vCPU and its ucall cost.
 */
static void print_counts(const char *workload, uint64_t faults,
			 const struct trace_counts *pass,
			 const struct trace_counts *base)
{
	uint64_t walks = 0, entries = 0;
	struct trace_counts d = *pass;
	struct trace_counts *c = &d;
	size_t i;

	if (!trace_counts)
		return;
	if (base) {
		for (i = 0; i < NR_TRACED; i++)
			d.calls[i] -= min(d.calls[i], base->calls[i]);
		d.gets -= min(d.gets, base->gets);
		d.puts -= min(d.puts, base->puts);
	}
	for (i = 0; i < NR_WALKERS; i++)
		walks += c->calls[i];
	for (i = FIRST_FAULT_HANDLER; i < FIRST_FAULT_HANDLER + NR_FAULT_HANDLERS; i++)
		entries += c->calls[i];
	printf("KVMQ-COUNT %s %s faults=%lu entries=%lu walks=%lu gets=%lu puts=%lu",
	       workload, vm_mem_backing_src_alias(src)->name, faults, entries,
	       walks, c->gets, c->puts);
	for (i = 0; i < NR_TRACED; i++)
		if (traced[i])
			printf(" %s=%lu", traced_funcs[i], c->calls[i]);
	printf("\n");
}

static void report(const char *workload, double value, const char *unit,
		   uint64_t n, const char *what)
{
	printf("KVMQ-BENCH %s %s %.1f %s %s=%lu\n", workload,
	       vm_mem_backing_src_alias(src)->name, value, unit, what, n);
	fflush(stdout);
}

/* --- -w costs --------------------------------------------------------------- */

struct pass {
	uint64_t insn;		/* instructions (icount ns) of the pass */
	uint64_t faults;
	struct trace_counts tc;
};

static void run_pass(struct kvm_vcpu *vcpu, struct pass *p)
{
	uint64_t f0 = vcpu_faults(vcpu), t0;
	struct ucall uc;

	trace_begin();
	t0 = now_ns();
	vcpu_run(vcpu);
	p->insn = now_ns() - t0;
	trace_end(&p->tc);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected exit %s (ucall %lu) in a pass",
			  exit_reason_str(vcpu->run->exit_reason), uc.cmd);
	}
	p->faults = vcpu_faults(vcpu) - f0;
#ifndef __x86_64__
	p->faults--;		/* the ucall's exit */
#endif
}

/* Report a faulting pass against the loop's own cost. */
static void report_pass(const char *workload, const struct pass *p,
			const struct pass *mapped)
{
	TEST_ASSERT(p->faults, "%s: the pass took no fault", workload);
	report(workload, ((double)p->insn - mapped->insn) / p->faults,
	       "insn/fault", p->faults, "faults");
	print_counts(workload, p->faults, &p->tc, &mapped->tc);
}

/* Time @zap, which must undo the mappings of a pass that took @faults. */
#define timed_zap(workload, faults, zap)				\
({									\
	struct trace_counts __tc;					\
	uint64_t __t0;							\
	double __per;							\
									\
	trace_begin();							\
	__t0 = now_ns();						\
	zap;								\
	__per = (double)(now_ns() - __t0) / (faults);			\
	trace_end(&__tc);						\
	print_counts(workload, faults, &__tc, NULL);			\
	__per;								\
})

/*
 * Fault in what the guest needs besides the region (code, stack, the page
 * tables that map the region), and build KVM's page tables for it, through
 * scratch memory of the same backing at the region's GPA; then drop the
 * scratch memslot, which zaps only its SPTEs.
 */
static void warm_up(struct kvm_vcpu *vcpu, uint64_t gpa)
{
	struct region scratch;
	struct ucall uc;

	region_map(&scratch, 0);
	slot_set(vcpu->vm, gpa, &scratch);
	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC, "the warm-up pass failed: exit %s",
		    exit_reason_str(vcpu->run->exit_reason));
	slot_set(vcpu->vm, gpa, NULL);
	region_unmap(&scratch);
}

/* x86: memslot deletion zaps the memslot's SPTEs only, not all of them. */
static void zap_slot_only(struct kvm_vm *vm)
{
#ifdef __x86_64__
	if (kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) & KVM_X86_QUIRK_SLOT_ZAP_ALL)
		vm_enable_cap(vm, KVM_CAP_DISABLE_QUIRKS2, KVM_X86_QUIRK_SLOT_ZAP_ALL);
#endif
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void run_costs(void)
{
	double *zaps = calloc(rounds, sizeof(double));
	double *refaults = calloc(rounds, sizeof(double));
	double *freshes = calloc(rounds, sizeof(double));
	struct pass first, mapped, again, refault, fresh, check;
	uint64_t gpa, nr_touches = region_size / touch_stride();
	struct region r;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	double per;
	int i;

	TEST_ASSERT(zaps && refaults && freshes, "out of memory");
	vm = bench_vm_create(1, &vcpu, &gpa);
	zap_slot_only(vm);
	warm_up(vcpu, gpa);
	region_map(&r, 0);
	region_populate(&r);
	slot_set(vm, gpa, &r);

	/* a: the host populated everything before the vCPU ran. */
	run_pass(vcpu, &first);
	run_pass(vcpu, &mapped);
	run_pass(vcpu, &again);
	TEST_ASSERT(mapped.faults < first.faults / 16 + 4,
		    "the second pass took %lu faults (the first %lu): "
		    "the region is not staying mapped", mapped.faults, first.faults);
	if (again.insn < mapped.insn)
		mapped = again;
	report("loop", (double)mapped.insn / nr_touches, "insn/touch",
	       nr_touches, "touches");
	report_pass("first", &first, &mapped);

	/* b, d: memslot delete and re-add, a KVM-only zap, -r rounds. */
	refault = first;
	for (i = 0; i < rounds; i++) {
		zaps[i] = timed_zap(i ? "zap-memslot" : "zap-memslot1", refault.faults,
				    slot_set(vm, gpa, NULL));
		slot_set(vm, gpa, &r);
		run_pass(vcpu, &refault);
		TEST_ASSERT(refault.faults, "a re-fault pass took no fault");
		refaults[i] = ((double)refault.insn - mapped.insn) / refault.faults;
		print_counts(i ? "refault" : "refault1", refault.faults,
			     &refault.tc, &mapped.tc);
	}
	report("zap-memslot1", zaps[0], "insn/spte", first.faults, "sptes");
	report("refault1", refaults[0], "insn/fault", refault.faults, "faults");
	if (rounds > 1) {
		report("zap-memslot", median(zaps + 1, rounds - 1), "insn/spte",
		       rounds - 1, "rounds");
		report("refault", median(refaults + 1, rounds - 1), "insn/fault",
		       rounds - 1, "rounds");
	}

	/* d: the primary MMU zaps. */
	per = timed_zap("zap-dontneed", refault.faults,
			TEST_ASSERT(!madvise(r.hva, region_size, MADV_DONTNEED),
				    "MADV_DONTNEED failed: %s", strerror(errno)));
	report("zap-dontneed", per, "insn/spte", refault.faults, "sptes");
	region_populate(&r);
	run_pass(vcpu, &check);
	per = timed_zap("zap-munmap", check.faults, region_unmap(&r));
	report("zap-munmap", per, "insn/spte", check.faults, "sptes");

	/* c: fresh memory, which the host allocates on the fault path. */
	for (i = 0; i < rounds; i++) {
		slot_set(vm, gpa, NULL);
		if (i)
			region_unmap(&r);
		region_map(&r, 0);
		slot_set(vm, gpa, &r);
		run_pass(vcpu, &fresh);
		TEST_ASSERT(fresh.faults, "a fresh pass took no fault");
		freshes[i] = ((double)fresh.insn - mapped.insn) / fresh.faults;
		if (!i)
			print_counts("fresh", fresh.faults, &fresh.tc, &mapped.tc);
	}
	run_pass(vcpu, &check);
	report("fresh", median(freshes, rounds), "insn/fault", fresh.faults, "faults");
	TEST_ASSERT(check.insn < mapped.insn + mapped.insn / 8 + 10000,
		    "a pass over mapped memory took %lu insn, earlier %lu: "
		    "the loop's own cost is not stable", check.insn, mapped.insn);

	kvm_vm_free(vm);
	region_unmap(&r);
	free(zaps);
	free(refaults);
	free(freshes);
}

/* --- -w contend ---------------------------------------------------------- */

static pthread_barrier_t go, done;
static int contend_rounds;

static void *contend_vcpu(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;
	int i;

	/* Round 0 maps everything, to time the loop; then -r rounds. */
	for (i = 0; i <= contend_rounds + 1; i++) {
		pthread_barrier_wait(&go);
		vcpu_run(vcpu);
		TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC,
			    "unexpected exit %s in a contended pass",
			    exit_reason_str(vcpu->run->exit_reason));
		pthread_barrier_wait(&done);
	}
	return NULL;
}

static uint64_t contend_faults(struct kvm_vcpu **vcpus, int nr)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < nr; i++)
		sum += vcpu_faults(vcpus[i]);
	return sum;
}

static void run_contend(int nr_vcpus)
{
	struct kvm_vcpu *vcpus[KVM_MAX_VCPUS];
	pthread_t threads[KVM_MAX_VCPUS];
	uint64_t gpa, t0, f0, loop = 0, faults = 0;
	double *per = calloc(rounds, sizeof(*per));
	struct region r;
	struct kvm_vm *vm;
	int i;

	TEST_ASSERT(src == VM_MEM_SRC_ANONYMOUS_THP,
		    "-w contend needs -s anonymous_thp (4K pieces of huge folios)");
	TEST_ASSERT(nr_vcpus >= 1 && nr_vcpus <= KVM_MAX_VCPUS, "bad -v %d", nr_vcpus);
	contend_rounds = rounds;
	vm = bench_vm_create(nr_vcpus, vcpus, &gpa);
	zap_slot_only(vm);
	region_map(&r, TOUCH_STRIDE);
	region_populate(&r);
	slot_set(vm, gpa, &r);
	pthread_barrier_init(&go, NULL, nr_vcpus + 1);
	pthread_barrier_init(&done, NULL, nr_vcpus + 1);
	for (i = 0; i < nr_vcpus; i++)
		pthread_create(&threads[i], NULL, contend_vcpu, vcpus[i]);

	for (i = -1; i <= rounds; i++) {
		/* i == -1 faults everything in, i == 0 times the loop. */
		if (i > 0) {
			slot_set(vm, gpa, NULL);
			slot_set(vm, gpa, &r);
		}
		f0 = contend_faults(vcpus, nr_vcpus);
		pthread_barrier_wait(&go);
		t0 = now_ns();
		pthread_barrier_wait(&done);
		t0 = now_ns() - t0;
		faults = contend_faults(vcpus, nr_vcpus) - f0;
		if (i == 0)
			loop = t0;
		else if (i > 0)
			per[i - 1] = ((double)t0 - loop) / faults;
	}
	for (i = 0; i < nr_vcpus; i++)
		pthread_join(threads[i], NULL);

	qsort(per, rounds, sizeof(*per), cmp_double);
	printf("KVMQ-BENCH contend-%dvcpu %s %.1f ns/fault min=%.1f max=%.1f runs=%d faults=%lu\n",
	       nr_vcpus, vm_mem_backing_src_alias(src)->name, per[rounds / 2],
	       per[0], per[rounds - 1], rounds, faults);
	kvm_vm_free(vm);
	region_unmap(&r);
	free(per);
}

/* --- -w lookup ----------------------------------------------------------- */

#define LOOKUP_RUN "/sys/kernel/debug/kvmq_lookup_bench/run"

static void run_lookup(void)
{
	static const char * const modes[] = { "empty", "level", "gup", "gup+level", "walker" };
	unsigned long long ns, lookups, empty = 0;
	int loops = 4, fd;
	struct region r;
	char buf[128];
	ssize_t n;
	size_t i;

	if (access(LOOKUP_RUN, F_OK))
		TEST_ASSERT(!system("modprobe kvmq_lookup_bench"),
			    "cannot load kvmq_lookup_bench (scripts/bench installs it "
			    "with the kernel's modules)");
	region_map(&r, 0);
	region_populate(&r);
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		fd = open(LOOKUP_RUN, O_RDWR);
		TEST_ASSERT(fd >= 0, "cannot open %s (is kvmq_lookup_bench.ko loaded?): %s",
			    LOOKUP_RUN, strerror(errno));
		snprintf(buf, sizeof(buf), "%s 0x%lx %lu %d", modes[i],
			 (unsigned long)r.hva, region_size, loops);
		n = write(fd, buf, strlen(buf));
		if (n < 0 && errno == EOPNOTSUPP) {
			printf("KVMQ-BENCH lookup-%s %s n/a insn/lookup (not in this kernel)\n",
			       modes[i], vm_mem_backing_src_alias(src)->name);
			close(fd);
			continue;
		}
		TEST_ASSERT(n == (ssize_t)strlen(buf), "lookup '%s' failed: %s", buf,
			    strerror(errno));
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		TEST_ASSERT(n > 0, "reading %s failed: %s", LOOKUP_RUN, strerror(errno));
		buf[n] = 0;
		TEST_ASSERT(sscanf(buf, "%llu %llu", &ns, &lookups) == 2 && lookups,
			    "unexpected result '%s' from %s", buf, LOOKUP_RUN);
		close(fd);
		if (!i) {
			empty = ns;
			continue;
		}
		snprintf(buf, sizeof(buf), "lookup-%s", modes[i]);
		report(buf, ((double)ns - empty) / lookups, "insn/lookup", lookups,
		       "lookups");
	}
	region_unmap(&r);
}

static void help(char *name)
{
	puts("");
	printf("usage: %s [-w costs|contend|lookup] [-s backing] [-b size] [-r rounds]\n"
	       "          [-v vcpus] [-T]\n", name);
	printf(" -w: what to measure (default costs; see the top of the source)\n");
	backing_src_help("-s");
	printf(" -b: size of the guest region (default 64M)\n");
	printf(" -r: re-fault rounds, or contended runs (default 3)\n");
	printf(" -v: vCPUs for -w contend (default 2)\n");
	printf(" -T: count walks and page references with tracefs (tracing kernel)\n");
	puts("");
	exit(KSFT_FAIL);
}

int main(int argc, char *argv[])
{
	const char *what = "costs";
	int opt, nr_vcpus = 2;

	while ((opt = getopt(argc, argv, "hw:s:b:r:v:T")) != -1) {
		switch (opt) {
		case 'w':
			what = optarg;
			break;
		case 's':
			src = parse_backing_src_type(optarg);
			break;
		case 'b':
			region_size = parse_size(optarg);
			break;
		case 'r':
			rounds = atoi_positive("Rounds", optarg);
			break;
		case 'v':
			nr_vcpus = atoi_positive("vCPUs", optarg);
			break;
		case 'T':
			trace_counts = true;
			break;
		default:
			help(argv[0]);
		}
	}
	TEST_ASSERT(region_size && !(region_size % backing_pagesz()),
		    "-b %lu is not a multiple of the backing's page size %zu",
		    region_size, backing_pagesz());
	setbuf(stdout, NULL);
	if (trace_counts)
		trace_setup();

	if (!strcmp(what, "costs"))
		run_costs();
	else if (!strcmp(what, "contend"))
		run_contend(nr_vcpus);
	else if (!strcmp(what, "lookup"))
		run_lookup();
	else
		help(argv[0]);
	return 0;
}
