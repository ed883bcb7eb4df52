/*
 * timeline.c - RAY_MPI_TIMELINE: what each process did, and when, as a
 * Chrome trace at the end of the job.
 *
 * Recording: a process's file <job dir>/timeline/<pid>.tl is a header and
 * `cap` fixed records, mapped shared.  ray_tl_next takes the next record
 * with one atomic add; the file's space is reserved (fallocate) a chunk at
 * a time, so a full disk ends the recording instead of raising SIGBUS in a
 * task.  A record counts once its kind is stored (last, release): a
 * process killed while writing one leaves it out.
 *
 * Collecting: the node service reads every file back, trusting nothing
 * (sizes, counts, kinds, names are checked), and makes one blob: per file
 * its header with the count of good records, then those records.  Rank 0
 * converts the blobs of every node (checked again: they crossed the
 * network) to trace JSON: one row (tid) per process, grouped by node (pid).
 */
#define _GNU_SOURCE
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TL_MAGIC 0x31304c544d594152ULL /* "RAYMTL01" */
#define TL_VERSION 1
#define TL_CHUNK 8192u                 /* records reserved at a time */
#define TL_FILES_MAX 65536u            /* per node, read back at most */

typedef struct tl_file {
    uint64_t magic;
    uint32_t version, node;
    int32_t pid;
    uint32_t service;      /* 1: the node service (its row carries transfers) */
    uint64_t cap;          /* records the file holds, at most */
    int64_t wall_off_ns;   /* CLOCK_REALTIME - ray_now_ns, when it opened */
    _Atomic uint64_t n;    /* records taken (past cap: dropped) */
    _Atomic uint64_t avail; /* records with space reserved */
    uint64_t dropped;      /* in a blob: records left out */
    char role[64];
    char host[64];
    char pad[64];
} tl_file;
_Static_assert(sizeof(tl_file) == RAY_TL_HEADER, "timeline header size");
_Static_assert(sizeof(ray_tl_event) == 88, "timeline record size");

int ray_tl_on;
static tl_file *tl_hdr;
static ray_tl_event *tl_ev;
static uint64_t tl_cap;
static size_t tl_map_size;
static int tl_fd = -1;
static pthread_mutex_t tl_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t wall_offset(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec - (int64_t)ray_now_ns();
}

int ray_tl_open(const ray_config *cfg, const char *jobdir, uint32_t node, const char *role,
                int service)
{
    if (!cfg->timeline || !*cfg->timeline || ray_tl_on || !jobdir || !*jobdir)
        return 0;
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/timeline", jobdir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return ray_err_sys("timeline: cannot make %s", dir);
    snprintf(path, sizeof(path), "%s/%d.tl", dir, (int)getpid());
    uint64_t cap = RAY_MAX(cfg->timeline_events, (uint64_t)16);
    cap = RAY_MIN(cap, (uint64_t)1 << 28);
    size_t size = sizeof(tl_file) + cap * sizeof(ray_tl_event);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ray_err_sys("timeline: cannot make %s", path);
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0 && posix_fallocate(fd, 0, sizeof(tl_file)) == 0)
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int rc = ray_err_sys("timeline: cannot map %s", path);
        close(fd);
        unlink(path);
        return rc;
    }
    tl_hdr = p;
    tl_ev = (ray_tl_event *)((char *)p + sizeof(tl_file));
    tl_cap = cap;
    tl_map_size = size;
    tl_fd = fd;
    tl_hdr->version = TL_VERSION;
    tl_hdr->node = node;
    tl_hdr->pid = (int32_t)getpid();
    tl_hdr->service = !!service;
    tl_hdr->cap = cap;
    tl_hdr->wall_off_ns = wall_offset();
    gethostname(tl_hdr->host, sizeof(tl_hdr->host) - 1);
    ray_tl_role(role);
    atomic_store(&tl_hdr->avail, 0);
    atomic_store(&tl_hdr->n, 0);
    atomic_store_explicit((_Atomic uint64_t *)&tl_hdr->magic, TL_MAGIC, memory_order_release);
    ray_tl_on = 1;
    return 0;
}

void ray_tl_role(const char *role)
{
    if (tl_hdr)
        snprintf(tl_hdr->role, sizeof(tl_hdr->role), "%s", role ? role : "");
}

/* Space for record i and the chunk it starts; 0, or -1 when the file
 * cannot grow (the recording stops there). */
