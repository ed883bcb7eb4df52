/*
 * main.c - ray-mpi-timeline: draws the Chrome trace that RAY_MPI_TIMELINE
 * writes as a Gantt chart in SVG.
 *
 *   ray-mpi-timeline path.json -o gantt.svg
 *
 * The whole file is read and checked before anything is written, so a bad
 * trace leaves no half chart behind.  Exit status: 0 when the chart is
 * written, 1 when the file is not a trace it can draw or cannot be read
 * or written (one line on stderr: "ray-mpi-timeline: FILE: line L col C:
 * what is wrong"), 2 for bad options.
 */
#include "config.h"
#include "timeline/timeline.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "ray-mpi-timeline"

typedef struct args {
    const char *input, *output;
    tl_options opt;
} args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s TRACE.json [-o FILE.svg] [--width PX] [--row-height PX] [--title TEXT]\n"
            "       %s --help | --version\n",
            PROG, PROG);
}

static void help(void)
{
    usage(stdout);
    printf("\nDraws a Chrome trace-event file (what RAY_MPI_TIMELINE=path.json writes; or\n"
           "a bare array of events) as a Gantt chart in SVG: one row per process (pid =\n"
           "node, tid = a worker's process id, 0 for the node service), grouped by node;\n"
           "tasks and actor calls coloured by name, transfers as arrows between the nodes'\n"
           "service rows, a time axis and a legend of the 16 names with the most time.\n"
           "\n"
           "  -o, --output FILE   write the SVG there (default: standard output)\n"
           "  --width PX          width of the picture, 200 .. 100000 (default 1600)\n"
           "  --row-height PX     height of a row, 4 .. 200 (default 14)\n"
           "  --title TEXT        the title line (default: the file's name)\n"
           "  --help, --version\n"
           "\n"
           "TRACE may be - (standard input).  Up to %d events each rect has a tooltip;\n"
           "from %d on, rects of a row that meet in one pixel are merged, so the SVG stays\n"
           "small whatever the number of events.  Limits: %d rows, %u events, %u names,\n"
           "arrays and objects nested %d deep.  Exit status: 0 drawn, 1 the file is not a\n"
           "trace it can draw (the message names the line and column), 2 bad options.\n",
           TL_TOOLTIP_MAX, TL_MERGE_MIN, TL_MAX_ROWS, TL_MAX_SPANS, TL_MAX_NAMES, JSON_MAX_DEPTH);
}

static int bad_option(const char *fmt, const char *what)
{
    fprintf(stderr, "%s: ", PROG);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    usage(stderr);
    return 2;
}

static int pixels(const char *opt, const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "%s: %s '%s': want a whole number of pixels in %ld .. %ld\n", PROG, opt, v,
                lo, hi);
        usage(stderr);
        return 2;
    }
    *out = (int)x;
    return 0;
}

/* 0 to go on, 2 for bad options, -1 when --help or --version answered. */
static int parse(int argc, char **argv, args *a)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, 'o'},
        {"width", required_argument, NULL, 'w'},
        {"row-height", required_argument, NULL, 'r'},
        {"title", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c, rc = 0;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, ":o:", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->output = optarg;
            break;
        case 'w':
            rc = pixels("--width", optarg, 200, 100000, &a->opt.width_px);
            break;
        case 'r':
            rc = pixels("--row-height", optarg, 4, 200, &a->opt.row_px);
            break;
        case 't':
            a->opt.title = optarg;
            break;
        case 'h':
            help();
            return -1;
        case 'V':
            printf("%s (ray-mpi) %s\n", PROG, PACKAGE_VERSION);
            return -1;
        case ':':
            return bad_option("%s needs a value", argv[optind - 1]);
        default:
            return bad_option("unknown option %s", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind != argc - 1)
        return bad_option("%s", optind >= argc ? "which trace? (one file)" : "one trace at a time");
    a->input = argv[optind];
    return 0;
}

/* Reads the trace; 0, or 1 with the message written. */
static int load(const args *a, tl_trace *t)
{
    int std = !strcmp(a->input, "-");
    FILE *f = std ? stdin : fopen(a->input, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", PROG, a->input, strerror(errno));
        return 1;
    }
    json_reader *r = json_open_file(f);
    int rc = !r || tl_load(t, r);
    if (rc)
        fprintf(stderr, "%s: %s: %s\n", PROG, a->input, r ? json_error(r) : "out of memory");
    json_close(r);
    if (!std)
        fclose(f);
    return rc;
}

static int write_chart(const args *a, tl_trace *t)
{
    FILE *out = a->output ? fopen(a->output, "w") : stdout;
    const char *name = a->output ? a->output : "standard output";
    if (!out) {
        fprintf(stderr, "%s: %s: %s\n", PROG, name, strerror(errno));
        return 1;
    }
    tl_sort(t);
    int rc = tl_render(t, &a->opt, out);
    if ((a->output ? fclose(out) : fflush(out)) || rc) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", PROG, name,
                errno ? strerror(errno) : "out of memory");
        if (a->output)
            unlink(a->output);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    args a = {.opt = {.width_px = 1600, .row_px = 14}};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    const char *base = strrchr(a.input, '/');
    a.opt.source = base && base[1] ? base + 1 : a.input;
    tl_trace t = {0};
    rc = load(&a, &t) || write_chart(&a, &t);
    tl_free(&t);
    return rc;
}
