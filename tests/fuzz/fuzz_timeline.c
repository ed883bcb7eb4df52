/*
 * fuzz_timeline.c - the timeline's two decoders (src/common/timeline.c):
 * a process's file read back by its node service (ray_tl_collect: the file
 * is written by a worker, which may be buggy or die half way), and the
 * blobs rank 0 gets from every node (ray_tl_convert: they crossed the
 * network).  The first byte says which: bit 0 set, the rest is one file
 * <job dir>/timeline/1.tl (bit 1: collected with a 4 KiB limit); else the rest
 * is the gathered blobs.  Contract: collect returns 0 and makes a blob that
 * convert takes whole; convert returns 0 or RAY_EPROTO, writes a trace that
 * opens and closes as JSON does, and never more events than records fit.
 */
#include "fuzz.h"

#include <sys/stat.h>
#include <unistd.h>

/* A job directory of its own for one input (under TMPDIR), removed after. */
static void scratch(char *dir, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/fuzz_tl.XXXXXX", base && *base ? base : "/tmp");
    FUZZ_CHECK(mkdtemp(dir), "mkdtemp %s", dir);
    char sub[4200];
    snprintf(sub, sizeof(sub), "%s/timeline", dir);
    FUZZ_CHECK(mkdir(sub, 0700) == 0, "mkdir %s", sub);
}

static void convert(const void *blob, size_t len, int must_take)
{
    char *text = NULL;
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);
    FUZZ_CHECK(out, "open_memstream");
    uint64_t events = 0;
    int rc = ray_tl_convert(blob, len, out, &events);
    fclose(out);
    FUZZ_CHECK(rc == 0 || rc == RAY_EPROTO, "convert returned %d", rc);
    FUZZ_CHECK(!must_take || rc == 0, "a collected blob was refused: %s", ray_last_error());
    FUZZ_CHECK(events <= len / sizeof(ray_tl_event), "%llu events from %zu bytes",
               (unsigned long long)events, len);
    FUZZ_CHECK(text_len > 20 && !strncmp(text, "{\"traceEvents\":[", 16) &&
                   !strcmp(text + text_len - 3, "}}\n"),
               "the trace is not one JSON object");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    uint8_t mode = data[0];
    size--;
    uint8_t *buf = malloc(size ? size : 1); /* aligned, as the runtime's buffers are */
    FUZZ_CHECK(buf, "malloc");
    memcpy(buf, data + 1, size);
    if (!(mode & 1)) {
        convert(buf, size, 0);
        free(buf);
        return 0;
    }
    char dir[4096], path[4400], sub[4200];
    scratch(dir, sizeof(dir));
    snprintf(sub, sizeof(sub), "%s/timeline", dir);
    snprintf(path, sizeof(path), "%s/1.tl", sub);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f && fwrite(buf, 1, size, f) == size && !fclose(f), "writing %s", path);
    free(buf);
    void *blob = NULL;
    size_t len = 0;
    int rc = ray_tl_collect(dir, mode & 2 ? 4096 : (size_t)1 << 30, &blob, &len);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
    FUZZ_CHECK(rc == 0, "collect: %s", ray_last_error());
    FUZZ_CHECK(!(mode & 2) || len <= 4096, "a blob of %zu bytes past its limit", len);
    convert(blob, len, 1);
    free(blob);
    return 0;
}
