/* error.h - filling a cap_error; shared by every library source file. */
#ifndef CAPTION_ERROR_H
#define CAPTION_ERROR_H

#include "caption.h"

/* Set err (if not NULL) to status and a printf-formatted one-line message; returns status
 * so that callers can write `return cap_fail(err, CAP_ERR_FORMAT, "...")`. */
cap_status cap_fail(cap_error *err, cap_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
