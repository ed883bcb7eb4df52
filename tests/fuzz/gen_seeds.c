/*
 * gen_seeds.c - the seed corpora of the fuzz targets
 * (tests/fuzz/corpus/<target>/): frames, rings, task specs, settings,
 * handshakes and node-to-node messages as ray-mpi's own encoders and
 * structs make them, and the
 * usual ways they go wrong, so that each fuzzer starts from the protocol
 * rather than from nothing.  The layout of each seed is the one its target
 * reads (the comment at the top of each fuzz_<name>.c).
 *
 *   gen_seeds DIR   writes DIR/<target>/<seed> (make fuzz-seeds: the source tree)
 *   gen_seeds       checks that the committed corpus is exactly what it
 *                   writes (make check; TAP, one point per target)
 */
#include "fuzz.h"
#include "lib/tap.h"
#include "sched/sched.h"
#include "sched/wire.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

typedef struct seed {
    uint8_t b[16384];
    size_t n;
} seed;

static void put(seed *s, const void *p, size_t n)
{
    if (!n)
        return; /* p may be NULL */
    if (s->n + n > sizeof(s->b))
        abort();
    memcpy(s->b + s->n, p, n);
    s->n += n;
}
static void put_u8(seed *s, uint8_t v)
{
    put(s, &v, 1);
}
static void put_u16(seed *s, uint16_t v)
{
    put(s, &v, 2);
}
static void put_u32(seed *s, uint32_t v)
{
    put(s, &v, 4);
}
static void put_u64(seed *s, uint64_t v)
{
    put(s, &v, 8);
}
static void put_str(seed *s, const char *str)
{
    put(s, str, strlen(str));
}

/* ---- where seeds go: written to a directory, or compared with the tree */

static const char *out_dir; /* NULL: check mode */
static int mismatches, written;

static int same_file(const char *path, const seed *s)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint8_t buf[sizeof(s->b) + 1];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return n == s->n && !memcmp(buf, s->b, n);
}

static void emit(const char *target, const char *name, const seed *s)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_dir ? out_dir : FUZZ_DATA_DIR "/corpus", target);
    if (out_dir)
        mkdir(path, 0755);
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", name);
    written++;
    if (!out_dir) {
        if (!same_file(path, s)) {
            diag("%s differs from what gen_seeds writes (or is missing)", path);
            mismatches++;
        }
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f)) {
        fprintf(stderr, "gen_seeds: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* Check mode: the target's committed seeds are exactly the ones written. */
static void finish(const char *target)
{
    if (out_dir)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/corpus/%s", FUZZ_DATA_DIR, target);
    int files = 0;
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));)
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    ok(!mismatches && files == written && written > 0,
       "corpus/%s is what gen_seeds writes (%d seeds, %d files)", target, written, files);
    mismatches = written = 0;
}

/* ---- fuzz_sock: [cap index, descriptors sent | asked << 3] frame */

static void sock_frame(const char *name, uint8_t cap_idx, int send, int want, uint32_t magic,
                       uint16_t type, const void *payload, uint32_t len, uint32_t claimed_len,
                       int claimed_fds)
{
    seed s = {.n = 0};
    put_u8(&s, cap_idx);
    put_u8(&s, (uint8_t)(send | want << 3));
    ray_sock_hdr h = {magic, type, (uint16_t)claimed_fds, claimed_len, 0};
    put(&s, &h, sizeof(h));
    put(&s, payload, len);
    emit("fuzz_sock", name, &s);
}

static void seeds_sock(void)
{
    sock_hello hello = {SCHED_PROTO_VERSION, CLIENT_DRIVER, 4242, 0};
    sock_welcome w;
    memset(&w, 0, sizeof(w));
    w.kind = CLIENT_POOL;
    w.num_nodes = 1;
    snprintf(w.jobdir, sizeof(w.jobdir), "/tmp/ray-mpi.0.abcdef");
    sock_frame("hello", 3, 0, 0, RAY_SOCK_MAGIC, SOCK_HELLO, &hello, sizeof(hello), sizeof(hello),
               0);
    sock_frame("welcome-3-fds", 5, 3, 3, RAY_SOCK_MAGIC, SOCK_WELCOME, &w, sizeof(w), sizeof(w), 3);
    sock_frame("bye", 1, 0, 0, RAY_SOCK_MAGIC, SOCK_BYE, NULL, 0, 0, 0);
    sock_frame("too-big-for-buffer", 2, 0, 0, RAY_SOCK_MAGIC, 9, &w, 200, 200, 0);
    sock_frame("bad-magic", 3, 3, 4, 0x12345678u, SOCK_HELLO, &hello, sizeof(hello), sizeof(hello),
               3);
    sock_frame("length-mismatch", 4, 0, 0, RAY_SOCK_MAGIC, SOCK_HELLO, &hello, 8, 100, 0);
    sock_frame("fds-not-asked-for", 3, 3, 1, RAY_SOCK_MAGIC, SOCK_WELCOME, &hello, 8, 8, 3);
    sock_frame("fds-overflow-control", 3, 7, 4, RAY_SOCK_MAGIC, SOCK_WELCOME, &hello, 8, 8, 7);
    seed s = {.n = 0};
    put_u8(&s, 3);
    put_u8(&s, 0);
    put_u32(&s, RAY_SOCK_MAGIC);
    emit("fuzz_sock", "short-frame", &s);
    s.n = 2;
    emit("fuzz_sock", "empty-frame", &s);
    finish("fuzz_sock");
}

