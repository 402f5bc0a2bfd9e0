/* resume.h - --resume: which inputs an earlier run already recorded in the output file. */
#ifndef CAPTION_CLI_RESUME_H
#define CAPTION_CLI_RESUME_H

#include "inputs.h"
#include "options.h"

/* Drop from `inputs` every path recorded in `file` (read as `format`, errors included: a
 * recorded failure is an answer too), after cutting a torn last record off the file.
 * A missing file records nothing. Returns -1 on error (message printed). */
int resume_skip_recorded(const char *file, out_format format, input_list *inputs);

#endif
