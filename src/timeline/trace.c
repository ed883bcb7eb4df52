/*
 * trace.c - a Chrome trace-event file as ray-mpi-timeline draws it
 * (timeline.h).  The events are read one at a time (each a small tree,
 * json_parse), so memory is the spans kept, not the file.  Used: complete
 * events ("X": task, actor_call, actor_create, transfer), "B"/"E" pairs on
 * a row, and the metadata that names and orders rows (process_name,
 * thread_name, process_sort_index, thread_sort_index); other phases are
 * counted and skipped.  A field the program uses that has the wrong type
 * or an absurd value stops the load with a message naming the event and
 * where it is; a field it does not use is not looked at.
 */
#include "timeline/timeline.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define INT_MAX_EXACT 9007199254740992.0 /* 2^53: integers a double holds exactly */

/* ---- growing arrays and the indexes of rows, groups and names */

/* Room in *p for n + 1 items of size bytes; 0, or -1 out of memory. */
static int grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t more = *cap ? *cap * 2 : 64;
    void *q = realloc(*(void **)p, more * size);
    if (!q)
        return -1;
    *(void **)p = q;
    *cap = more;
    return 0;
}

typedef struct ix_ops {
    uint64_t (*hash)(const tl_trace *t, size_t i);
    int (*same)(const tl_trace *t, size_t i, const void *key);
} ix_ops;

/* The slot of key (hash h) in ix: holding its index + 1, or 0 (free) */
static uint32_t *ix_find(tl_index *ix, const tl_trace *t, const ix_ops *ops, uint64_t h,
                         const void *key)
{
    size_t mask = ix->cap - 1, i = (size_t)h & mask;
    while (ix->slot[i] && !ops->same(t, ix->slot[i] - 1, key))
        i = (i + 1) & mask;
    return &ix->slot[i];
}

/* Takes a slot for item i (its key is not in ix); keeps ix half empty. */
static int ix_add(tl_index *ix, const tl_trace *t, const ix_ops *ops, uint32_t *slot, size_t i)
{
    *slot = (uint32_t)i + 1;
    if (++ix->n * 2 < ix->cap)
        return 0;
    tl_index bigger = {calloc(ix->cap * 2, sizeof(uint32_t)), ix->cap * 2, ix->n};
    if (!bigger.slot)
        return -1;
    for (size_t k = 0; k < ix->cap; k++) {
        if (!ix->slot[k])
            continue;
        size_t j = (size_t)ops->hash(t, ix->slot[k] - 1) & (bigger.cap - 1);
        while (bigger.slot[j])
            j = (j + 1) & (bigger.cap - 1);
        bigger.slot[j] = ix->slot[k];
    }
    free(ix->slot);
    *ix = bigger;
    return 0;
}

static int ix_init(tl_index *ix)
{
    ix->cap = 64;
    ix->n = 0;
    return (ix->slot = calloc(ix->cap, sizeof(uint32_t))) ? 0 : -1;
}

static uint64_t mix(uint64_t x) /* splitmix64's finalizer */
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t pid_hash(int64_t pid)
{
    return mix((uint64_t)pid);
}
static uint64_t row_key_hash(int64_t pid, int64_t tid)
{
    return mix((uint64_t)pid * 31 + mix((uint64_t)tid));
}
static uint64_t group_hash(const tl_trace *t, size_t i)
{
    return pid_hash(t->groups[i].pid);
}
static int group_same(const tl_trace *t, size_t i, const void *key)
{
    return t->groups[i].pid == *(const int64_t *)key;
}
static uint64_t row_hash(const tl_trace *t, size_t i)
{
    return row_key_hash(t->rows[i].pid, t->rows[i].tid);
}
static int row_same(const tl_trace *t, size_t i, const void *key)
{
    const int64_t *k = key;
    return t->rows[i].pid == k[0] && t->rows[i].tid == k[1];
}
static uint64_t name_hash(const tl_trace *t, size_t i)
{
    return tl_hash_str(t->names[i]);
}
static int name_same(const tl_trace *t, size_t i, const void *key)
{
    return !strcmp(t->names[i], key);
}
static const ix_ops group_ops = {group_hash, group_same}, row_ops = {row_hash, row_same},
                    name_ops = {name_hash, name_same};

/* ---- reading one event */

typedef struct event {
    tl_trace *t;
    json_reader *r;
    const json_value *v;
    size_t index; /* from 1 */
} event;

/* Stops the load: the event's number, then what is wrong, at value at. */
__attribute__((format(printf, 3, 4))) static int bad(event *e, const json_value *at,
                                                     const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return json_fail_at(e->r, at->line, at->col, "event %zu: %s", e->index, what);
}

