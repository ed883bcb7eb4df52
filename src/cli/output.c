/*
 * output.c - what workers print, under ray-mpi: their stdout and stderr
 * come to the node service through pipes and go out on its own, one whole
 * line at a time, each prefixed with the node and the worker's pid
 * ("(node 3 pid 812) ..."), so that lines of many workers on many nodes
 * stay readable on the user's terminal.  The driver's output is not
 * touched.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

typedef struct stream {
    int fd, to; /* read end; 1 or 2 */
    pid_t pid;
    size_t len;
    char buf[LINE_MAX_BYTES];
} stream;

struct out_streams {
    uint32_t node;
    ray_vec v; /* stream; fd -1: free */
};

out_streams *outs_create(uint32_t node)
{
    out_streams *s = calloc(1, sizeof(*s));
    if (s) {
        s->node = node;
        ray_vec_init(&s->v, sizeof(stream));
    }
    return s;
}

int outs_add(out_streams *s, int fd, pid_t pid, int to)
{
    size_t i = 0;
    while (i < s->v.len && RAY_VEC_AT(&s->v, stream, i).fd >= 0)
        i++;
    if (i == s->v.len && !ray_vec_push(&s->v))
        return -1;
    stream *st = &RAY_VEC_AT(&s->v, stream, i);
    st->fd = fd;
    st->to = to;
    st->pid = pid;
    st->len = 0;
    return (int)i;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void emit(out_streams *s, stream *st, const char *line, size_t n)
{
    char head[64];
    int h = snprintf(head, sizeof(head), "(node %u pid %d) ", s->node, (int)st->pid);
    char out[LINE_MAX_BYTES + 80];
    memcpy(out, head, (size_t)h);
    memcpy(out + h, line, n);
    out[h + (int)n] = '\n';
    write_all(st->to, out, (size_t)h + n + 1); /* one write: lines of two workers do not mix */
}

/* Every whole line in st's buffer goes out; a full buffer goes as a line. */
static void emit_lines(out_streams *s, stream *st, int flush)
{
    size_t start = 0;
    for (size_t i = 0; i < st->len; i++)
        if (st->buf[i] == '\n') {
            emit(s, st, st->buf + start, i - start);
            start = i + 1;
        }
    if ((flush || start == 0) && st->len - start == sizeof(st->buf))
        start = st->len, emit(s, st, st->buf, st->len);
    else if (flush && start < st->len) {
        emit(s, st, st->buf + start, st->len - start);
        start = st->len;
    }
    memmove(st->buf, st->buf + start, st->len - start);
    st->len -= start;
}

int outs_read(out_streams *s, int idx)
{
    if (idx < 0 || (size_t)idx >= s->v.len)
        return 1;
    stream *st = &RAY_VEC_AT(&s->v, stream, idx);
    for (;;) {
        if (st->fd < 0)
            return 1;
        ssize_t k = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);
        if (k > 0) {
            st->len += (size_t)k;
            emit_lines(s, st, 0);
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        emit_lines(s, st, 1); /* EOF: the last line even without its newline */
        close(st->fd);
        st->fd = -1;
        return 1;
    }
}

void outs_destroy(out_streams *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->v.len; i++)
        if (RAY_VEC_AT(&s->v, stream, i).fd >= 0)
            outs_read(s, (int)i); /* what is still in the pipe */
    for (size_t i = 0; i < s->v.len; i++)
        if (RAY_VEC_AT(&s->v, stream, i).fd >= 0)
            close(RAY_VEC_AT(&s->v, stream, i).fd);
    ray_vec_free(&s->v);
    free(s);
}
