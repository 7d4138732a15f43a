/* selftest.h: `edgekb selftest`, the built-in checks of a deployed binary.
 *
 * Owns: a list of quick checks that prove the pieces of this build work on
 * this machine: arena, board, sensors, CPU features, SQLite (FTS5, in the
 * arena), LZ4 with caller-owned state, mbedtls SHA-256. Each prints one
 * line "selftest: NAME ok|FAIL|skip (detail)". Returns 0 if nothing
 * failed, else the number of failures. Missing sensors are "skip". */
#ifndef EKB_SELFTEST_H
#define EKB_SELFTEST_H

struct app;
int selftest_run(struct app *a);

#endif