/* A copy of s cut to TL_NAME_BYTES at a character boundary; NULL if out of memory. */
static char *keep_name(const char *s)
{
    size_t n = strlen(s);
    if (n > TL_NAME_BYTES)
        for (n = TL_NAME_BYTES; n && ((unsigned char)s[n] & 0xC0) == 0x80; n--)
            ;
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = 0;
    }
    return c;
}

/* The number of name s (cut as keep_name does), added if new; 0 on error. */
static int intern(event *e, const char *s, uint32_t *out)
{
    tl_trace *t = e->t;
    char *c = keep_name(s);
    uint32_t *slot = c ? ix_find(&t->name_ix, t, &name_ops, tl_hash_str(c), c) : NULL;
    if (slot && *slot) {
        free(c);
        *out = *slot - 1;
        return 0;
    }
    if (t->nnames >= TL_MAX_NAMES) {
        free(c);
        return bad(e, e->v, "more than %u distinct names", TL_MAX_NAMES);
    }
    if (!c || grow(&t->names, &t->names_cap, t->nnames, sizeof(char *))) {
        free(c);
        return bad(e, e->v, "out of memory for names");
    }
    t->names[t->nnames] = c;
    *out = (uint32_t)t->nnames;
    return ix_add(&t->name_ix, t, &name_ops, slot, t->nnames++) ? bad(e, e->v, "out of memory") : 0;
}

/* A number member of obj in lo..hi (whole if integer): 1 and *out, 0 when
 * absent or null, -1 when it is not such a number. */
static int number(event *e, const json_value *obj, const char *key, double lo, double hi,
                  int integer, double *out)
{
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL)
        return 0;
    if (v->type != JSON_NUMBER)
        return bad(e, v, "\"%s\" must be a number, not %s", key, json_type_name(v->type));
    if (!(v->number >= lo && v->number <= hi) || (integer && v->number != floor(v->number)))
        return bad(e, v, "\"%s\" is %.17g: want %s %.17g .. %.17g", key, v->number,
                   integer ? "an integer in" : "a number in", lo, hi);
    *out = v->number;
    return 1;
}

static int string(event *e, const json_value *obj, const char *key, const char **out)
{
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL)
        return 0;
    if (v->type != JSON_STRING)
        return bad(e, v, "\"%s\" must be a string, not %s", key, json_type_name(v->type));
    *out = v->str;
    return 1;
}

/* The "args" object, or NULL (absent, or an error: *rc -1). */
static const json_value *args_of(event *e, int *rc)
{
    const json_value *a = json_get(e->v, "args");
    *rc = 0;
    if (!a || a->type == JSON_NULL)
        return NULL;
    if (a->type != JSON_OBJECT) {
        *rc = bad(e, a, "\"args\" must be an object, not %s", json_type_name(a->type));
        return NULL;
    }
    return a;
}

static int group_of(event *e, int64_t pid, uint32_t *out)
{
    tl_trace *t = e->t;
    uint32_t *slot = ix_find(&t->group_ix, t, &group_ops, pid_hash(pid), &pid);
    if (*slot) {
        *out = *slot - 1;
        return 0;
    }
    if (t->ngroups >= TL_MAX_ROWS)
        return bad(e, e->v, "more than %d pids", TL_MAX_ROWS);
    if (grow(&t->groups, &t->groups_cap, t->ngroups, sizeof(tl_group)))
        return bad(e, e->v, "out of memory");
    t->groups[t->ngroups] = (tl_group){.pid = pid};
    *out = (uint32_t)t->ngroups;
    return ix_add(&t->group_ix, t, &group_ops, slot, t->ngroups++) ? bad(e, e->v, "out of memory")
                                                                   : 0;
}

static int row_of(event *e, int64_t pid, int64_t tid, uint32_t *out)
{
    tl_trace *t = e->t;
    int64_t key[2] = {pid, tid};
    uint32_t group, *slot = ix_find(&t->row_ix, t, &row_ops, row_key_hash(pid, tid), key);
    if (*slot) {
        *out = *slot - 1;
        return 0;
    }
    if (t->nrows >= TL_MAX_ROWS)
        return bad(e, e->v, "more than %d rows (pid, tid pairs)", TL_MAX_ROWS);
    if (group_of(e, pid, &group))
        return -1;
    if (grow(&t->rows, &t->rows_cap, t->nrows, sizeof(tl_row)))
        return bad(e, e->v, "out of memory");
    t->rows[t->nrows] = (tl_row){.pid = pid, .tid = tid, .group = group};
    *out = (uint32_t)t->nrows;
    return ix_add(&t->row_ix, t, &row_ops, slot, t->nrows++) ? bad(e, e->v, "out of memory") : 0;
}

