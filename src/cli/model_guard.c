/* model_guard.c - see model_guard.h. */
#include "model_guard.h"

#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Globals because a signal handler can reach nothing else: the jump target of the current
 * thread's guarded call, whether any call was interrupted, and the file to name. */
static _Thread_local sigjmp_buf *guard_jump;
static volatile sig_atomic_t guard_tripped;
static const char *guard_model_path = "model";

static void write_all(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig)
{
    (void)sig;
    if (guard_jump) {
        guard_tripped = 1;
        siglongjmp(*guard_jump, 1);
    }
    /* Only async-signal-safe calls from here on. */
    write_all("caption: ");
    write_all(guard_model_path);
    write_all(": the model file changed while in use\n");
    _exit(1);
}

void model_guard_install(const char *model_path)
{
    guard_model_path = model_path;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESETHAND: the handler leaves by siglongjmp to a sigsetjmp(.., 1), which
     * restores the signal mask, so every worker can be interrupted in turn. */
    sigaction(SIGBUS, &sa, NULL);
}

int model_guard_run(void (*fn)(void *), void *arg)
{
    sigjmp_buf jump;
    if (sigsetjmp(jump, 1) != 0) {
        guard_jump = NULL;
        return -1;
    }
    guard_jump = &jump;
    fn(arg);
    guard_jump = NULL;
    return 0;
}

int model_guard_tripped(void)
{
    return guard_tripped != 0;
}
