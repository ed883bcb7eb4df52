/*
 * timeline.h - what the files of ray-mpi-timeline share: the trace as it
 * is drawn (trace.c reads it from the Chrome trace-event JSON that
 * RAY_MPI_TIMELINE writes: rows of (pid, tid) grouped by pid, the names of
 * events, and one span per complete event) and the SVG Gantt chart made
 * of it (svg.c).  Every limit of what a file may make the program hold is
 * here: past one, the file is refused with a message, never half drawn.
 */
#ifndef TIMELINE_H
#define TIMELINE_H

#include "timeline/json.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TL_MAX_ROWS    8192        /* (pid, tid) pairs; also pids */
#define TL_MAX_NAMES   (1u << 20)  /* distinct event names */
#define TL_MAX_SPANS   (32u << 20) /* events drawn */
#define TL_NAME_BYTES  200         /* of a name or label, kept (cut at a character) */
#define TL_MAX_OPEN    64          /* "B" events open on one row at a time */
#define TL_MAX_TS_US   1e15        /* |ts| and dur, microseconds (31 years) */
#define TL_TOOLTIP_MAX 20000       /* events: up to this many, each has a tooltip */
#define TL_MERGE_MIN   200000      /* events: from this many, small rects are merged */
#define TL_NO_ROW      UINT32_MAX

enum tl_cat { TL_CAT_TASK, TL_CAT_ACTOR_CALL, TL_CAT_ACTOR_CREATE, TL_CAT_TRANSFER, TL_CAT_OTHER };

typedef struct tl_group { /* a pid: a node */
    int64_t pid, sort;
    char *name; /* process_name, or NULL */
} tl_group;

typedef struct tl_open { /* a "B" event waiting for its "E" */
    double ts_us;
    uint32_t name;
    uint8_t cat;
} tl_open;

typedef struct tl_row { /* a (pid, tid): a worker, or tid 0 the node service */
    int64_t pid, tid, sort;
    uint32_t group;
    char *name; /* thread_name, or NULL */
    tl_open *open;
    uint32_t nopen;
} tl_row;

typedef struct tl_span {
    double ts_us, dur_us;
    uint64_t bytes_in, bytes_out; /* a transfer: its bytes in bytes_in */
    uint32_t row;                 /* a transfer with nodes: to_node's service row */
    uint32_t name;
    uint32_t aux; /* a task: its status other than "ok" (a name; 0: none);
                     a transfer: from_node's service row, or TL_NO_ROW */
    uint8_t cat;  /* enum tl_cat */
} tl_span;

typedef struct tl_index { /* open addressing: slots hold an item's index + 1 */
    uint32_t *slot;
    size_t cap, n;
} tl_index;

typedef struct tl_trace {
    tl_group *groups;
    tl_row *rows;
    char **names; /* names[0] is "" */
    tl_span *spans;
    size_t ngroups, nrows, nnames, nspans;
    size_t groups_cap, rows_cap, names_cap, spans_cap;
    size_t ntasks, ntransfers, nskipped; /* nskipped: events of other phases, unmatched "E" */
    tl_index group_ix, row_ix, name_ix;
} tl_trace;

/* Reads a whole trace (an object with "traceEvents", or a bare array of
 * events) into t (zeroed first; tl_free it, also after an error).
 * 0, or -1 with the message in json_error(r). */
int tl_load(tl_trace *t, json_reader *r);
/* Puts the rows in drawing order (by process_sort_index, pid,
 * thread_sort_index, the service row first, tid) and the spans by row,
 * then start.  After it, t takes no more events. */
void tl_sort(tl_trace *t);
void tl_free(tl_trace *t);

typedef struct tl_options {
    int width_px, row_px;
    const char *title;  /* NULL: the file's name */
    const char *source; /* the file's name, for the title */
} tl_options;

/* The chart of a sorted trace as SVG on out; 0, or -1 when out failed. */
int tl_render(const tl_trace *t, const tl_options *o, FILE *out);

/* FNV-1a: names to colours (stable from file to file) and to slots. */
static inline uint64_t tl_hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

#endif /* TIMELINE_H */
