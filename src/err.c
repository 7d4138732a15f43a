/* err.c: names and descriptions of the EKB_E* codes (see ekb_err.h), and
 * the failure path of EKB_ASSERT (ekb_assert.h) in builds that have it.
 * Pure tables; unknown codes map to "INTERNAL". Never fails. */
#include <errno.h>
#include <stdlib.h>

#include "ekb_assert.h"
#include "log.h"

#include "ekb_err.h"

static const struct {
    const char *name;
    const char *text;
} err_table[EKB_ERR_COUNT] = {
    {"OK", "success"},
    {"NOMEM", "out of memory (arena budget exhausted)"},
    {"INVAL", "invalid argument or input"},
    {"IO", "input/output error"},
    {"NOTFOUND", "not found"},
    {"EXISTS", "already exists"},
    {"TOOBIG", "over a limit"},
    {"CORRUPT", "corrupt or inconsistent data"},
    {"UNSUPPORTED", "not supported"},
    {"BUSY", "busy"},
    {"TIMEOUT", "timed out"},
    {"PERM", "not permitted"},
    {"AGAIN", "temporarily unavailable, try again"},
    {"CANCELLED", "cancelled"},
    {"NOSPACE", "no space left on device"},
    {"INTERNAL", "internal error"},
};

static unsigned err_index(int err)
{
    if (err > 0 || err <= -EKB_ERR_COUNT)
        return (unsigned)-EKB_EINTERNAL;
    return (unsigned)-err;
}

const char *ekb_err_name(int err) { return err_table[err_index(err)].name; }

const char *ekb_strerror(int err) { return err_table[err_index(err)].text; }

int ekb_from_errno(int errnum)
{
    switch (errnum) {
    case 0: return EKB_OK;
    case ENOMEM: return EKB_ENOMEM;
    case EINVAL: case EBADF: case ENOTDIR: case EISDIR: case ENAMETOOLONG: return EKB_EINVAL;
    case ENOENT: case ENODEV: case ENXIO: return EKB_ENOENT;
    case EEXIST: case EADDRINUSE: return EKB_EEXIST;
    case EFBIG: case E2BIG: case EOVERFLOW: case EMSGSIZE: return EKB_ETOOBIG;
    case EOPNOTSUPP: case ENOSYS: return EKB_EUNSUPP;
    case EBUSY: return EKB_EBUSY;
    case ETIMEDOUT: return EKB_ETIMEDOUT;
    case EPERM: case EACCES: case EROFS: return EKB_EPERM;
    case EAGAIN: case EINTR: return EKB_EAGAIN;
    case ECANCELED: return EKB_ECANCELED;
    case ENOSPC: case EDQUOT: return EKB_ENOSPC;
    default: return EKB_EIO;
    }
}

#ifdef EKB_ASSERTS
void ekb_assert_fail(const char *cond, const char *file, int line)
{
    log_err("assertion failed: %s (%s:%d)", cond, file, line);
    abort();
}
#endif