/* ---- fuzz_ring: a ring left by a real producer, and scripts */

static void ring_state(const char *name, uint8_t size_idx, int records, int popped, int skew)
{
    uint64_t size = 64ull << size_idx;
    ray_ring_hdr hdr;
    uint8_t *data = calloc(1, size);
    ray_ring prod, cons;
    ray_ring_init(&hdr, size);
    ray_ring_attach(&prod, &hdr, data, size);
    ray_ring_attach(&cons, &hdr, data, size);
    for (int i = 0; i < records; i++) {
        uint32_t len = (uint32_t)(i * 7 % 40);
        uint8_t *p = ray_ring_reserve(&prod, (uint16_t)(i + 1), len);
        if (!p) {
            uint16_t type;
            uint32_t l;
            int err;
            if (ray_ring_peek(&cons, &type, &l, &err))
                ray_ring_pop(&cons);
            continue;
        }
        memset(p, i, len);
        ray_ring_commit(&prod);
        if (i < popped) {
            uint16_t type;
            uint32_t l;
            int err;
            if (ray_ring_peek(&cons, &type, &l, &err))
                ray_ring_pop(&cons);
        }
    }
    seed s = {.n = 0};
    put_u8(&s, 0); /* drain */
    put_u8(&s, size_idx);
    put_u8(&s, 0);
    put_u64(&s, atomic_load(&hdr.head));
    put_u64(&s, atomic_load(&hdr.tail) + (uint64_t)skew);
    put_u64(&s, size);
    put(&s, data, size);
    free(data);
    emit("fuzz_ring", name, &s);
}

static void ring_script(const char *name, uint8_t size_idx, uint64_t start, const char *ops)
{
    seed s = {.n = 0};
    put_u8(&s, 1); /* script */
    put_u8(&s, size_idx);
    put_u64(&s, start);
    for (const char *p = ops; *p; p++) {
        if (*p == 'c') {
            put_u8(&s, 0); /* consume */
        } else {
            put_u8(&s, 1); /* produce (*p - '0') * 9 bytes */
            put_u8(&s, (uint8_t)((*p - '0') * 9));
        }
    }
    emit("fuzz_ring", name, &s);
}

static void seeds_ring(void)
{
    ring_state("fresh-records", 2, 5, 0, 0);
    ring_state("wrapped-with-pad", 2, 40, 36, 0);
    ring_state("tail-past-data", 0, 3, 0, 4096);
    ring_state("tail-unaligned", 1, 4, 1, 3);
    ring_script("produce-consume", 2, 0, "12c3cc4567cccc");
    ring_script("fill-then-drain", 0, 1000, "99999999cccccccc");
    ring_script("near-end", 1, 0x7ffffffff0ull, "5c5c5c9c9c9c");
    finish("fuzz_ring");
}

/* ---- fuzz_task: [flags, kind, nret, nargs, res_len, body_len, body_obj, (corrupt)] body */

enum { T_IN_OBJECT = 1, T_CORRUPT = 2, T_RAW_OBJ = 4, T_EXACT_LEN = 8 };

static void task_body(seed *b, uint16_t nret, uint16_t nvals, uint16_t nrefs, uint32_t val_len,
                      const char *res)
{
    for (uint32_t i = 0; i < nret; i++) {
        sched_out o = {10 + i, 1};
        put(b, &o, sizeof(o));
    }
    for (uint32_t i = 0; i < nvals; i++) {
        put_u32(b, SCHED_ARG_VAL);
        put_u32(b, val_len);
        for (uint32_t k = 0; k < RAY_ALIGN_UP(val_len, 8); k++)
            put_u8(b, (uint8_t)(k < val_len ? 'a' + i : 0));
    }
    for (uint32_t i = 0; i < nrefs; i++) {
        ray_id id = {0, 20 + i, 3, 0x5a5a, RAY_ID_OBJECT, 0};
        put_u32(b, SCHED_ARG_REF);
        put_u32(b, sizeof(id));
        put(b, &id, sizeof(id));
    }
    put_str(b, res);
}

static void task_spec(const char *name, uint8_t flags, uint16_t nret, uint16_t nvals,
                      uint16_t nrefs, uint32_t val_len, const char *res, uint32_t body_obj)
{
    seed b = {.n = 0}, s = {.n = 0};
    task_body(&b, nret, nvals, nrefs, val_len, res);
    put_u8(&s, flags | T_EXACT_LEN);
    put_u8(&s, TASK_NORMAL);
    put_u16(&s, nret);
    put_u16(&s, (uint16_t)(nvals + nrefs));
    put_u16(&s, (uint16_t)strlen(res));
    put_u32(&s, (uint32_t)b.n);
    put_u32(&s, body_obj);
    if (flags & T_CORRUPT) { /* size, block, offset of the body object's entry */
        put_u64(&s, b.n);
        put_u32(&s, 1);
        put_u64(&s, (1u << 20) - 64);
    }
    put(&s, b.b, b.n);
    emit("fuzz_task", name, &s);
}

