/* error.c - status strings and error messages. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

const char *cap_status_string(cap_status status)
{
    switch (status) {
    case CAP_OK: return "success";
    case CAP_ERR_IO: return "I/O error";
    case CAP_ERR_FORMAT: return "unsupported or corrupt image";
    case CAP_ERR_TOO_LARGE: return "image too large";
    case CAP_ERR_MODEL: return "invalid model file";
    case CAP_ERR_NOMEM: return "out of memory";
    case CAP_ERR_ARG: return "invalid argument";
    }
    return "unknown error";
}

cap_status cap_fail(cap_error *err, cap_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}