/* The row of the event's "pid" and "tid" (0 when absent). */
static int event_row(event *e, uint32_t *row)
{
    double pid = 0, tid = 0;
    if (number(e, e->v, "pid", -INT_MAX_EXACT, INT_MAX_EXACT, 1, &pid) < 0 ||
        number(e, e->v, "tid", -INT_MAX_EXACT, INT_MAX_EXACT, 1, &tid) < 0)
        return -1;
    return row_of(e, (int64_t)pid, (int64_t)tid, row);
}

static int event_ts(event *e, double *ts)
{
    int rc = number(e, e->v, "ts", -TL_MAX_TS_US, TL_MAX_TS_US, 0, ts);
    return rc ? (rc < 0 ? -1 : 0) : bad(e, e->v, "no \"ts\"");
}

static int add_span(event *e, const tl_span *s)
{
    tl_trace *t = e->t;
    if (t->nspans >= TL_MAX_SPANS)
        return bad(e, e->v, "more than %u events to draw", TL_MAX_SPANS);
    if (grow(&t->spans, &t->spans_cap, t->nspans, sizeof(tl_span)))
        return bad(e, e->v, "out of memory for %zu events", t->nspans);
    t->spans[t->nspans++] = *s;
    if (s->cat == TL_CAT_TRANSFER)
        t->ntransfers++;
    else
        t->ntasks++;
    return 0;
}

static uint8_t cat_of(const char *cat)
{
    static const char *const cats[] = {"task", "actor_call", "actor_create", "transfer"};
    for (uint8_t i = 0; cat && i < 4; i++)
        if (!strcmp(cat, cats[i]))
            return i;
    return TL_CAT_OTHER;
}

static int byte_count(event *e, const json_value *args, const char *key, uint64_t *out)
{
    double x = 0;
    int rc = number(e, args, key, 0, 18446744073709549568.0, 0, &x); /* < 2^64 */
    *out = (uint64_t)x;
    return rc < 0 ? -1 : 0;
}

/* A transfer's rows: from_node's and to_node's service rows (tid 0). */
static int transfer_rows(event *e, const json_value *args, tl_span *s)
{
    double from, to;
    int a = number(e, args, "from_node", -INT_MAX_EXACT, INT_MAX_EXACT, 1, &from);
    int b = a < 0 ? -1 : number(e, args, "to_node", -INT_MAX_EXACT, INT_MAX_EXACT, 1, &to);
    if (b < 0)
        return -1;
    if (a && b)
        return row_of(e, (int64_t)from, 0, &s->aux) || row_of(e, (int64_t)to, 0, &s->row);
    return 0;
}

static int span_args(event *e, tl_span *s)
{
    int rc;
    const json_value *args = args_of(e, &rc);
    const char *status = NULL;
    if (!args)
        return rc;
    if (s->cat == TL_CAT_TRANSFER)
        return byte_count(e, args, "bytes", &s->bytes_in) || transfer_rows(e, args, s);
    if (byte_count(e, args, "bytes_in", &s->bytes_in) ||
        byte_count(e, args, "bytes_out", &s->bytes_out) || string(e, args, "status", &status) < 0)
        return -1;
    return status && strcmp(status, "ok") ? intern(e, status, &s->aux) : 0;
}

/* The name of the event, or of its placeholder. */
static int event_name(event *e, const char *none, uint32_t *out)
{
    const char *name = NULL;
    if (string(e, e->v, "name", &name) < 0)
        return -1;
    return intern(e, name && *name ? name : none, out);
}

static int complete(event *e)
{
    tl_span s = {.aux = 0};
    const char *cat = NULL;
    if (event_row(e, &s.row) || event_ts(e, &s.ts_us) ||
        number(e, e->v, "dur", 0, TL_MAX_TS_US, 0, &s.dur_us) < 0 ||
        string(e, e->v, "cat", &cat) < 0)
        return -1;
    s.cat = cat_of(cat);
    if (s.cat == TL_CAT_TRANSFER)
        s.aux = TL_NO_ROW;
    if (event_name(e, s.cat == TL_CAT_TRANSFER ? "transfer" : "?", &s.name) || span_args(e, &s))
        return -1;
    return add_span(e, &s);
}