static void seeds_task(void)
{
    task_spec("inline-one-value", 0, 1, 1, 0, 8, "", 0);
    task_spec("inline-value-ref-resources", 0, 1, 1, 1, 13, "accel:1,fpga:0.5", 0);
    task_spec("inline-no-args", 0, 3, 0, 0, 0, "", 0);
    task_spec("object-many-args", T_IN_OBJECT, 2, 20, 4, 100, "", 0);
    task_spec("object-small", T_IN_OBJECT, 0, 1, 0, 4, "", 0);
    task_spec("object-entry-corrupt", T_IN_OBJECT | T_CORRUPT, 1, 3, 0, 200, "", 0);
    task_spec("object-number-out-of-table", T_RAW_OBJ, 0, 0, 0, 0, "", 1000);
    task_spec("max-returns", 0, SCHED_MAX_RETURNS, 0, 0, 0, "", 0);
    finish("fuzz_task");
}

/* ---- fuzz_config: records [how] NAME=value \0 */

enum { C_ENV, C_OPT_EQ, C_OPT_ARG, C_RAW };

typedef struct config_rec {
    const char *name; /* NULL: the end of a seed's records */
    int how;
    const char *value;
} config_rec;

static const struct {
    const char *seed;
    config_rec recs[5];
} config_seeds[] = {
    {"env-typical",
     {{"NUM_CPUS", C_ENV, "4"}, {"OBJECT_STORE_MEMORY", C_ENV, "512M"}, {"LOG", C_ENV, "debug"}}},
    {"options-typical",
     {{"RESOURCES", C_OPT_EQ, "accel:2,fpga:0.5"},
      {"MAX_WORKERS", C_OPT_ARG, "auto"},
      {"PREFAULT", C_OPT_EQ, "no"},
      {"SPIN_US", C_OPT_ARG, "0"}}},
    {"env-negative", {{"NUM_GPUS", C_ENV, "-1"}}},
    {"env-uint-overflow", {{"MAX_OBJECTS", C_ENV, "18446744073709551616"}}},
    {"options-odd",
     {{"OBJECT_STORE_MEMORY", C_OPT_EQ, "16EiB"},
      {"TMPDIR", C_OPT_EQ, "/scratch/with a space/and=equals"}}},
    {"raw-arguments", {{"", C_RAW, "--log=trace"}, {"", C_RAW, "--num-cpus"}}},
    {"resources-cpu", {{"RESOURCES", C_ENV, "a:1,b:2,CPU:3"}}},
    {"unknown-name", {{"NO_SUCH_SETTING", C_ENV, "1"}, {"NO_SUCH_SETTING", C_OPT_EQ, "1"}}},
};

static void seeds_config(void)
{
    for (size_t i = 0; i < RAY_ARRAY_SIZE(config_seeds); i++) {
        seed s = {.n = 0};
        for (const config_rec *r = config_seeds[i].recs; r->name; r++) {
            put_u8(&s, (uint8_t)r->how);
            if (r->how != C_RAW) {
                put_str(&s, r->name);
                put_u8(&s, '=');
            }
            put_str(&s, r->value);
            put_u8(&s, 0);
        }
        emit("fuzz_config", config_seeds[i].seed, &s);
    }
    finish("fuzz_config");
}

/* ---- fuzz_hello: [0 hello | 1 welcome | 2 layout] parameters frame */

static void hello_seed(const char *name, int driver, uint32_t slot, uint16_t type, sock_hello h)
{
    seed s = {.n = 0};
    put_u8(&s, 0);
    put_u8(&s, (uint8_t)driver);
    put_u32(&s, slot);
    put_u16(&s, type);
    put(&s, &h, sizeof(h));
    emit("fuzz_hello", name, &s);
}

static void welcome_seed(const char *name, int nfds, int code, const char *msg)
{
    sock_welcome w;
    memset(&w, 0, sizeof(w));
    w.code = code;
    w.slot = 3;
    w.kind = CLIENT_POOL;
    w.num_nodes = 1;
    w.ctl_size = 1 << 24;
    w.arena_size = 1 << 29;
    snprintf(w.jobdir, sizeof(w.jobdir), "/tmp/ray-mpi.0.Xq3Zr1");
    snprintf(w.msg, sizeof(w.msg), "%s", msg);
    seed s = {.n = 0};
    put_u8(&s, 1);
    put_u16(&s, SOCK_WELCOME);
    put_u8(&s, (uint8_t)nfds);
    put(&s, &w, sizeof(w));
    emit("fuzz_hello", name, &s);
}

/* A layout sched_layout_compute makes from five sizes, then one of its
 * 8-byte words changed (delta 0: none); the fuzzer also gets raw bytes. */
static void layout_seed(const char *name, const uint32_t sizes[4], uint64_t arena, uint8_t word,
                        uint64_t delta)
{
    seed s = {.n = 0};
    put_u8(&s, 2);
    put_u8(&s, (uint8_t)(1 | word << 1));
    put(&s, sizes, 4 * sizeof(uint32_t)); /* objects, tasks, processes, actors */
    put_u64(&s, arena);
    put_u64(&s, delta);
    emit("fuzz_hello", name, &s);
}

