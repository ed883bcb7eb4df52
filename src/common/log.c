/*
 * log.c - one log line format for every process of a job:
 *   [node 3 pid 812] WARN store: spilled 2.1 GiB to /scratch/...
 * written with one write(2) to stderr so lines of concurrent processes do
 * not interleave.  The RAY_LOG macro tests the level before any formatting,
 * so disabled levels cost one predictable branch.
 */
#include "common.h"

#include <strings.h>
#include <unistd.h>

int ray_log_level = RAY_LOG_WARN;
int ray_log_node = 0;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

int ray_log_parse_level(const char *s)
{
    for (size_t i = 0; i < RAY_ARRAY_SIZE(level_names); i++)
        if (!strcasecmp(s, level_names[i]))
            return (int)i;
    if (!strcasecmp(s, "warning"))
        return RAY_LOG_WARN;
    return -1;
}

void ray_log_write(int level, const char *part, const char *fmt, ...)
{
    char line[2048];
    int n = snprintf(line, sizeof(line), "[node %d pid %d] %s %s: ", ray_log_node,
                     (int)getpid(), level_names[level < 0 ? 0 : level > 4 ? 4 : level],
                     part);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}