static int begin(event *e)
{
    uint32_t row;
    tl_open o;
    const char *cat = NULL;
    if (event_row(e, &row) || event_ts(e, &o.ts_us) || event_name(e, "", &o.name) ||
        string(e, e->v, "cat", &cat) < 0)
        return -1;
    tl_row *rw = &e->t->rows[row];
    o.cat = cat_of(cat) == TL_CAT_TRANSFER ? TL_CAT_OTHER : cat_of(cat);
    if (!rw->open && !(rw->open = malloc(TL_MAX_OPEN * sizeof(tl_open))))
        return bad(e, e->v, "out of memory");
    if (rw->nopen == TL_MAX_OPEN) {
        e->t->nskipped++; /* deeper than anyone can see */
        return 0;
    }
    rw->open[rw->nopen++] = o;
    return 0;
}

static int end(event *e)
{
    uint32_t row;
    tl_span s = {.aux = 0};
    if (event_row(e, &row) || event_ts(e, &s.ts_us))
        return -1;
    tl_row *rw = &e->t->rows[row];
    if (!rw->nopen) {
        e->t->nskipped++;
        return 0;
    }
    tl_open o = rw->open[--rw->nopen];
    s.row = row;
    s.cat = o.cat;
    s.dur_us = s.ts_us > o.ts_us ? s.ts_us - o.ts_us : 0;
    s.ts_us = o.ts_us;
    s.name = o.name;
    if (!s.name && event_name(e, "?", &s.name))
        return -1;
    return add_span(e, &s);
}

/* A label in args.name for *label, or an order in args.sort_index for *sort. */
static int metadata_value(event *e, char **label, int64_t *sort)
{
    int rc;
    const json_value *args = args_of(e, &rc);
    const char *name = NULL;
    double x;
    if (!args)
        return rc;
    if (label) {
        if ((rc = string(e, args, "name", &name)) <= 0)
            return rc;
        free(*label);
        return (*label = keep_name(name)) ? 0 : bad(e, e->v, "out of memory");
    }
    if ((rc = number(e, args, "sort_index", -INT_MAX_EXACT, INT_MAX_EXACT, 1, &x)) > 0)
        *sort = (int64_t)x;
    return rc < 0 ? -1 : 0;
}

static int metadata(event *e)
{
    const char *what = NULL;
    double pid = 0;
    uint32_t i;
    if (string(e, e->v, "name", &what) < 0 ||
        number(e, e->v, "pid", -INT_MAX_EXACT, INT_MAX_EXACT, 1, &pid) < 0)
        return -1;
    int process = what && !strncmp(what, "process_", 8),
        thread = what && !strncmp(what, "thread_", 7);
    const char *kind = !what ? "" : process ? what + 8 : thread ? what + 7 : "";
    int label = !strcmp(kind, "name"), sort = !strcmp(kind, "sort_index");
    if (!label && !sort)
        return 0; /* process_labels, and names of other tools */
    if (process) {
        if (group_of(e, (int64_t)pid, &i))
            return -1;
        return metadata_value(e, label ? &e->t->groups[i].name : NULL, &e->t->groups[i].sort);
    }
    if (event_row(e, &i))
        return -1;
    return metadata_value(e, label ? &e->t->rows[i].name : NULL, &e->t->rows[i].sort);
}

static int one_event(event *e)
{
    const char *ph = NULL;
    int rc = string(e, e->v, "ph", &ph);
    if (rc < 0)
        return -1;
    if (!rc || strlen(ph) != 1) {
        e->t->nskipped++;
        return 0;
    }
    switch (ph[0]) {
    case 'X':
        return complete(e);
    case 'B':
        return begin(e);
    case 'E':
        return end(e);
    case 'M':
        return metadata(e);
    default:
        e->t->nskipped++;
        return 0; /* instants, counters, flows, ... */
    }
}

/* ---- the file */

static int events(tl_trace *t, json_reader *r)
{
    event e = {t, r, NULL, 0};
    int more;
    if (json_begin(r, '['))
        return -1;
    while ((more = json_more(r, &e.index)) == 1) {
        uint32_t line, col;
        int c = json_peek(r);
        json_where(r, &line, &col);
        if (c != '{' && c >= 0)
            return json_fail_at(r, line, col, "event %zu is not an object", e.index);
        if (!(e.v = json_parse(r)) || one_event(&e))
            return -1;
    }
    return more;
}