static void seeds_hello(void)
{
    sock_hello driver = {SCHED_PROTO_VERSION, CLIENT_DRIVER, 4242, 0};
    sock_hello worker = {SCHED_PROTO_VERSION, CLIENT_POOL, 4243, 7};
    sock_hello old = {SCHED_PROTO_VERSION + 1, CLIENT_DRIVER, 4242, 0};
    hello_seed("hello-driver", 1, 0, SOCK_HELLO, driver);
    hello_seed("hello-worker", 0, 7, SOCK_HELLO, worker);
    hello_seed("hello-worker-says-driver", 0, 7, SOCK_HELLO, driver);
    hello_seed("hello-other-version", 1, 0, SOCK_HELLO, old);
    welcome_seed("welcome", 3, 0, "");
    welcome_seed("welcome-error", 0, RAY_ESYS, "node 0: cannot make the job directory");
    welcome_seed("welcome-unknown-code", 0, 7, "positive");
    const uint32_t defaults[4] = {8388608, 4194304, 528, 65536}, small[4] = {1024, 512, 80, 64};
    layout_seed("layout-default-settings", defaults, 1ull << 33, 0, 0);
    layout_seed("layout-small", small, 1 << 26, 0, 0);
    layout_seed("layout-moved-part", small, 1 << 26, 6, 4096);
    layout_seed("layout-too-many-processes", (const uint32_t[4]){64, 64, 70000, 8}, 1 << 20, 0, 0);
    finish("fuzz_hello");
}

/* ---- fuzz_wire: [mode] a message (0), a task record (1), argument
 * records (2), outputs (3), or [4, u16 size, u32 tail] a fixed record */

enum { WS_MESSAGE, WS_TASK, WS_ARGS, WS_OUTS, WS_FIXED };

static void put_pad8(seed *s)
{
    while (s->n % 8)
        put_u8(s, 0);
}

/* Overwrites n bytes at `at` (a field of what was built). */
static void patch(seed *s, size_t at, const void *v, size_t n)
{
    if (at + n > s->n)
        abort();
    memcpy(s->b + at, v, n);
}

static void wire_seed(const char *name, uint8_t mode, const void *p, size_t n)
{
    seed s = {.n = 0};
    put_u8(&s, mode);
    put(&s, p, n);
    emit("fuzz_wire", name, &s);
}

static void message_seed(const char *name, const wire_buf *b, size_t cut)
{
    wire_seed(name, WS_MESSAGE, b->data, b->len - cut);
}

/* A record of type with n bytes of payload, appended with wire_put. */
static void rec_bytes(wire_buf *b, uint16_t type, const void *payload, size_t n)
{
    uint8_t *p = wire_put(b, type, (uint32_t)n);
    if (!p)
        abort();
    if (n)
        memcpy(p, payload, n);
}

static void rec(wire_buf *b, uint16_t type, const seed *payload)
{
    rec_bytes(b, type, payload->b, payload->n);
}

/* Argument records (remote.c write_args): values of val_len bytes, refs. */
static void wire_args(seed *a, int nvals, uint32_t val_len, int nrefs)
{
    for (int i = 0; i < nvals; i++) {
        put_u32(a, SCHED_ARG_VAL);
        put_u32(a, val_len);
        for (uint32_t k = 0; k < val_len; k++)
            put_u8(a, (uint8_t)('a' + i));
        put_pad8(a);
    }
    for (int i = 0; i < nrefs; i++) {
        wire_ref r = {1, 30 + (uint32_t)i, 2, 0};
        put_u32(a, SCHED_ARG_REF);
        put_u32(a, sizeof(r));
        put(a, &r, sizeof(r));
    }
}

/* A task record (remote_encode_task): header, the owner's outputs, name
 * and resources padded to 8, the argument records. */
static void wire_task_rec(seed *t, uint8_t kind, uint16_t nret, const char *name, const char *res,
                          int nvals, uint32_t val_len, int nrefs)
{
    seed a = {.n = 0};
    wire_args(&a, nvals, val_len, nrefs);
    wire_task w = {.owner_task = 5,
                   .owner_gen = 1,
                   .fn = 0x9e3779b97f4a7c15ull,
                   .cpu_milli = 1000,
                   .nret = nret,
                   .nargs = (uint16_t)(nvals + nrefs),
                   .retries = 3,
                   .kind = kind,
                   .res_len = (uint16_t)strlen(res),
                   .name_len = (uint16_t)strlen(name),
                   .args_len = (uint32_t)a.n};
    put(t, &w, sizeof(w));
    for (uint32_t i = 0; i < nret; i++) {
        sched_out o = {40 + i, 1};
        put(t, &o, sizeof(o));
    }
    put_str(t, name);
    put_str(t, res);
    put_pad8(t);
    put(t, a.b, a.n);
}

