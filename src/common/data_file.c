/* data_file.c - see data_file.h. */
#include "common/data_file.h"

#include <stdlib.h>
#include <unistd.h>

const char *data_file_path(const char *env_var, const char *installed, const char *source)
{
    const char *env = getenv(env_var);
    if (env && *env)
        return env;
    if (access(installed, R_OK) == 0)
        return installed;
    return source;
}
