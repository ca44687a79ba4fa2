# SPDX-License-Identifier: GPL-2.0
#
# Read after tools/testing/selftests/kvm/Makefile (make -f Makefile -f
# bench.mk, as scripts/bench does): kvm_fault_bench is built with that
# Makefile's compiler, flags and KVM library objects, as a selftest is.

BENCH_SRC := $(dir $(lastword $(MAKEFILE_LIST)))kvm_fault_bench.c

$(OUTPUT)/kvm_fault_bench: $(BENCH_SRC) $(LIBKVM_OBJS)
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) $(TARGET_ARCH) $< $(LIBKVM_OBJS) $(LDLIBS) -o $@
