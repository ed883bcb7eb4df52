/*
 * svg.c - the Gantt chart of a sorted trace (timeline.h) as SVG 1.1: a
 * title and a line of counts, a time axis with 1-2-5 ticks, one row per
 * (pid, tid) under its node's label, a rect per event coloured by its
 * name (a stable hash into a palette of 20; the 16 names with the most
 * time keep theirs, the rest share grey), transfers as arrows between the
 * nodes' service rows, and the legend.  The output stays bounded: up to
 * TL_TOOLTIP_MAX events each rect has a <title>; from TL_MERGE_MIN on,
 * rects of a row that meet in one pixel are merged (at most one rect
 * starts in each pixel of a row) and at most ARROWS_MERGED arrows are
 * drawn.  Text is escaped for XML, and what XML cannot hold (control
 * characters, broken UTF-8) is written as U+FFFD.
 */
#include "timeline/timeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PALETTE         20
#define COLOUR_OTHER    PALETTE
#define COLOUR_TRANSFER (PALETTE + 1)
#define LEGEND_NAMES    16
#define ARROWS_MERGED   20000
#define ARROWS_THIN     200 /* arrows: from this many, thin and half transparent */
#define MARGIN_PX       8
#define TOP_PX          66 /* the title, the counts, the axis' labels */
#define TICK_PX         90 /* the least space between two ticks */
#define LEGEND_COL_PX   260
#define LEGEND_LINE_PX  18
#define LABEL_CHARS_MAX 64

static const char *const colours[PALETTE + 2] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#9edae5", "#b0b0b0", /* other */
    "#404040",                                                                   /* transfer */
};

typedef struct chart {
    const tl_trace *t;
    const tl_options *o;
    FILE *out;
    double t0, t1, scale; /* the axis (µs), px per µs */
    double x0, x1;        /* the plot (px) */
    int label_px, font_px, header_px, height_px;
    double *row_y; /* top of each row */
    double rows_end;
    uint8_t *colour; /* of each name */
    double *total_us;
    uint32_t legend[LEGEND_NAMES];
    size_t nlegend, nodes, workers, arrows, arrows_drawn;
    int has_other, tooltips, merge;
} chart;

/* ---- text */

/* The code point at *p (advanced past it); U+FFFD for a broken sequence. */
static uint32_t next_char(const unsigned char **p)
{
    const unsigned char *s = *p;
    int n = s[0] < 0x80                    ? 1
            : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
            : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
            : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                           : 0;
    uint32_t cp = n == 1 ? s[0] : n ? (uint32_t)(s[0] & (0x7F >> n)) : 0xFFFD;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) { /* also stops at the NUL */
            *p = s + i;
            return 0xFFFD;
        }
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *p = s + (n ? n : 1);
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0xFFFD;
    return cp;
}

static size_t text_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; n++)
        next_char(&p);
    return n;
}

/* s as XML character data: at most max characters (then an ellipsis). */
static void put_text(FILE *out, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s, *at;
    for (size_t n = 0; *p; n++) {
        if (n == max) {
            fputs("\xE2\x80\xA6", out);
            return;
        }
        at = p;
        uint32_t cp = next_char(&p);
        if (cp == '&' || cp == '<' || cp == '>' || cp == '"' || cp == '\'')
            fprintf(out, "&#%u;", cp);
        else if ((cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0xFFFE || cp == 0xFFFF ||
                 cp == 0xFFFD)
            fputs("\xEF\xBF\xBD", out);
        else
            fwrite(at, 1, (size_t)(p - at), out);
    }
}

/* A time: 3 significant digits for durations, 6 for instants. */
static const char *fmt_time(char *buf, size_t size, double us, int digits)
{
    double a = fabs(us);
    if (a >= 1e6)
        snprintf(buf, size, "%.*g s", digits, us / 1e6);
    else if (a >= 1e3)
        snprintf(buf, size, "%.*g ms", digits, us / 1e3);
    else
        snprintf(buf, size, "%.*g \xC2\xB5s", digits, us);
    return buf;
}

static const char *fmt_bytes(char *buf, size_t size, uint64_t b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double x = (double)b;
    int u = 0;
    while (x >= 1024 && u < 6)
        x /= 1024, u++;
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", x, units[u]);
    return buf;
}

/* ---- what is drawn where */

static void time_range(chart *c)
{
    const tl_trace *t = c->t;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < t->nspans; i++) {
        lo = fmin(lo, t->spans[i].ts_us);
        hi = fmax(hi, t->spans[i].ts_us + t->spans[i].dur_us);
    }
    if (!t->nspans)
        lo = hi = 0;
    /* Times from the job's start begin the axis at 0; others at the first event. */
    c->t0 = lo >= 0 && lo <= 0.25 * hi ? 0 : lo;
    c->t1 = hi > c->t0 ? hi : c->t0 + 1;
}