static int grow(uint64_t i)
{
    int rc = 0;
    pthread_mutex_lock(&tl_lock);
    uint64_t avail = atomic_load(&tl_hdr->avail);
    while (avail <= i && avail < tl_cap) {
        uint64_t more = RAY_MIN((uint64_t)TL_CHUNK, tl_cap - avail);
        off_t off = (off_t)(sizeof(tl_file) + avail * sizeof(ray_tl_event));
        int e = posix_fallocate(tl_fd, off, (off_t)(more * sizeof(ray_tl_event)));
        if (e && e != EOPNOTSUPP && e != EINVAL) { /* the disk is full: stop here */
            tl_cap = avail;
            rc = -1;
            break;
        }
        avail += more;
        atomic_store(&tl_hdr->avail, avail);
    }
    pthread_mutex_unlock(&tl_lock);
    return rc;
}

ray_tl_event *ray_tl_next(void)
{
    if (!ray_tl_on)
        return NULL;
    uint64_t i = atomic_fetch_add_explicit(&tl_hdr->n, 1, memory_order_relaxed);
    if (i >= tl_cap)
        return NULL;
    if (i >= atomic_load_explicit(&tl_hdr->avail, memory_order_acquire) && grow(i))
        return NULL;
    ray_tl_event *e = &tl_ev[i];
    memset((char *)e + sizeof(e->kind), 0, sizeof(*e) - sizeof(e->kind));
    return e;
}

void ray_tl_close(void)
{
    if (!tl_hdr)
        return;
    ray_tl_on = 0;
    munmap(tl_hdr, tl_map_size);
    close(tl_fd);
    tl_hdr = NULL;
    tl_ev = NULL;
    tl_fd = -1;
}

/* ---- reading back */

typedef struct tl_buf {
    char *p;
    size_t len, cap;
} tl_buf;

static int buf_add(tl_buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = RAY_MAX(b->cap * 2, b->len + n + 65536);
        char *p = realloc(b->p, cap);
        if (!p)
            return ray_err(RAY_ENOMEM, "timeline: out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* A checked copy of record e, or 0 if it is not one. */
static int record_ok(const ray_tl_event *e, ray_tl_event *out)
{
    uint32_t kind = atomic_load_explicit(&e->kind, memory_order_acquire);
    if (!kind || kind >= RAY_TL_KIND_MAX)
        return 0;
    memcpy(out, e, sizeof(*out));
    out->name[RAY_TL_NAME_MAX - 1] = 0;
    if (out->end_ns < out->start_ns)
        out->end_ns = out->start_ns;
    if (out->queued_ns > out->start_ns)
        out->queued_ns = 0;
    return 1;
}

static int add_file(tl_buf *b, size_t max, int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size < sizeof(tl_file)) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    size_t size = (size_t)st.st_size;
    const char *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    tl_file h;
    memcpy(&h, p, sizeof(h));
    int rc = 0;
    if (h.magic == TL_MAGIC && h.version == TL_VERSION) {
        uint64_t cap = RAY_MIN(h.cap, (size - sizeof(tl_file)) / sizeof(ray_tl_event));
        uint64_t taken = atomic_load(&h.n), n = RAY_MIN(taken, cap);
        n = RAY_MIN(n, atomic_load(&h.avail));
        h.role[sizeof(h.role) - 1] = h.host[sizeof(h.host) - 1] = 0;
        size_t at = b->len;
        if (b->len + sizeof(h) > max) {
            /* no room for even its header */
        } else if (!(rc = buf_add(b, &h, sizeof(h)))) {
            const ray_tl_event *ev = (const ray_tl_event *)(p + sizeof(tl_file));
            uint64_t good = 0;
            for (uint64_t i = 0; i < n && !rc && b->len + sizeof(ray_tl_event) <= max; i++) {
                ray_tl_event e;
                if (record_ok(&ev[i], &e) && !(rc = buf_add(b, &e, sizeof(e))))
                    good++;
            }
            tl_file *out = (tl_file *)(b->p + at);
            atomic_store(&out->n, good);
            out->cap = good;
            out->dropped = taken - good;
        }
    }
    munmap((void *)p, size);
    return rc;
}

int ray_tl_collect(const char *jobdir, size_t max, void **blob, size_t *len)
{
    *blob = NULL;
    *len = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/timeline", jobdir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : ray_err_sys("timeline: cannot read %s", dir);
    tl_buf b = {0};
    struct dirent *e;
    int rc = 0;
    for (uint32_t files = 0; !rc && files < TL_FILES_MAX && (e = readdir(d)); files++) {
        size_t n = strlen(e->d_name);
        if (n > 3 && !strcmp(e->d_name + n - 3, ".tl"))
            rc = add_file(&b, max, dirfd(d), e->d_name);
    }
    closedir(d);
    if (rc) {
        free(b.p);
        return rc;
    }
    *blob = b.p;
    *len = b.len;
    return 0;
}

/* ---- the trace */

/* The next blob at *off: its header, its records; 0 at the end, 1, or
 * RAY_EPROTO. */
static int next_blob(const uint8_t *p, size_t len, size_t *off, tl_file *h,
                     const ray_tl_event **ev)
{
    if (*off == len)
        return 0;
    if (len - *off < sizeof(*h))
        return ray_err(RAY_EPROTO, "timeline: a truncated header at byte %zu", *off);
    memcpy(h, p + *off, sizeof(*h));
    uint64_t n = atomic_load(&h->n);
    if (h->magic != TL_MAGIC || h->version != TL_VERSION)
        return ray_err(RAY_EPROTO, "timeline: no header at byte %zu", *off);
    if (n > (len - *off - sizeof(*h)) / sizeof(ray_tl_event))
        return ray_err(RAY_EPROTO, "timeline: %llu records at byte %zu run past the end",
                       (unsigned long long)n, *off);
    h->role[sizeof(h->role) - 1] = h->host[sizeof(h->host) - 1] = 0;
    *ev = (const ray_tl_event *)(p + *off + sizeof(*h));
    *off += sizeof(*h) + n * sizeof(ray_tl_event);
    return 1;
}

static void put_str(FILE *out, const char *s)
{
    putc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) /* bytes as code points: valid JSON whatever they are */
            fprintf(out, "\\u%04x", c);
        else
            putc(c, out);
    }
    putc('"', out);
}

