/*
 * gen_seeds.c - the seed corpora of the fuzz targets
 * (tests/fuzz/corpus/<target>/): frames, rings, task specs, settings and
 * handshakes as ray-mpi's own encoders and structs make them, and the
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
    return out_dir ? 0 : tap_done();
}