/* A colour for each name: the LEGEND_NAMES with the most time keep their
 * hash's colour (the next free one when it is taken), the others grey. */
static void assign_colours(chart *c)
{
    const tl_trace *t = c->t;
    uint8_t *used = calloc(t->nnames, 1);
    for (size_t i = 0; i < t->nspans; i++)
        if (t->spans[i].cat != TL_CAT_TRANSFER && used) {
            c->total_us[t->spans[i].name] += t->spans[i].dur_us;
            used[t->spans[i].name] = 1;
        }
    for (size_t n = 0; n < t->nnames; n++) {
        c->colour[n] = COLOUR_OTHER;
        if (!used || !used[n])
            continue;
        size_t k = c->nlegend < LEGEND_NAMES ? c->nlegend++ : LEGEND_NAMES;
        c->has_other |= k == LEGEND_NAMES; /* n, or the last of the 16, is left out */
        while (k > 0 && (c->total_us[c->legend[k - 1]] < c->total_us[n] ||
                         (c->total_us[c->legend[k - 1]] == c->total_us[n] &&
                          strcmp(t->names[c->legend[k - 1]], t->names[n]) > 0))) {
            if (k < LEGEND_NAMES)
                c->legend[k] = c->legend[k - 1];
            k--;
        }
        if (k < LEGEND_NAMES)
            c->legend[k] = (uint32_t)n;
    }
    free(used);
    int taken[PALETTE] = {0};
    for (size_t k = 0; k < c->nlegend; k++) {
        unsigned h = (unsigned)(tl_hash_str(t->names[c->legend[k]]) % PALETTE);
        while (taken[h])
            h = (h + 1) % PALETTE;
        taken[h] = 1;
        c->colour[c->legend[k]] = (uint8_t)h;
    }
}

static void row_label(const chart *c, size_t i, char *buf, size_t size)
{
    const tl_row *r = &c->t->rows[i];
    if (r->name)
        snprintf(buf, size, "node %lld \xC2\xB7 %s", (long long)r->pid, r->name);
    else
        snprintf(buf, size, "node %lld \xC2\xB7 %s %lld", (long long)r->pid,
                 r->tid ? "tid" : "service, tid", (long long)r->tid);
}

static void group_label(const chart *c, size_t i, char *buf, size_t size)
{
    const tl_group *g = &c->t->groups[c->t->rows[i].group];
    if (g->name)
        snprintf(buf, size, "%s", g->name);
    else
        snprintf(buf, size, "node %lld", (long long)g->pid);
}

static size_t legend_entries(const chart *c)
{
    return c->nlegend + (size_t)c->has_other + (c->t->ntransfers > 0);
}

static void layout(chart *c)
{
    const tl_trace *t = c->t;
    int w = c->o->width_px, rh = c->o->row_px;
    char label[512];
    size_t chars = 10;
    c->font_px = rh - 3 < 6 ? 6 : rh - 3 > 11 ? 11 : rh - 3;
    c->header_px = rh > 15 ? rh : 15;
    for (size_t i = 0; i < t->nrows; i++) {
        row_label(c, i, label, sizeof(label));
        size_t n = text_chars(label) + 1; /* indented under the node's label */
        chars = n > chars ? n : chars;
    }
    chars = chars < LABEL_CHARS_MAX ? chars : LABEL_CHARS_MAX;
    double px = (double)chars * 0.6 * c->font_px + 2 * MARGIN_PX + 8;
    c->label_px = (int)fmin(fmax(px, 120), w / 3.0);
    c->x0 = c->label_px;
    c->x1 = w - MARGIN_PX - 4;
    c->scale = (c->x1 - c->x0) / (c->t1 - c->t0);
    double y = TOP_PX;
    for (size_t i = 0; i < t->nrows; i++) {
        if (!i || t->rows[i].group != t->rows[i - 1].group) {
            y += c->header_px;
            c->nodes++;
        }
        c->row_y[i] = y;
        y += rh;
        c->workers += t->rows[i].tid != 0;
    }
    c->rows_end = t->nrows ? y : y + 30;
    size_t cols = (size_t)(w - 2 * MARGIN_PX) / LEGEND_COL_PX;
    cols = cols ? cols : 1;
    size_t lines = (legend_entries(c) + cols - 1) / cols;
    c->height_px = (int)c->rows_end + 24 + (int)lines * LEGEND_LINE_PX + MARGIN_PX;
}

