/*
 * The benchmark's memory probe: runs a command and writes its peak RSS (ru_maxrss, KiB) to a
 * file, exiting with the command's status.
 *
 * Why a program of its own: Linux carries a process's peak RSS across exec, and a child that
 * the benchmark (a Rust program with threads and buffers) spawns starts out in the
 * benchmark's address space (posix_spawn shares it until exec; fork copies it), so the
 * child's ru_maxrss would include the benchmark's own peak. This probe is small and static:
 * the child it forks starts from its few pages, so what is reported is the command's own.
 *
 * Usage: peak_rss FILE PROGRAM [ARG...]
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: peak_rss FILE PROGRAM [ARG...]\n", stderr);
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("peak_rss: fork");
        return 2;
    }
    if (pid == 0) {
        execv(argv[2], argv + 2);
        perror("peak_rss: exec");
        _exit(127);
    }
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) != pid) {
        perror("peak_rss: wait4");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out || fprintf(out, "%ld\n", usage.ru_maxrss) < 0 || fclose(out) != 0) {
        perror("peak_rss: writing the figure");
        return 2;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
