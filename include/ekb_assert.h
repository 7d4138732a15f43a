/* ekb_assert.h: EKB_ASSERT(cond), for the invariants the file headers state.
 *
 * Compiled in when EKB_ASSERTS is defined (the ASan+UBSan and fuzz builds,
 * which run every unit test), compiled out in release builds (the macro
 * then evaluates nothing). A failed assertion is a bug: it logs the
 * condition, file and line and aborts, so the test that reached it fails
 * at the spot. Never used for input validation: bad input gets an EKB_E*
 * code, whatever the build. */
#ifndef EKB_ASSERT_H
#define EKB_ASSERT_H

#ifdef EKB_ASSERTS
void ekb_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));
#define EKB_ASSERT(c) ((c) ? (void)0 : ekb_assert_fail(#c, __FILE__, __LINE__))
#else
#define EKB_ASSERT(c) ((void)0)
#endif

#endif