static double x_of(const chart *c, double us)
{
    return c->x0 + (us - c->t0) * c->scale;
}

/* ---- parts of the picture */

static void put_head(const chart *c)
{
    int w = c->o->width_px, h = c->height_px;
    fprintf(c->out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
            "font-size=\"%d\">\n"
            "<defs><marker id=\"arrowhead\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
            "markerWidth=\"7\" markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">"
            "<path d=\"M0,0L10,5L0,10z\" fill=\"%s\"/></marker></defs>\n"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            w, h, w, h, c->font_px, colours[COLOUR_TRANSFER], w, h);
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

static void put_title(const chart *c)
{
    const tl_trace *t = c->t;
    char span[64];
    fprintf(c->out, "<text x=\"%d\" y=\"20\" font-size=\"15\" font-weight=\"bold\">", MARGIN_PX);
    put_text(c->out, c->o->title ? c->o->title : c->o->source, 200);
    fprintf(c->out,
            "</text>\n<text x=\"%d\" y=\"38\" font-size=\"11\" fill=\"#444444\">span %s \xC2\xB7 "
            "%zu task%s \xC2\xB7 %zu transfer%s \xC2\xB7 %zu node%s \xC2\xB7 %zu worker%s",
            MARGIN_PX, fmt_time(span, sizeof(span), c->t1 - c->t0, 4), t->ntasks, plural(t->ntasks),
            t->ntransfers, plural(t->ntransfers), c->nodes, plural(c->nodes), c->workers,
            plural(c->workers));
    if (t->nskipped)
        fprintf(c->out, " \xC2\xB7 %zu events of other kinds not drawn", t->nskipped);
    if (c->merge)
        fputs(" \xC2\xB7 events that meet in a pixel merged", c->out);
    if (c->arrows_drawn < c->arrows)
        fprintf(c->out, " \xC2\xB7 %zu of %zu transfer arrows drawn", c->arrows_drawn, c->arrows);
    fputs("</text>\n", c->out);
}

/* The 1-2-5 step that puts ticks at least TICK_PX apart. */
static double tick_step(const chart *c)
{
    double raw = TICK_PX / c->scale, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void put_axis(const chart *c)
{
    double step = tick_step(c), end = fmax(fabs(c->t0), fabs(c->t1));
    double unit = end >= 1e6 ? 1e6 : end >= 1e3 ? 1e3 : 1; /* of the largest label */
    const char *name = unit == 1e6 ? "s" : unit == 1e3 ? "ms" : "\xC2\xB5s";
    int decimals = step / unit >= 1 ? 0 : (int)ceil(-log10(step / unit) - 1e-9);
    double top = TOP_PX - 6;
    fprintf(c->out, "<g stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for (double k = ceil(c->t0 / step), n = 0; k * step <= c->t1 && n < 1000; k++, n++)
        fprintf(c->out, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\"/>\n",
                x_of(c, k * step), top, x_of(c, k * step), c->rows_end);
    fprintf(c->out, "</g>\n<g font-size=\"10\" fill=\"#333333\" text-anchor=\"middle\">\n");
    for (double k = ceil(c->t0 / step), n = 0; k * step <= c->t1 && n < 1000; k++, n++)
        fprintf(c->out, "<text x=\"%.2f\" y=\"%.1f\">%.*f %s</text>\n", x_of(c, k * step), top - 4,
                decimals, k * step / unit + 0.0, name);
    fprintf(c->out,
            "</g>\n<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#888888\"/>\n",
            c->x0, top, c->x1, top);
}

static void put_rows(const chart *c)
{
    const tl_trace *t = c->t;
    int w = c->o->width_px, rh = c->o->row_px;
    size_t max = (size_t)((c->label_px - 2 * MARGIN_PX - 8) / (0.6 * c->font_px));
    char label[512];
    for (size_t i = 0, k = 0; i < t->nrows; i++, k++) {
        double y = c->row_y[i];
        if (!i || t->rows[i].group != t->rows[i - 1].group) {
            double top = y - c->header_px;
            group_label(c, i, label, sizeof(label));
            fprintf(c->out,
                    "<line x1=\"0\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#666666\"/>\n"
                    "<text x=\"%d\" y=\"%.1f\" font-weight=\"bold\" font-size=\"11\">",
                    top + 0.5, w, top + 0.5, MARGIN_PX, top + c->header_px - 3.5);
            put_text(c->out, label, max + 8);
            fputs("</text>\n", c->out);
            k = 0;
        }
        if (k % 2)
            fprintf(c->out,
                    "<rect x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#f3f3f3\"/>\n", y,
                    w, rh);
        row_label(c, i, label, sizeof(label));
        fprintf(c->out, "<text x=\"%d\" y=\"%.1f\">", MARGIN_PX + 8,
                y + (rh + 0.7 * c->font_px) / 2);
        put_text(c->out, label, max);
        fputs("</text>\n", c->out);
    }
    if (!t->nrows)
        fprintf(c->out, "<text x=\"%d\" y=\"%d\">no events</text>\n", MARGIN_PX, TOP_PX + 20);
}

static void tooltip(const chart *c, const tl_span *s)
{
    const tl_trace *t = c->t;
    static const char *const cats[] = {"task", "actor_call", "actor_create", "transfer", "other"};
    char a[64], b[64], label[512];
    fputs("<title>", c->out);
    put_text(c->out, t->names[s->name], TL_NAME_BYTES);
    if (s->cat == TL_CAT_TRANSFER && s->aux != TL_NO_ROW)
        fprintf(c->out, " (transfer): %s from node %lld to node %lld",
                fmt_bytes(a, sizeof(a), s->bytes_in), (long long)t->rows[s->aux].pid,
                (long long)t->rows[s->row].pid);
    else
        fprintf(c->out, " (%s)", cats[s->cat]);
    row_label(c, s->row, label, sizeof(label));
    fputs("\n", c->out);
    put_text(c->out, label, 200);
    fprintf(c->out, "\nstart %s, duration %s", fmt_time(a, sizeof(a), s->ts_us, 7),
            fmt_time(b, sizeof(b), s->dur_us, 4));
    if (s->cat != TL_CAT_TRANSFER && (s->bytes_in || s->bytes_out))
        fprintf(c->out, "\nbytes in %s, out %s", fmt_bytes(a, sizeof(a), s->bytes_in),
                fmt_bytes(b, sizeof(b), s->bytes_out));
    if (s->cat != TL_CAT_TRANSFER && s->aux) {
        fputs("\nstatus ", c->out);
        put_text(c->out, t->names[s->aux], TL_NAME_BYTES);
    }
    fputs("</title>", c->out);
}

/* Ends the element whose attributes were written: with s's tooltip, or empty. */
static void end_element(const chart *c, const tl_span *s, const char *element)
{
    if (!c->tooltips) {
        fputs("/>\n", c->out);
        return;
    }
    fputs(">", c->out);
    tooltip(c, s);
    fprintf(c->out, "</%s>\n", element);
}

/* A run of merged rects on one row: [a, b) px in one colour. */
typedef struct run {
    double a, b;
    int colour, on;
    size_t row;
} run;

static void rect(const chart *c, const char *cls, size_t row, int bar, double a, double b,
                 int colour)
{
    int rh = c->o->row_px;
    double h = bar ? (rh >= 10 ? 3 : 2) : (rh > 3 ? rh - 2 : 1);
    double y = c->row_y[row] + (bar ? rh - h : 1);
    fprintf(c->out, "<rect%s%s%s x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\"",
            cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "", a, y, b - a, h,
            colours[colour]);
}

static void run_flush(const chart *c, run *u, int bar)
{
    if (u->on) {
        rect(c, NULL, u->row, bar, u->a, u->b, u->colour);
        fputs("/>\n", c->out);
    }
    u->on = 0;
}

/* Adds [a, b) to the row's run: merged when it starts in a pixel the run
 * reaches, so that each rect of a row starts in a pixel of its own. */
static void run_add(const chart *c, run *u, int bar, size_t row, double a, double b, int colour)
{
    if (u->on && u->row == row && floor(a) <= floor(u->b)) {
        double next = floor(u->b) + 1;
        if (colour == u->colour) {
            u->b = fmax(u->b, b);
            return;
        }
        if (b < next)
            return; /* within a pixel already drawn */
        u->b = next;
        a = next;
    }
    run_flush(c, u, bar);
    *u = (run){a, b, colour, 1, row};
}

static void put_spans(const chart *c)
{
    const tl_trace *t = c->t;
    run runs[2]; /* tasks, transfer bars */
    memset(runs, 0, sizeof(runs));
    for (size_t i = 0; i < t->nspans; i++) {
        const tl_span *s = &t->spans[i];
        int bar = s->cat == TL_CAT_TRANSFER;
        int colour = bar ? COLOUR_TRANSFER : c->colour[s->name];
        double a = x_of(c, s->ts_us), b = a + fmax(s->dur_us * c->scale, 0.5);
        if (c->merge) {
            run_add(c, &runs[bar], bar, s->row, a, b, colour);
            continue;
        }
        rect(c, bar ? "transfer-bar" : "task", s->row, bar, a, b, colour);
        end_element(c, s, "rect");
    }
    run_flush(c, &runs[0], 0);
    run_flush(c, &runs[1], 1);
}

/* The transfers' arrows, drawn or (draw 0) only counted: merged, an arrow
 * is left out when it starts and ends in the pixels of the one before. */
static void put_arrows(chart *c, int draw)
{
    const tl_trace *t = c->t;
    double last[4] = {-1, -1, -1, -1}, half = c->o->row_px / 2.0;
    /* many arrows: thin and seen through, so that the tasks under them show */
    const char *stroke = c->arrows_drawn > ARROWS_THIN
                             ? "stroke-width=\"0.5\" stroke-opacity=\"0.5\""
                             : "stroke-width=\"1\"";
    c->arrows = c->arrows_drawn = 0;
    for (size_t i = 0; i < t->nspans; i++) {
        const tl_span *s = &t->spans[i];
        if (s->cat != TL_CAT_TRANSFER || s->aux == TL_NO_ROW)
            continue;
        double p[4] = {x_of(c, s->ts_us), c->row_y[s->aux] + half, x_of(c, s->ts_us + s->dur_us),
                       c->row_y[s->row] + half};
        c->arrows++;
        if (c->merge && (c->arrows_drawn == ARROWS_MERGED ||
                         (floor(p[0]) == floor(last[0]) && floor(p[2]) == floor(last[2]) &&
                          p[1] == last[1] && p[3] == last[3])))
            continue;
        memcpy(last, p, sizeof(p));
        c->arrows_drawn++;
        if (!draw)
            continue;
        fprintf(c->out,
                "<line class=\"transfer\" x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" "
                "stroke=\"%s\" %s marker-end=\"url(#arrowhead)\"",
                p[0], p[1], p[2], p[3], colours[COLOUR_TRANSFER], stroke);
        end_element(c, s, "line");
    }
}

static void legend_entry(const chart *c, size_t k, int colour, const char *name, double us)
{
    size_t cols = (size_t)(c->o->width_px - 2 * MARGIN_PX) / LEGEND_COL_PX;
    cols = cols ? cols : 1;
    double x = MARGIN_PX + (double)(k % cols) * LEGEND_COL_PX;
    double y = c->rows_end + 20 + (double)(k / cols) * LEGEND_LINE_PX;
    char total[64];
    fprintf(c->out,
            "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"10\" fill=\"%s\"/>"
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">",
            x, y, colours[colour], x + 19, y + 9);
    put_text(c->out, name, 28);
    if (us >= 0)
        fprintf(c->out, " (%s)", fmt_time(total, sizeof(total), us, 3));
    fputs("</text>\n", c->out);
}

static void put_legend(const chart *c)
{
    size_t k = 0;
    for (; k < c->nlegend; k++)
        legend_entry(c, k, c->colour[c->legend[k]], c->t->names[c->legend[k]],
                     c->total_us[c->legend[k]]);
    if (c->has_other)
        legend_entry(c, k++, COLOUR_OTHER, "other", -1);
    if (c->t->ntransfers)
        legend_entry(c, k, COLOUR_TRANSFER, "transfer", -1);
}

int tl_render(const tl_trace *t, const tl_options *o, FILE *out)
{
    chart c = {.t = t, .o = o, .out = out};
    c.row_y = calloc(t->nrows + 1, sizeof(double));
    c.colour = calloc(t->nnames + 1, 1);
    c.total_us = calloc(t->nnames + 1, sizeof(double));
    if (!c.row_y || !c.colour || !c.total_us) {
        free(c.row_y);
        free(c.colour);
        free(c.total_us);
        return -1;
    }
    c.tooltips = t->nspans <= TL_TOOLTIP_MAX;
    c.merge = t->nspans >= TL_MERGE_MIN;
    time_range(&c);
    assign_colours(&c);
    layout(&c);
    put_arrows(&c, 0); /* how many, for the title */
    put_head(&c);
    put_title(&c);
    put_axis(&c);
    put_rows(&c);
    put_spans(&c);
    put_arrows(&c, 1);
    put_legend(&c);
    fputs("</svg>\n", out);
    free(c.row_y);
    free(c.colour);
    free(c.total_us);
    return ferror(out) ? -1 : 0;
}
