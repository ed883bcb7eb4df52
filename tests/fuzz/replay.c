/*
 * replay.c - the main that make check links with each fuzz target in
 * every build (gcc included), in place of libFuzzer's: it runs the
 * target's LLVMFuzzerTestOneInput over every file of its seed corpus
 * (tests/fuzz/corpus/<target>/) and of its regressions
 * (tests/fuzz/regressions/<target>/), each in a child process with a time
 * limit, and prints one TAP point per directory that names every input
 * that crashed, broke the decoder's contract or did not finish.
 *
 *   replay_sock                 the target's directories (TAP)
 *   replay_sock FILE...         these inputs, in this process (gdb, a crash)
 *
 * FUZZ_TARGET (the target's name) and FUZZ_DATA_DIR (the source tree's
 * tests/fuzz) are set when it is compiled.
 */
#include "fuzz.h"
#include "lib/tap.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define INPUT_TIMEOUT_S 20 /* one input, at most (a loop that never ends) */

/* The input in a buffer of exactly its size, so that ASan sees a read past
 * its end; size_out is set.  NULL (message on stderr) if unreadable. */
static uint8_t *read_input(const char *path, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (buf && fread(buf, 1, size, f) != size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size_out = size;
    return buf;
}

static int run_here(const char *path)
{
    size_t size;
    uint8_t *data = read_input(path, &size);
    if (!data)
        return 1;
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* Runs one input in a child; 0 if it ran clean, else writes how it ended. */
static int run_child(const char *path, char *how, size_t how_size)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(how, how_size, "fork: %s", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        alarm(INPUT_TIMEOUT_S);
        _exit(run_here(path));
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return snprintf(how, how_size, "waitpid: %s", strerror(errno)), 1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        snprintf(how, how_size, "did not finish in %d s", INPUT_TIMEOUT_S);
    else if (WIFSIGNALED(st))
        snprintf(how, how_size, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(how, how_size, "exit status %d", WEXITSTATUS(st));
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted; *n of them (0 if dir is missing). */
static char **list_inputs(const char *dir, size_t *n)
{
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **w = realloc(v, cap * sizeof(*v));
            if (!w)
                break;
            v = w;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(v[*n] = malloc(len)))
            break;
        snprintf(v[*n], len, "%s/%s", dir, e->d_name);
        (*n)++;
    }
    if (d)
        closedir(d);
    if (*n) /* none: v is NULL, which qsort may not be given */
        qsort(v, *n, sizeof(*v), by_name);
    return v;
}

/* One TAP point for a directory: every input in it runs clean.  A missing
 * or empty seed corpus fails (nothing would be tested); regressions are
 * optional, and reported as a comment when there are none. */
static void replay_dir(const char *kind, int required)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s/%s", FUZZ_DATA_DIR, kind, FUZZ_TARGET);
    size_t n, bad = 0;
    char **v = list_inputs(dir, &n);
    if (!n && !required) {
        diag("%s: no inputs in %s", FUZZ_TARGET, dir);
        free(v);
        return;
    }
    char how[256];
    for (size_t i = 0; i < n; i++) {
        if (run_child(v[i], how, sizeof(how))) {
            diag("%s: %s", v[i], how);
            bad++;
        }
        free(v[i]);
    }
    free(v);
    ok(n && !bad, "%s: %zu inputs of %s/ run within the decoder's contract (%zu failed)",
       FUZZ_TARGET, n, kind, bad);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        int rc = 0;
        for (int i = 1; i < argc; i++) {
            fprintf(stderr, "replay: %s\n", argv[i]);
            rc |= run_here(argv[i]);
        }
        return rc;
    }
    replay_dir("corpus", 1);
    replay_dir("regressions", 0);
    return tap_done();
}
