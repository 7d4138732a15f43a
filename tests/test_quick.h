/* test_quick.h: EDGEKB_TEST_QUICK=1 asks the heaviest unit tests for a
 * smaller workload. make check-cross sets it for the qemu-aarch64 runs,
 * whose job is the NEON / NEON-dotprod kernels and their dispatch under
 * emulation (10-40x slower than native); the native musl and ASan+UBSan
 * runs of make check always use the full sizes. Each use says what it
 * shrinks. */
#ifndef EKB_TEST_QUICK_H
#define EKB_TEST_QUICK_H
#include <stdlib.h>

static inline int test_quick(void)
{
    const char *s = getenv("EDGEKB_TEST_QUICK");
    return s && s[0] == '1';
}

#endif
