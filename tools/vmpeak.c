/* vmpeak - run a command and print its peak virtual memory (VmPeak) and peak resident memory
 * (VmHWM) as it exits, from /proc/PID/status, on stderr:
 *
 *   cc -O2 -o /tmp/vmpeak tools/vmpeak.c && /tmp/vmpeak build/caption assets/pets.jpg
 *
 * /usr/bin/time gives the peak RSS but not the peak address space, which is what an
 * address-space limit (ulimit -v) is checked against. A process's status is gone once it has
 * exited, so the command runs under ptrace with PTRACE_O_TRACEEXIT: the kernel stops its main
 * thread on the way out, while its memory is still there to be read (docs/speed.md, "Memory").
 * Exits with the command's status. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static void print_peaks(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmPeak:", 7) == 0 || strncmp(line, "VmHWM:", 6) == 0)
            fputs(line, stderr);
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vmpeak COMMAND [ARG...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0)
        return perror("vmpeak: fork"), 1;
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execvp(argv[1], argv + 1);
        perror("vmpeak: exec");
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) /* stopped at its exec */
        return 1;
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEEXIT);
    ptrace(PTRACE_CONT, pid, 0, 0);
    for (;;) {
        if (waitpid(pid, &st, 0) < 0)
            return 1;
        if (WIFEXITED(st))
            return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
            return 128 + WTERMSIG(st);
        int sig = WSTOPSIG(st);
        if (sig == SIGTRAP && st >> 16 == PTRACE_EVENT_EXIT) {
            print_peaks(pid);
            sig = 0;
        } else if (sig == SIGTRAP) {
            sig = 0;
        }
        ptrace(PTRACE_CONT, pid, 0, sig);
    }
}