/* One output of a result (remote.c): inline bytes, where they are, an error. */
static void wire_out_put(seed *s, uint32_t kind, int32_t code, uint64_t size, const char *bytes)
{
    wire_out o = {kind, code, size, 0, 0, 0, (uint32_t)strlen(bytes), 0};
    if (kind == WIRE_OUT_AT)
        o = (wire_out){kind, 0, size, 1 << 16, 77, 1, 0, 0};
    put(s, &o, sizeof(o));
    put_str(s, bytes);
    put_pad8(s);
}

static void wire_result_rec(seed *s, uint32_t claimed)
{
    wire_result r = {5, 1, claimed, 0};
    put(s, &r, sizeof(r));
    wire_out_put(s, WIRE_OUT_INLINE, 0, 11, "hello world");
    wire_out_put(s, WIRE_OUT_AT, 0, 1 << 20, "");
    wire_out_put(s, WIRE_OUT_ERROR, RAY_ETASK, 0, "ValueError: boom");
}

static void wire_pulls(wire_buf *b, RAY_UNUSED uint32_t claimed)
{
    seed s = {.n = 0};
    wire_pull rq = {12, 3, 7, 1};
    rec_bytes(b, W_PULL, &rq, sizeof(rq));
    const struct {
        int32_t code;
        uint32_t kind;
        uint64_t size;
        const char *bytes;
    } answers[] = {{0, WIRE_OUT_INLINE, 5, "bytes"},
                   {0, WIRE_OUT_AT, 1 << 20, ""},
                   {RAY_ELOST, 0, 0, "node 1: obj:1:12:3 was released"}};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(answers); i++) {
        uint32_t len = (uint32_t)strlen(answers[i].bytes);
        wire_pulled w = {7,    1,   12, 3, answers[i].code, answers[i].kind, answers[i].size,
                         8192, len, 0};
        s.n = 0;
        put(&s, &w, sizeof(w));
        put_str(&s, answers[i].bytes);
        rec(b, W_PULLED, &s);
    }
    sched_out outs[2] = {{12, 3}, {13, 1}};
    rec_bytes(b, W_UNPIN, outs, sizeof(outs));
    rec_bytes(b, W_FREE, outs, sizeof(outs[0]));
}

static void wire_refs(wire_buf *b, RAY_UNUSED uint32_t claimed)
{
    wire_refdelta d[3] = {{12, 3, 1, 0}, {13, 1, -1, 0}, {14, 2, 2, 0}};
    rec_bytes(b, W_REF, d, sizeof(d));
    wire_reclaim r = {96u << 20};
    rec_bytes(b, W_RECLAIM, &r, sizeof(r));
}

static void wire_views(wire_buf *b, uint32_t claimed)
{
    wire_load l[3] = {{4000, 2, 4, 0}, {-500, 9, 4, 0}, {0, 0, 1, 0}};
    seed s = {.n = 0};
    rec_bytes(b, W_LOAD, l, sizeof(l[0]));
    wire_view v = {claimed, 0};
    put(&s, &v, sizeof(v));
    put(&s, l, sizeof(l));
    rec(b, W_VIEW, &s);
}

static void wire_names(wire_buf *b, uint32_t claimed)
{
    wire_name w = {NAME_PUT, 4, 0, 1, 20, 1, claimed, 0};
    seed s = {.n = 0};
    put(&s, &w, sizeof(w));
    put_str(&s, "counter");
    rec(b, W_NAME, &s);
    w.op = NAME_GET;
    w.name_len = 0;
    rec_bytes(b, W_NAME_REPLY, &w, sizeof(w));
}

static void wire_actors(wire_buf *b, RAY_UNUSED uint32_t claimed)
{
    wire_actor_new w = {2, 7};
    seed s = {.n = 0};
    put(&s, &w, sizeof(w));
    put_str(&s, "counter");
    put_pad8(&s);
    wire_task_rec(&s, TASK_ACTOR_CREATE, 0, "Counter", "", 1, 8, 0);
    rec(b, W_ACTOR_NEW, &s);
    wire_actor_reply r = {2, 0, 21, 1, 0, 0};
    rec_bytes(b, W_ACTOR_NEW_REPLY, &r, sizeof(r));
    sched_out o = {21, 1};
    rec_bytes(b, W_ACTOR_KILL, &o, sizeof(o));
}

static void wire_stop_rec(wire_buf *b, RAY_UNUSED uint32_t claimed)
{
    wire_stop st = {0, 0};
    rec_bytes(b, W_STOP, &st, sizeof(st));
}

/* Messages of the records of one kind; claimed is the count or length a
 * record says (a view's nodes, a name's bytes), more than sent or not. */
static const struct {
    const char *name;
    void (*build)(wire_buf *b, uint32_t claimed);
    uint32_t claimed;
} wire_groups[] = {
    {"pulls", wire_pulls, 0},  {"refdeltas", wire_refs, 0},
    {"view", wire_views, 3},   {"view-of-more-nodes-than-sent", wire_views, 1000},
    {"name", wire_names, 7},   {"name-longer-than-sent", wire_names, 100},
    {"actor", wire_actors, 0}, {"stop", wire_stop_rec, 0},
};

