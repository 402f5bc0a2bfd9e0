/* viewer_module.c - see viewer_module.h. */
#include "viewer_module.h"

#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MODULE_NAME "caption-viewer.so"

/* dir(/proc/self/exe)/caption-viewer.so into buf; 0 if the path cannot be had. */
static int beside_executable(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash || (size_t)(slash + 1 - buf) + sizeof MODULE_NAME > size)
        return 0;
    memcpy(slash + 1, MODULE_NAME, sizeof MODULE_NAME);
    return 1;
}

int viewer_module_open(viewer_module *m)
{
    char here[PATH_MAX];
    void *h = NULL;
    if (beside_executable(here, sizeof here) && access(here, F_OK) == 0)
        h = dlopen(here, RTLD_NOW | RTLD_LOCAL);
    else
        h = dlopen(CAPTION_VIEWER_MODULE_INSTALLED, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "caption: cannot load the viewer module: %s\n", dlerror());
        return -1;
    }
    /* POSIX: a function pointer converts from dlsym's void * through a cast of its address. */
    *(void **)&m->options_default = dlsym(h, "view_options_default");
    *(void **)&m->view = dlsym(h, "caption_view");
    *(void **)&m->attention_png = dlsym(h, "caption_attention_png");
    if (!m->options_default || !m->view || !m->attention_png) {
        fprintf(stderr, "caption: the viewer module lacks an entry point: %s\n", dlerror());
        return -1;
    }
    return 0;
}