/* {"traceEvents": [...], ...}: the other members are skipped. */
static int trace_object(tl_trace *t, json_reader *r)
{
    size_t count = 0;
    int more, seen = 0;
    if (json_begin(r, '{'))
        return -1;
    while ((more = json_more(r, &count)) == 1) {
        const char *key = json_key(r);
        if (!key)
            return -1;
        if (!strcmp(key, "traceEvents")) {
            seen = 1;
            if (events(t, r))
                return -1;
        } else if (json_skip(r)) {
            return -1;
        }
    }
    if (!more && !seen) {
        uint32_t line, col;
        json_where(r, &line, &col);
        return json_fail_at(r, line, col, "no \"traceEvents\": not a Chrome trace");
    }
    return more;
}

int tl_load(tl_trace *t, json_reader *r)
{
    memset(t, 0, sizeof(*t));
    event e = {t, r, NULL, 0};
    uint32_t none;
    if (ix_init(&t->group_ix) || ix_init(&t->row_ix) || ix_init(&t->name_ix))
        return json_fail_at(r, 1, 1, "out of memory");
    json_value nowhere = {.line = 1, .col = 1};
    e.v = &nowhere;
    if (intern(&e, "", &none))
        return -1;
    int c = json_peek(r);
    uint32_t line, col;
    json_where(r, &line, &col);
    if (c < 0)
        return json_error(r) ? -1 : json_fail_at(r, line, col, "empty: no trace in it");
    if (c != '{' && c != '[')
        return json_fail_at(r, line, col, "not a trace (a JSON object or array)");
    if (c == '[' ? events(t, r) : trace_object(t, r))
        return -1;
    for (size_t i = 0; i < t->nrows; i++)
        t->nskipped += t->rows[i].nopen; /* a "B" never ended */
    return json_end(r);
}

/* ---- drawing order */

static const tl_trace *sorting; /* qsort has no argument for it */

static int row_order(const void *pa, const void *pb)
{
    const tl_row *a = &sorting->rows[*(const uint32_t *)pa];
    const tl_row *b = &sorting->rows[*(const uint32_t *)pb];
    const tl_group *ga = &sorting->groups[a->group], *gb = &sorting->groups[b->group];
    int64_t ka[] = {ga->sort, ga->pid, a->sort, a->tid != 0, a->tid};
    int64_t kb[] = {gb->sort, gb->pid, b->sort, b->tid != 0, b->tid};
    for (int i = 0; i < 5; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static int span_order(const void *pa, const void *pb)
{
    const tl_span *a = pa, *b = pb;
    if (a->row != b->row)
        return a->row < b->row ? -1 : 1;
    return a->ts_us < b->ts_us ? -1 : a->ts_us > b->ts_us;
}

/* Rows in drawing order; the spans' row numbers follow them. */
static void sort_rows(tl_trace *t)
{
    uint32_t *order = malloc((t->nrows + 1) * sizeof(uint32_t));
    uint32_t *rank = malloc((t->nrows + 1) * sizeof(uint32_t));
    tl_row *rows = malloc((t->nrows + 1) * sizeof(tl_row));
    if (t->nrows && order && rank && rows) { /* out of memory: drawn in the order they came */
        for (size_t i = 0; i < t->nrows; i++)
            order[i] = (uint32_t)i;
        sorting = t;
        qsort(order, t->nrows, sizeof(uint32_t), row_order);
        for (size_t i = 0; i < t->nrows; i++) {
            rows[i] = t->rows[order[i]];
            rank[order[i]] = (uint32_t)i;
        }
        memcpy(t->rows, rows, t->nrows * sizeof(tl_row));
        for (size_t i = 0; i < t->nspans; i++) {
            tl_span *s = &t->spans[i];
            s->row = rank[s->row];
            if (s->cat == TL_CAT_TRANSFER && s->aux != TL_NO_ROW)
                s->aux = rank[s->aux];
        }
    }
    free(order);
    free(rank);
    free(rows);
}

void tl_sort(tl_trace *t)
{
    sort_rows(t);
    free(t->row_ix.slot); /* row numbers changed */
    t->row_ix = (tl_index){0};
    if (t->nspans) /* spans is NULL when there are none */
        qsort(t->spans, t->nspans, sizeof(tl_span), span_order);
}

void tl_free(tl_trace *t)
{
    for (size_t i = 0; i < t->ngroups; i++)
        free(t->groups[i].name);
    for (size_t i = 0; i < t->nrows; i++) {
        free(t->rows[i].name);
        free(t->rows[i].open);
    }
    for (size_t i = 0; i < t->nnames; i++)
        free(t->names[i]);
    free(t->groups);
    free(t->rows);
    free(t->names);
    free(t->spans);
    free(t->group_ix.slot);
    free(t->row_ix.slot);
    free(t->name_ix.slot);
    memset(t, 0, sizeof(*t));
}
