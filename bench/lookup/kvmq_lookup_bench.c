// SPDX-License-Identifier: GPL-2.0
/*
 * kvmq_lookup_bench - the cost of one host page-table lookup, alone
 *
 * Out of tree, for scripts/bench only.  Writing "MODE ADDR LEN LOOPS" to
 * /sys/kernel/debug/kvmq_lookup_bench/run looks up every 4K page of
 * [ADDR, ADDR + LEN) of the writer's mm LOOPS times with MODE, and reading
 * the file back gives "NS LOOKUPS" (under QEMU's -icount shift=0 the
 * nanoseconds are instructions).  Modes:
 *
 *   empty      the loop alone, to subtract
 *   level      a level-only walk, with the reads of x86's
 *              host_pfn_mapping_level() in 6.12 (IRQs off, each level read
 *              once): what KVM did after GUP to learn the mapping size
 *   gup        get_user_page_fast_only(FOLL_WRITE) and put_page(): the
 *              6.12 fault path's hva_to_pfn_fast()
 *   gup+level  both, what a 6.12 fault does for a present page
 *   walker     follow_user_pfn_lockless(FOLLOW_PFN_WRITE), pfn and level in
 *              one walk; EOPNOTSUPP on a kernel without it
 *
 * The pages must be present and writable: a lookup that fails is an error
 * (EFAULT), so that a fallback can never be timed as a lookup.
 */
#include <linux/debugfs.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagewalk.h>
#include <linux/pgtable.h>
#include <linux/sched.h>
#include <linux/uaccess.h>

static DEFINE_MUTEX(bench_lock);
static u64 result_ns, result_lookups;
static struct dentry *bench_dir;

static int level_walk(struct mm_struct *mm, unsigned long addr)
{
	unsigned long flags;
	int level = 0;
	pgd_t pgd;
	p4d_t p4d;
	pud_t pud;
	pmd_t pmd;

	local_irq_save(flags);
	pgd = READ_ONCE(*pgd_offset(mm, addr));
	if (pgd_none(pgd))
		goto out;
	p4d = READ_ONCE(*p4d_offset(&pgd, addr));
	if (p4d_none(p4d) || !p4d_present(p4d))
		goto out;
	pud = READ_ONCE(*pud_offset(&p4d, addr));
	if (pud_none(pud) || !pud_present(pud))
		goto out;
	if (pud_leaf(pud)) {
		level = 3;
		goto out;
	}
	pmd = READ_ONCE(*pmd_offset(&pud, addr));
	if (pmd_none(pmd) || !pmd_present(pmd))
		goto out;
	level = pmd_leaf(pmd) ? 2 : 1;
out:
	local_irq_restore(flags);
	return level;
}

static int gup_lookup(unsigned long addr)
{
	struct page *page;

	if (!get_user_page_fast_only(addr, FOLL_WRITE, &page))
		return -EFAULT;
	put_page(page);
	return 0;
}

enum bench_mode { EMPTY, LEVEL, GUP, GUP_LEVEL, WALKER };

static int lookup(enum bench_mode mode, unsigned long addr)
{
	switch (mode) {
	case EMPTY:
		return 0;
	case LEVEL:
		return level_walk(current->mm, addr) ? 0 : -EFAULT;
	case GUP:
		return gup_lookup(addr);
	case GUP_LEVEL:
		return gup_lookup(addr) ?: (level_walk(current->mm, addr) ? 0 : -EFAULT);
	case WALKER:
#ifdef FOLLOW_PFN_WRITE
	{
		struct user_pfn res;

		return follow_user_pfn_lockless(addr, FOLLOW_PFN_WRITE, &res) ? -EFAULT : 0;
	}
#else
		return -EOPNOTSUPP;
#endif
	}
	return -EINVAL;
}

static ssize_t run_write(struct file *file, const char __user *ubuf,
			 size_t count, loff_t *ppos)
{
	static const char * const names[] = {
		[EMPTY] = "empty", [LEVEL] = "level", [GUP] = "gup",
		[GUP_LEVEL] = "gup+level", [WALKER] = "walker",
	};
	unsigned long start, len, addr, loops, i, n = 0;
	char buf[128], name[16];
	int mode, ret = 0;
	u64 t0;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = 0;
	if (sscanf(buf, "%15s %lx %lu %lu", name, &start, &len, &loops) != 4 ||
	    !len || !loops || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(len) ||
	    start + len < start)
		return -EINVAL;
	for (mode = 0; mode < ARRAY_SIZE(names); mode++)
		if (!strcmp(name, names[mode]))
			break;
	if (mode == ARRAY_SIZE(names))
		return -EINVAL;
	ret = lookup(mode, start);
	if (ret)
		return ret;

	mutex_lock(&bench_lock);
	t0 = ktime_get_ns();
	for (i = 0; i < loops && !ret; i++)
		for (addr = start; addr < start + len && !ret; addr += PAGE_SIZE, n++)
			ret = lookup(mode, addr);
	result_ns = ktime_get_ns() - t0;
	result_lookups = n;
	mutex_unlock(&bench_lock);
	return ret ?: count;
}

static ssize_t run_read(struct file *file, char __user *ubuf, size_t count,
			loff_t *ppos)
{
	char buf[64];
	int len;

	mutex_lock(&bench_lock);
	len = scnprintf(buf, sizeof(buf), "%llu %llu\n", result_ns, result_lookups);
	mutex_unlock(&bench_lock);
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static const struct file_operations run_fops = {
	.owner = THIS_MODULE,
	.write = run_write,
	.read = run_read,
};

static int __init bench_init(void)
{
	bench_dir = debugfs_create_dir("kvmq_lookup_bench", NULL);
	debugfs_create_file("run", 0600, bench_dir, NULL, &run_fops);
	return 0;
}

static void __exit bench_exit(void)
{
	debugfs_remove_recursive(bench_dir);
}

module_init(bench_init);
module_exit(bench_exit);
#ifdef FOLLOW_PFN_WRITE
/* The walker is exported for KVM only; this module times it. */
MODULE_IMPORT_NS(KVM);
#endif
MODULE_DESCRIPTION("Host page-table lookup microbenchmark for scripts/bench");
MODULE_LICENSE("GPL");
