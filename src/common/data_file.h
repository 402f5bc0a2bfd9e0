/* data_file.h - where a program finds a file it ships (the model, the font). */
#ifndef CAPTION_COMMON_DATA_FILE_H
#define CAPTION_COMMON_DATA_FILE_H

/* $env_var when set and not empty (a user's choice, even a wrong one, is reported as such),
 * else `installed` when readable (after `meson install`), else `source` (the source tree's
 * copy, so that a program run from the build folder works). Returns one of the three. */
const char *data_file_path(const char *env_var, const char *installed, const char *source);

#endif
