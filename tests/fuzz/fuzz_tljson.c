/*
 * fuzz_tljson.c - ray-mpi-timeline's reader of untrusted trace files
 * (src/timeline/json.c, trace.c) and the chart it draws (svg.c).  The
 * fuzzer's bytes are the whole file.  Promises checked: the two ways of
 * reading a value (json_skip, which checks without keeping, and
 * json_parse, which builds a tree) agree on whether the bytes are one
 * JSON value and on the error's text; an error is one line "line L col C:
 * ..." with L and C inside the input; a tree's strings are valid UTF-8
 * without NUL; tl_load succeeds or fails with a message, and what it
 * loads is consistent (every span on a row that exists, a known name and
 * category, times and durations in range, the counts adding up); the SVG
 * of it is well-formed at its ends, holds no byte XML forbids, and has
 * one class="task" rect per task and one arrow per transfer between nodes.
 */
#include "fuzz.h"
#include "timeline/timeline.h"

#include <math.h>

#define TREE_INPUT_MAX (64u << 10) /* larger inputs may pass the arena's limit */

/* Whether s is valid UTF-8 (no overlong form, surrogate or code past U+10FFFF). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80                 ? 1
                   : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        if (!k || i + k > n)
            return 0;
        unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        for (size_t j = 1; j < k; j++, lo = 0x80, hi = 0xBF)
            if (s[i + j] < lo || s[i + j] > hi)
                return 0;
        i += k;
    }
    return 1;
}

static void check_tree(const json_value *v, int depth)
{
    FUZZ_CHECK(depth <= JSON_MAX_DEPTH + 1, "a tree %d deep", depth);
    for (; v; v = v->next) {
        FUZZ_CHECK(v->type <= JSON_OBJECT, "a value of type %d", (int)v->type);
        if (v->key)
            FUZZ_CHECK(utf8_ok((const unsigned char *)v->key, strlen(v->key)), "a key not UTF-8");
        if (v->type == JSON_STRING)
            FUZZ_CHECK(strlen(v->str) == v->len && utf8_ok((const unsigned char *)v->str, v->len),
                       "a string of %zu bytes: strlen %zu or not UTF-8", v->len, strlen(v->str));
        if (v->type == JSON_NUMBER)
            FUZZ_CHECK(isfinite(v->number), "a number %g", v->number);
        if (v->type == JSON_ARRAY || v->type == JSON_OBJECT)
            check_tree(v->child, depth + 1);
    }
}

/* An error message: one line, at a line and column the input has. */
static void check_error(const char *err, const uint8_t *data, size_t size)
{
    unsigned line, col;
    FUZZ_CHECK(err && sscanf(err, "line %u col %u: ", &line, &col) == 2, "error '%s'",
               err ? err : "(none)");
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    FUZZ_CHECK(line >= 1 && line <= lines && col >= 1 && col <= size + 1 && !strchr(err, '\n'),
               "error '%s' in %zu bytes of %zu lines", err, size, lines);
}

/* One value read twice, skipped and as a tree: the same verdict. */
static void check_reader(const uint8_t *data, size_t size)
{
    json_reader *a = json_open_mem(data, size), *b = json_open_mem(data, size);
    FUZZ_CHECK(a && b, "json_open_mem");
    int skipped = json_skip(a) || json_end(a);
    const json_value *v = json_parse(b);
    int parsed = !v || json_end(b);
    if (skipped)
        check_error(json_error(a), data, size);
    if (v)
        check_tree(v, 0);
    FUZZ_CHECK(skipped == parsed, "json_skip says %s, json_parse %s", skipped ? "bad" : "good",
               parsed ? json_error(b) : "good");
    if (skipped)
        FUZZ_CHECK(!strcmp(json_error(a), json_error(b)), "'%s' skipped, '%s' parsed",
                   json_error(a), json_error(b));
    json_close(a);
    json_close(b);
}

