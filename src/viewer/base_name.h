/* base_name.h - the file-name part of a path, as the viewer's titles, messages and the
 * figure's header show it. Free of SDL, so the headless figure can use it too. */
#ifndef CAPTION_VIEWER_BASE_NAME_H
#define CAPTION_VIEWER_BASE_NAME_H

#include <string.h>

static inline const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

#endif