/* A message of one task record, its header's field at `at` then set. */
static void task_message(const char *name, size_t at, const void *v, size_t n, size_t cut)
{
    seed t = {.n = 0};
    wire_buf b = {NULL, 0, 0};
    wire_task_rec(&t, TASK_NORMAL, 2, "square", "accel:1", 1, 13, 1);
    if (v)
        patch(&t, at, v, n);
    rec(&b, W_TASK, &t);
    message_seed(name, &b, cut);
    wire_buf_free(&b);
}

/* A W_STOP, then a record header of type and len (len 0: half a header). */
static void bad_header(const char *name, uint16_t type, uint32_t len)
{
    wire_buf b = {NULL, 0, 0};
    wire_stop_rec(&b, 0);
    wire_stop_rec(&b, 0);
    wire_rec h = {type, 0, len};
    memcpy(b.data + b.len / 2, &h, sizeof(h));
    message_seed(name, &b, len ? 0 : b.len / 2 - sizeof(h) / 2);
    wire_buf_free(&b);
}

/* wire_fixed alone: a record of size (and tail bytes after it) asked for
 * in what the fuzzer gives, n bytes of p and then extra bytes. */
static void fixed_seed(const char *name, uint16_t size, uint32_t tail, const void *p, size_t n,
                       size_t extra)
{
    seed s = {.n = 0};
    put_u8(&s, WS_FIXED);
    put_u16(&s, size);
    put_u32(&s, tail);
    put(&s, p, n);
    for (size_t i = 0; i < extra; i++)
        put_u8(&s, (uint8_t)i);
    emit("fuzz_wire", name, &s);
}

static void seeds_wire(void)
{
    seed s = {.n = 0};
    wire_buf b = {NULL, 0, 0};
    task_message("task", 0, NULL, 0, 0);
    task_message("task-truncated", 0, NULL, 0, 20);
    uint16_t many = SCHED_MAX_RETURNS + 1;
    task_message("task-too-many-outputs", offsetof(wire_task, nret), &many, 2, 0);
    uint32_t big = 4096;
    task_message("task-args-overrun", offsetof(wire_task, args_len), &big, 4, 0);
    size_t args = sizeof(wire_task) + 2 * sizeof(sched_out) + 16;
    uint32_t bad_kind = 7, short_ref = 8, long_val = 1000;
    task_message("task-arg-of-unknown-kind", args, &bad_kind, 4, 0);
    task_message("task-arg-overruns", args + 4, &long_val, 4, 0);
    task_message("task-ref-of-8-bytes", args + 8 + 16 + 4, &short_ref, 4, 0);

    wire_task_rec(&s, TASK_NORMAL, 1, "f", "", 0, 0, 0);
    rec(&b, W_TASK, &s);
    message_seed("task-no-args", &b, 0);

    b.len = s.n = 0;
    wire_result_rec(&s, 3);
    rec(&b, W_RESULT, &s);
    message_seed("result", &b, 0);
    b.len = 0;
    wire_seed("outputs", WS_OUTS, s.b + sizeof(wire_result), s.n - sizeof(wire_result));
    patch(&s, offsetof(wire_result, nret), &(uint32_t){5}, 4);
    rec(&b, W_RESULT, &s);
    message_seed("result-fewer-outputs-than-said", &b, 0);
    b.len = 0;
    patch(&s, sizeof(wire_result) + offsetof(wire_out, size), &(uint64_t){12}, 8);
    rec(&b, W_RESULT, &s);
    message_seed("result-inline-size-not-length", &b, 0);

    for (size_t i = 0; i < RAY_ARRAY_SIZE(wire_groups); i++) {
        b.len = 0;
        wire_groups[i].build(&b, wire_groups[i].claimed);
        message_seed(wire_groups[i].name, &b, 0);
    }

    b.len = s.n = 0; /* a pass of the service's loop: many records to one node */
    wire_task_rec(&s, TASK_NORMAL, 1, "g", "", 2, 4, 1);
    rec(&b, W_TASK, &s);
    s.n = 0;
    wire_result_rec(&s, 3);
    rec(&b, W_RESULT, &s);
    wire_pulls(&b, 0);
    wire_refs(&b, 0);
    wire_views(&b, 3);
    wire_names(&b, 7);
    wire_stop_rec(&b, 0);
    message_seed("batch", &b, 0);
    message_seed("batch-truncated", &b, 100);
    wire_buf_free(&b);
    bad_header("record-of-unknown-type", W_TYPE_MAX, 8);
    bad_header("record-of-type-0", 0, 8);
    bad_header("record-length-unaligned", W_LOAD, 12);
    bad_header("record-length-overruns", W_LOAD, 4096);
    bad_header("record-header-cut", W_LOAD, 0);

    s.n = 0;
    wire_args(&s, 3, 13, 2);
    wire_seed("arguments", WS_ARGS, s.b, s.n);
    s.n = 0;
    wire_task_rec(&s, TASK_NORMAL, 2, "square", "accel:1", 1, 13, 1);
    wire_seed("task-record", WS_TASK, s.b, s.n);
    wire_seed("task-record-odd-length", WS_TASK, s.b, s.n - 3);
    wire_pull rq = {12, 3, 7, 1};
    fixed_seed("fixed-with-tail", sizeof(rq), 8, &rq, sizeof(rq), 8);
    fixed_seed("fixed-short", sizeof(wire_pulled), 0, &rq, sizeof(rq), 0);
    finish("fuzz_wire");
}