static const char *cat_of(uint32_t kind)
{
    switch (kind) {
    case RAY_TL_TASK: return "task";
    case RAY_TL_ACTOR_CALL: return "actor_call";
    case RAY_TL_ACTOR_CREATE: return "actor_create";
    default: return "transfer";
    }
}

/* Wall-clock ns of a process's monotonic time (unsigned: whatever a blob says). */
static int64_t wall(uint64_t mono_ns, int64_t off)
{
    return (int64_t)(mono_ns + (uint64_t)off);
}

static double us_since(uint64_t mono_ns, int64_t off, int64_t base)
{
    return (double)(int64_t)((uint64_t)wall(mono_ns, off) - (uint64_t)base) / 1000.0;
}

static void put_event(FILE *out, const tl_file *h, const ray_tl_event *e, int64_t base)
{
    uint32_t kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
    char name[RAY_TL_NAME_MAX];
    memcpy(name, e->name, sizeof(name));
    name[sizeof(name) - 1] = 0;
    fputs(",\n{\"ph\":\"X\",\"cat\":\"", out);
    fputs(cat_of(kind), out);
    fputs("\",\"name\":", out);
    put_str(out, name[0] ? name : kind == RAY_TL_TRANSFER ? "pull" : "?");
    uint64_t end = RAY_MAX(e->end_ns, e->start_ns);
    fprintf(out, ",\"pid\":%u,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{", h->node,
            h->service ? 0 : h->pid, us_since(e->start_ns, h->wall_off_ns, base),
            (double)(end - e->start_ns) / 1000.0);
    if (kind == RAY_TL_TRANSFER) {
        fprintf(out, "\"from_node\":%u,\"to_node\":%u,\"bytes\":%llu", e->peer, h->node,
                (unsigned long long)e->bytes_in);
    } else {
        if (e->queued_ns && e->queued_ns <= e->start_ns)
            fprintf(out, "\"queued_us\":%.3f,\"wait_us\":%.3f,",
                    us_since(e->queued_ns, h->wall_off_ns, base),
                    (double)(e->start_ns - e->queued_ns) / 1000.0);
        fprintf(out, "\"bytes_in\":%llu,\"bytes_out\":%llu,\"attempt\":%u,\"status\":",
                (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out, e->attempt);
        put_str(out, e->status ? ray_errname(e->status) : "ok");
    }
    fputs("}}", out);
}

static void put_meta(FILE *out, const char *what, uint32_t pid, int tid, const char *key,
                     const char *sval, long ival)
{
    fprintf(out, ",\n{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%u", what, pid);
    if (tid >= 0)
        fprintf(out, ",\"tid\":%d", tid);
    fprintf(out, ",\"args\":{\"%s\":", key);
    if (sval)
        put_str(out, sval);
    else
        fprintf(out, "%ld", ival);
    fputs("}}", out);
}

/* Rows: a node's name once (nodes seen in a bitmap), each process's. */
static void put_rows(FILE *out, const tl_file *h, uint8_t *seen)
{
    char label[160];
    if (!(seen[h->node >> 3] & (1u << (h->node & 7)))) {
        seen[h->node >> 3] |= (uint8_t)(1u << (h->node & 7));
        snprintf(label, sizeof(label), "node %u (%s)", h->node, h->host);
        put_meta(out, "process_name", h->node, -1, "name", label, 0);
        put_meta(out, "process_sort_index", h->node, -1, "sort_index", NULL, (long)h->node);
    }
    int tid = h->service ? 0 : h->pid;
    snprintf(label, sizeof(label), "%s pid %d", h->role[0] ? h->role : "worker", (int)h->pid);
    put_meta(out, "thread_name", h->node, tid, "name", label, 0);
    put_meta(out, "thread_sort_index", h->node, tid, "sort_index", NULL, h->service ? 0 : 1);
}

int ray_tl_convert(const void *blobs, size_t len, FILE *out, uint64_t *events)
{
    const uint8_t *p = blobs;
    tl_file h;
    const ray_tl_event *ev;
    size_t off = 0, good_end = 0;
    int64_t base = INT64_MAX;
    uint64_t dropped = 0;
    int rc;
    *events = 0;
    /* First the start of time (the earliest event anywhere) and how much is sound. */
    while ((rc = next_blob(p, len, &off, &h, &ev)) == 1) {
        good_end = off;
        dropped += h.dropped;
        uint64_t n = atomic_load(&h.n);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t = ev[i].queued_ns ? RAY_MIN(ev[i].queued_ns, ev[i].start_ns) : ev[i].start_ns;
            base = RAY_MIN(base, wall(t, h.wall_off_ns));
        }
    }
    int bad = rc < 0 ? rc : 0;
    if (base == INT64_MAX)
        base = 0;
    uint8_t *seen = calloc(65536 / 8, 1);
    if (!seen)
        return ray_err(RAY_ENOMEM, "timeline: out of memory");
    fputs("{\"traceEvents\":[\n{\"ph\":\"M\",\"name\":\"ray-mpi\",\"pid\":0,\"args\":{}}", out);
    off = 0;
    while (off < good_end && next_blob(p, good_end, &off, &h, &ev) == 1) {
        h.node &= 0xffffu;
        put_rows(out, &h, seen);
        uint64_t n = atomic_load(&h.n);
        for (uint64_t i = 0; i < n; i++) {
            uint32_t kind = atomic_load_explicit(&ev[i].kind, memory_order_relaxed);
            if (!kind || kind >= RAY_TL_KIND_MAX)
                continue;
            put_event(out, &h, &ev[i], base);
            ++*events;
        }
    }
    free(seen);
    fprintf(out, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"ray-mpi %s\","
                 "\"events\":%llu,\"dropped\":%llu,\"start_unix_ns\":%lld}}\n",
            PACKAGE_VERSION, (unsigned long long)*events, (unsigned long long)dropped,
            (long long)base);
    return bad;
}

int ray_tl_write(const char *path, const void *blobs, size_t len)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.part", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return ray_err_sys("timeline: cannot write %s", tmp);
    uint64_t events;
    int rc = ray_tl_convert(blobs, len, f, &events);
    if (rc)
        ray_warn("timeline", "%s (what came before is written)", ray_last_error());
    if (fclose(f) || rename(tmp, path)) {
        rc = ray_err_sys("timeline: cannot write %s", path);
        unlink(tmp);
        return rc;
    }
    ray_info("timeline", "%llu events written to %s", (unsigned long long)events, path);
    return 0;
}

void ray_tl_header(void *out, uint32_t node, int32_t pid, int service, uint64_t n,
                   const char *role, const char *host)
{
    tl_file h;
    memset(&h, 0, sizeof(h));
    h.magic = TL_MAGIC;
    h.version = TL_VERSION;
    h.node = node;
    h.pid = pid;
    h.service = !!service;
    h.cap = n;
    atomic_store(&h.n, n);
    atomic_store(&h.avail, n);
    snprintf(h.role, sizeof(h.role), "%s", role ? role : "");
    snprintf(h.host, sizeof(h.host), "%s", host ? host : "");
    memcpy(out, &h, sizeof(h));
}