static void check_trace(const tl_trace *t)
{
    size_t tasks = 0;
    FUZZ_CHECK(t->nrows <= TL_MAX_ROWS && t->ngroups <= TL_MAX_ROWS && t->nnames >= 1,
               "%zu rows, %zu groups, %zu names", t->nrows, t->ngroups, t->nnames);
    for (size_t i = 0; i < t->nrows; i++)
        FUZZ_CHECK(t->rows[i].group < t->ngroups, "row %zu in group %u", i, t->rows[i].group);
    for (size_t i = 0; i < t->nspans; i++) {
        const tl_span *s = &t->spans[i];
        FUZZ_CHECK(s->row < t->nrows && s->name < t->nnames && s->cat <= TL_CAT_OTHER,
                   "span %zu: row %u, name %u, cat %u", i, s->row, s->name, s->cat);
        FUZZ_CHECK(fabs(s->ts_us) <= TL_MAX_TS_US && s->dur_us >= 0 && s->dur_us <= TL_MAX_TS_US,
                   "span %zu: ts %g dur %g", i, s->ts_us, s->dur_us);
        if (s->cat == TL_CAT_TRANSFER)
            FUZZ_CHECK(s->aux == TL_NO_ROW || s->aux < t->nrows, "transfer from row %u", s->aux);
        else
            FUZZ_CHECK(s->aux < t->nnames, "status %u", s->aux);
        tasks += s->cat != TL_CAT_TRANSFER;
    }
    FUZZ_CHECK(tasks == t->ntasks && t->ntasks + t->ntransfers == t->nspans,
               "%zu tasks counted as %zu, %zu transfers, %zu spans", tasks, t->ntasks,
               t->ntransfers, t->nspans);
}

static size_t occurrences(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void check_svg(tl_trace *t)
{
    char *svg = NULL;
    size_t len = 0, arrows = 0;
    FILE *f = open_memstream(&svg, &len);
    FUZZ_CHECK(f, "open_memstream");
    tl_options o = {.width_px = 400, .row_px = 8, .source = "fuzz & <input>.json"};
    tl_sort(t);
    int rc = tl_render(t, &o, f);
    FUZZ_CHECK(!fclose(f) && !rc, "tl_render returned %d", rc);
    FUZZ_CHECK(len > 60 && !strncmp(svg, "<?xml", 5) && !strcmp(svg + len - 7, "</svg>\n"),
               "an SVG of %zu bytes without its ends", len);
    FUZZ_CHECK(strlen(svg) == len && utf8_ok((unsigned char *)svg, len), "NUL or not UTF-8");
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)svg[i] >= 0x20 || svg[i] == '\n' || svg[i] == '\t',
                   "byte 0x%02x at %zu of the SVG", (unsigned char)svg[i], i);
    for (size_t i = 0; i < t->nspans; i++)
        arrows += t->spans[i].cat == TL_CAT_TRANSFER && t->spans[i].aux != TL_NO_ROW;
    FUZZ_CHECK(occurrences(svg, "class=\"task\"") == t->ntasks &&
                   occurrences(svg, "class=\"transfer\"") == arrows,
               "%zu task rects for %zu tasks, %zu arrows for %zu",
               occurrences(svg, "class=\"task\""), t->ntasks,
               occurrences(svg, "class=\"transfer\""), arrows);
    free(svg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size <= TREE_INPUT_MAX)
        check_reader(data, size);
    json_reader *r = json_open_mem(data, size);
    tl_trace t;
    FUZZ_CHECK(r, "json_open_mem");
    if (tl_load(&t, r)) {
        check_error(json_error(r), data, size);
    } else {
        FUZZ_CHECK(!json_error(r), "loaded, with the error '%s'", json_error(r));
        check_trace(&t);
        if (t.nspans < TL_MERGE_MIN)
            check_svg(&t);
    }
    tl_free(&t);
    json_close(r);
    return 0;
}