/* ---- fuzz_timeline: [mode] then a process's file (mode 1, 3) or blobs (0) */

static void tl_record(seed *s, uint32_t kind, const char *name, uint64_t start, uint64_t len)
{
    ray_tl_event e;
    memset(&e, 0, sizeof(e));
    atomic_store(&e.kind, kind);
    e.peer = kind == RAY_TL_TRANSFER ? 1 : 0;
    e.queued_ns = start ? start - 100 : 0;
    e.start_ns = start;
    e.end_ns = start + len;
    e.bytes_in = 1000;
    e.bytes_out = 8;
    snprintf(e.name, sizeof(e.name), "%s", name);
    put(s, &e, sizeof(e));
}

/* One file (or blob) of n records, kinds cycling through every kind (0 too). */
static void tl_part(seed *s, uint32_t node, int service, uint32_t n, uint32_t claimed)
{
    uint8_t h[RAY_TL_HEADER];
    ray_tl_header(h, node, 100 + (int32_t)node, service, claimed, service ? "node service" : "worker",
                  "host\"<&>");
    put(s, h, sizeof(h));
    for (uint32_t i = 0; i < n; i++)
        tl_record(s, service ? RAY_TL_TRANSFER : i % RAY_TL_KIND_MAX, i % 2 ? "leaf" : "add\\\x01",
                  1000000 + i * 1000, 500);
}

static void tl_seed(const char *name, uint8_t mode, uint32_t parts, uint32_t n, uint32_t claimed,
                    size_t cut)
{
    static seed s;
    s.n = 0;
    put_u8(&s, mode);
    for (uint32_t p = 0; p < parts; p++)
        tl_part(&s, p, p == 1, n, claimed);
    if (cut && cut < s.n)
        s.n -= cut;
    emit("fuzz_timeline", name, &s);
}

static void seeds_timeline(void)
{
    tl_seed("file-empty", 1, 1, 0, 0, 0);
    tl_seed("file-5-records", 1, 1, 5, 5, 0);
    tl_seed("file-claims-more", 1, 1, 3, 1000, 0);
    tl_seed("file-torn-record", 1, 1, 4, 4, 40);
    tl_seed("file-limited", 3, 1, 60, 60, 0);
    tl_seed("blobs-3-nodes", 0, 3, 4, 4, 0);
    tl_seed("blobs-truncated", 0, 2, 4, 4, 100);
    tl_seed("blobs-count-past-end", 0, 1, 2, 9, 0);
    finish("fuzz_timeline");
}

/* ---- fuzz_tljson: trace files as RAY_MPI_TIMELINE writes them, and broken ones */

static const char tl_trace_seed[] =
    "{\"traceEvents\":[\n"
    "{\"ph\":\"M\",\"name\":\"ray-mpi\",\"pid\":0,\"args\":{}},\n"
    "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":0,\"args\":{\"name\":\"node 0 (host-a)\"}},\n"
    "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":0,\"args\":{\"sort_index\":0}},\n"
    "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":0,\"tid\":0,\"args\":{\"name\":\"node service "
    "pid 800\"}},\n"
    "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":0,\"tid\":0,\"args\":{\"sort_index\":0}},"
    "\n"
    "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":0,\"tid\":812,\"args\":{\"name\":\"worker pid "
    "812\"}},\n"
    "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":0,\"args\":{\"sort_index\":0}},"
    "\n"
    "{\"ph\":\"X\",\"cat\":\"task\",\"name\":\"leaf\",\"pid\":0,\"tid\":812,\"ts\":1234.567,"
    "\"dur\":50.2,\"args\":{\"queued_us\":1200.1,\"wait_us\":34.467,\"bytes_in\":16,"
    "\"bytes_out\":8,\"attempt\":0,\"status\":\"ok\"}},\n"
    "{\"ph\":\"X\",\"cat\":\"actor_call\",\"name\":\"Counter.add\",\"pid\":0,\"tid\":812,"
    "\"ts\":1300,\"dur\":3.5,\"args\":{\"bytes_in\":0,\"bytes_out\":8,\"attempt\":1,"
    "\"status\":\"RAY_ETASK\"}},\n"
    "{\"ph\":\"X\",\"cat\":\"actor_create\",\"name\":\"Counter\",\"pid\":1,\"tid\":1201,\"ts\":10,"
    "\"dur\":900},\n"
    "{\"ph\":\"X\",\"cat\":\"transfer\",\"name\":\"pull\",\"pid\":1,\"tid\":0,\"ts\":1400.25,"
    "\"dur\":310.5,\"args\":{\"from_node\":0,\"to_node\":1,\"bytes\":4194304}}\n"
    "],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"ray-mpi 0.1.0\",\"events\":4,"
    "\"dropped\":0,\"start_unix_ns\":1700000000000000000}}\n";

