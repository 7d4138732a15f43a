/* ekb_err.h: the error codes every edgekb module returns.
 *
 * Convention: functions return int; 0 (or a non-negative count) is success,
 * a negative EKB_E* value is failure. Nothing aborts on bad input or when a
 * budget runs out. The protocol boundary maps a code to `ERR <NAME> <msg>`
 * using ekb_err_name(). Port functions return -errno; ekb_from_errno() maps. */
#ifndef EKB_ERR_H
#define EKB_ERR_H

enum ekb_err {
    EKB_OK = 0,
    EKB_ENOMEM = -1,     /* an arena budget is exhausted */
    EKB_EINVAL = -2,     /* bad argument, malformed input */
    EKB_EIO = -3,        /* device or file I/O failed */
    EKB_ENOENT = -4,     /* no such file, key or record */
    EKB_EEXIST = -5,     /* already present */
    EKB_ETOOBIG = -6,    /* over a documented limit */
    EKB_ECORRUPT = -7,   /* content fails validation (checksum, bounds) */
    EKB_EUNSUPP = -8,    /* valid but not supported (type, version) */
    EKB_EBUSY = -9,      /* queue full or resource in use */
    EKB_ETIMEDOUT = -10, /* deadline passed */
    EKB_EPERM = -11,     /* not allowed (auth, file mode) */
    EKB_EAGAIN = -12,    /* try again later */
    EKB_ECANCELED = -13, /* cancelled by the client or shutdown */
    EKB_ENOSPC = -14,    /* disk full */
    EKB_EINTERNAL = -15, /* a bug: an invariant did not hold */
};
#define EKB_ERR_COUNT 16

/* Short upper-case name for the protocol ("NOMEM", "INVAL", ...). */
const char *ekb_err_name(int err);
/* One-line human description. */
const char *ekb_strerror(int err);
/* Maps a positive errno value to an EKB_E* code. */
int ekb_from_errno(int errnum);

#endif