static const struct {
    const char *name, *text;
} tl_seeds[] = {
    {"bare-array", "[{\"ph\":\"X\",\"name\":\"a\",\"pid\":1,\"tid\":7,\"ts\":0,\"dur\":10},"
                   "{\"ph\":\"B\",\"name\":\"c\",\"cat\":\"task\",\"pid\":1,\"tid\":8,\"ts\":1},"
                   "{\"ph\":\"B\",\"pid\":1,\"tid\":8,\"ts\":2},{\"ph\":\"E\",\"pid\":1,\"tid\":8,"
                   "\"ts\":3},{\"ph\":\"E\",\"pid\":1,\"tid\":8,\"ts\":9},{\"ph\":\"E\",\"ts\":9},"
                   "{\"ph\":\"i\",\"name\":\"now\",\"ts\":5,\"s\":\"t\"},{\"ph\":\"C\",\"name\":"
                   "\"used\",\"ts\":6,\"args\":{\"bytes\":1}},{\"ph\":\"s\",\"id\":1,\"ts\":7},"
                   "{\"ph\":\"f\",\"id\":1,\"ts\":8},{}]"},
    {"escapes", "[{\"ph\":\"X\",\"ts\":1,\"name\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 "
                "\\ud83d\\ude00 lone \\ud800 \\udc00 nul \\u0000 <&>'\"},"
                "{\"ph\":\"X\",\"ts\":2,\"name\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"},"
                "{\"ph\":\"X\",\"ts\":3,\"name\":\"\\ud800\\n\\ud800\\ud800\\udfff\"}]"},
    {"numbers",
     "[{\"ph\":\"X\",\"ts\":-0,\"dur\":1.5e3},{\"ph\":\"X\",\"ts\":1E-7,\"dur\":0.000001},"
     "{\"ph\":\"X\",\"ts\":123456789012345,\"dur\":0e0,\"pid\":-9007199254740992},"
     "{\"ph\":\"X\",\"ts\":1e-400,\"args\":{\"bytes_in\":1.8e19}}]"},
    {"wrong-type", "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"a\",\"ts\":\"12\",\"dur\":3}]}"},
    {"pid-not-integer", "[{\"ph\":\"X\",\"ts\":1,\"pid\":1.5}]"},
    {"args-not-object", "[{\"ph\":\"X\",\"ts\":1,\"args\":[1,2]}]"},
    {"metadata-only", "{\"traceEvents\":[{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":4,"
                      "\"args\":{\"name\":\"node 4\"}},{\"ph\":\"M\",\"name\":\"thread_name\","
                      "\"pid\":4,\"tid\":3,\"args\":{\"name\":null}},{\"ph\":\"M\",\"name\":"
                      "\"thread_sort_index\",\"pid\":4,\"tid\":3,\"args\":{\"sort_index\":-2}}]}"},
    {"nested-args", "[{\"ph\":\"X\",\"ts\":1,\"args\":{\"a\":[[{\"b\":[true,false,null,{}]}],[]],"
                    "\"c\":{\"d\":{\"e\":{\"f\":[1,[2,[3,[4]]]]}}}}}]"},
    {"transfer-no-nodes", "[{\"ph\":\"X\",\"cat\":\"transfer\",\"ts\":5,\"dur\":1,\"args\":{"
                          "\"bytes\":10}},{\"ph\":\"X\",\"cat\":\"transfer\",\"ts\":5,\"args\":{"
                          "\"from_node\":3,\"to_node\":3}}]"},
    {"bom", "\xef\xbb\xbf[{\"ph\":\"X\",\"ts\":1}] \r\n\t"},
    {"empty", ""},
    {"trailing-comma", "[{\"ph\":\"X\",\"ts\":1},]"},
    {"trailing-bytes", "{\"traceEvents\":[]} []"},
    {"bad-utf8", "[{\"ph\":\"X\",\"ts\":1,\"name\":\"\xed\xa0\x80\"}]"},
};

static void seeds_tljson(void)
{
    seed s = {.n = 0};
    put_str(&s, tl_trace_seed);
    emit("fuzz_tljson", "trace", &s);
    s.n = sizeof(tl_trace_seed) / 2;
    emit("fuzz_tljson", "trace-truncated", &s);
    for (size_t i = 0; i < RAY_ARRAY_SIZE(tl_seeds); i++) {
        s.n = 0;
        put_str(&s, tl_seeds[i].text);
        emit("fuzz_tljson", tl_seeds[i].name, &s);
    }
    s.n = 0;
    put_str(&s, "{\"traceEvents\":[{\"ph\":\"X\",\"ts\":1,\"args\":");
    for (int i = 0; i < 600; i++)
        put_str(&s, i % 2 ? "[" : "{\"k\":");
    emit("fuzz_tljson", "nested-too-deep", &s);
    finish("fuzz_tljson");
}

int main(int argc, char **argv)
{
    out_dir = argc > 1 ? argv[1] : NULL;
    if (out_dir)
        mkdir(out_dir, 0755);
    seeds_sock();
    seeds_ring();
    seeds_task();
    seeds_config();
    seeds_hello();
    seeds_wire();
    seeds_timeline();
    seeds_tljson();
    return out_dir ? 0 : tap_done();
}
