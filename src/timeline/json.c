/*
 * json.c - the JSON reader (json.h): RFC 8259 over untrusted bytes.  The
 * input is read through a window (64 KiB of a file at a time, or the
 * whole buffer), one byte at a time with its line and column counted, so
 * a trace of any size is read in bounded memory.  Strings are checked to
 * be UTF-8 and decoded (escapes, \uXXXX with surrogate pairs; a lone
 * surrogate or \u0000 reads as U+FFFD); numbers are checked against the
 * grammar, then converted by strtod.  Trees live in an arena of chunks
 * that the next json_parse empties, within JSON_ARENA_MAX bytes.
 */
#include "timeline/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_BYTES (64u << 10)
#define CHUNK_BYTES  (64u << 10)

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(max_align_t) char data[];
} chunk;

struct json_reader {
    FILE *f;
    const unsigned char *buf;
    unsigned char *window; /* reading a file: its bytes, WINDOW_BYTES at a time */
    size_t len, pos;
    int at_eof, started;
    uint32_t line, col;
    int depth;
    char closer[JSON_MAX_DEPTH]; /* ']' or '}' of each open array or object */
    int failed;
    char err[320];
    char *str; /* the string being read, when it is kept */
    size_t str_len, str_cap;
    chunk *chunks;      /* the arena: the first chunk is kept between trees */
    size_t arena_bytes; /* given out for the current tree */
};

static json_reader *reader_new(void)
{
    json_reader *r = calloc(1, sizeof(*r));
    if (r) {
        r->line = 1;
        r->col = 1;
    }
    return r;
}

json_reader *json_open_file(FILE *f)
{
    json_reader *r = reader_new();
    if (r && !(r->window = malloc(WINDOW_BYTES))) {
        free(r);
        return NULL;
    }
    if (r) {
        r->f = f;
        r->buf = r->window;
    }
    return r;
}

json_reader *json_open_mem(const void *data, size_t len)
{
    json_reader *r = reader_new();
    if (r) {
        r->buf = data;
        r->len = len;
        r->at_eof = 1;
    }
    return r;
}

void json_close(json_reader *r)
{
    if (!r)
        return;
    for (chunk *c = r->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(r->str);
    free(r->window);
    free(r);
}

const char *json_error(const json_reader *r)
{
    return r->failed ? r->err : NULL;
}

static int vfail(json_reader *r, uint32_t line, uint32_t col, const char *fmt, va_list ap)
{
    if (r->failed)
        return -1;
    r->failed = 1;
    int n = snprintf(r->err, sizeof(r->err), "line %u col %u: ", line, col);
    if (n < 0 || (size_t)n >= sizeof(r->err))
        return -1;
    vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
    return -1;
}

int json_fail_at(json_reader *r, uint32_t line, uint32_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error at the next byte. */
__attribute__((format(printf, 2, 3))) static int fail(json_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, r->line, r->col, fmt, ap);
    va_end(ap);
    return -1;
}

void json_where(const json_reader *r, uint32_t *line, uint32_t *col)
{
    *line = r->line;
    *col = r->col;
}

/* ---- bytes */

static int refill(json_reader *r)
{
    if (r->at_eof || r->failed)
        return 0;
    r->pos = 0;
    r->len = fread(r->window, 1, WINDOW_BYTES, r->f);
    if (r->len == 0) {
        r->at_eof = 1;
        if (ferror(r->f))
            fail(r, "cannot read: %s", strerror(errno));
        return 0;
    }
    return 1;
}

/* The next byte, not taken; -1 at the end (or after an error). */
static inline int peekc(json_reader *r)
{
    if (r->pos == r->len && !refill(r))
        return -1;
    if (!r->started) { /* a UTF-8 byte order mark is not part of the value */
        r->started = 1;
        if (r->len - r->pos >= 3 && !memcmp(r->buf + r->pos, "\xEF\xBB\xBF", 3))
            r->pos += 3;
        return peekc(r);
    }
    return r->buf[r->pos];
}

static inline int getc_(json_reader *r)
{
    int c = peekc(r);
    if (c < 0)
        return c;
    r->pos++;
    if (c == '\n') {
        r->line++;
        r->col = 1;
    } else {
        r->col++;
    }
    return c;
}

/* A byte as an error message names it. */
static const char *shown(int c, char *buf, size_t size)
{
    if (c < 0)
        snprintf(buf, size, "end of input");
    else if (c > 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", (unsigned)c);
    return buf;
}

static int unexpected(json_reader *r, const char *wanted)
{
    char b[32];
    return fail(r, "unexpected %s, expected %s", shown(peekc(r), b, sizeof(b)), wanted);
}

static void skip_space(json_reader *r)
{
    for (int c; (c = peekc(r)) == ' ' || c == '\t' || c == '\n' || c == '\r';)
        getc_(r);
}

int json_peek(json_reader *r)
{
    if (r->failed)
        return -1;
    skip_space(r);
    return peekc(r);
}

/* ---- strings */

static int str_put(json_reader *r, const void *p, size_t n)
{
    if (r->str_len + n > JSON_MAX_STRING)
        return fail(r, "a string longer than %u bytes", JSON_MAX_STRING);
    if (r->str_len + n + 1 > r->str_cap) {
        size_t cap = r->str_cap ? r->str_cap * 2 : 256;
        while (cap < r->str_len + n + 1)
            cap *= 2;
        char *s = realloc(r->str, cap);
        if (!s)
            return fail(r, "out of memory for a string");
        r->str = s;
        r->str_cap = cap;
    }
    memcpy(r->str + r->str_len, p, n);
    r->str_len += n;
    r->str[r->str_len] = 0;
    return 0;
}

static int put_code_point(json_reader *r, int keep, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD; /* C strings, and what a lone surrogate means */
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return keep ? str_put(r, u, n) : 0;
}

static int hex4(json_reader *r, uint32_t *out)
{
    *out = 0;
    for (int i = 0; i < 4; i++) {
        int c = peekc(r), d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return unexpected(r, "a hex digit of \\uXXXX");
        getc_(r);
        *out = *out << 4 | (uint32_t)d;
    }
    return 0;
}

/* After "\u": one code point, or a surrogate pair "\uD8xx\uDCxx". */
static int unicode_escape(json_reader *r, int keep)
{
    uint32_t cp, lo;
    if (hex4(r, &cp))
        return -1;
    while (cp >= 0xD800 && cp <= 0xDBFF && peekc(r) == '\\') {
        getc_(r);
        if (peekc(r) != 'u') /* a lone high half, then another escape */
            return put_code_point(r, keep, 0xFFFD) ? -1 : 1;
        getc_(r);
        if (hex4(r, &lo))
            return -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            return put_code_point(r, keep, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
        if (put_code_point(r, keep, 0xFFFD))
            return -1;
        cp = lo;
    }
    return put_code_point(r, keep, cp);
}

/* After a backslash: the escape; 1 when it ended at another backslash
 * (a lone high surrogate before "\\n", say) whose escape is still to be read. */
static int escape_once(json_reader *r, int keep)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    int c = peekc(r);
    const char *k = c > 0 ? strchr(from, c) : NULL;
    if (c == 'u') {
        getc_(r);
        return unicode_escape(r, keep);
    }
    if (!k)
        return unexpected(r, "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
    getc_(r);
    return keep ? str_put(r, &to[k - from], 1) : 0;
}

static int escape(json_reader *r, int keep)
{
    int rc;
    while ((rc = escape_once(r, keep)) == 1)
        ;
    return rc;
}

/* The continuation bytes of a UTF-8 sequence led by c (>= 0x80), checked:
 * no overlong form, no surrogate, nothing past U+10FFFF. */
static int utf8_rest(json_reader *r, int c, int keep, uint32_t line, uint32_t col)
{
    unsigned char u[4] = {(unsigned char)c};
    int n = c >= 0xC2 && c <= 0xDF   ? 2
            : c >= 0xE0 && c <= 0xEF ? 3
            : c >= 0xF0 && c <= 0xF4 ? 4
                                     : 0;
    int lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    int hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (!n)
        return json_fail_at(r, line, col, "invalid UTF-8 (byte 0x%02x) in a string", (unsigned)c);
    for (int i = 1; i < n; i++, lo = 0x80, hi = 0xBF) {
        int d = peekc(r);
        if (d < lo || d > hi)
            return fail(r, "invalid UTF-8 in a string (%s after 0x%02x)",
                        d < 0 ? "the end" : "a wrong byte", (unsigned)c);
        u[i] = (unsigned char)getc_(r);
    }
    return keep ? str_put(r, u, (size_t)n) : 0;
}

/* A string, at its opening quote; kept in r->str when keep. */
static int read_string(json_reader *r, int keep)
{
    uint32_t line = r->line, col = r->col;
    if (peekc(r) != '"')
        return unexpected(r, "a string");
    getc_(r);
    r->str_len = 0;
    if (keep && str_put(r, "", 0))
        return -1;
    for (;;) {
        uint32_t at_line = r->line, at_col = r->col;
        int c = getc_(r), rc = 0;
        if (c < 0)
            return r->failed
                       ? -1
                       : fail(r, "the end of input inside the string at line %u col %u", line, col);
        if (c == '"')
            return 0;
        if (c < 0x20)
            rc = json_fail_at(r, at_line, at_col, "a control byte 0x%02x in a string (escape it)",
                              (unsigned)c);
        else if (c == '\\')
            rc = escape(r, keep);
        else if (c >= 0x80)
            rc = utf8_rest(r, c, keep, at_line, at_col);
        else if (keep) {
            char ch = (char)c;
            rc = str_put(r, &ch, 1);
        }
        if (rc < 0)
            return -1;
    }
}

/* ---- numbers and literals */

static int take_digits(json_reader *r, char *buf, size_t *n)
{
    size_t start = *n;
    for (int c; (c = peekc(r)) >= '0' && c <= '9';) {
        if (*n >= JSON_MAX_NUMBER)
            return fail(r, "a number longer than %d characters", JSON_MAX_NUMBER);
        buf[(*n)++] = (char)getc_(r);
    }
    return *n > start ? 0 : unexpected(r, "a digit");
}

static int take_if(json_reader *r, const char *set, char *buf, size_t *n)
{
    int c = peekc(r);
    if (c <= 0 || !strchr(set, c))
        return 0;
    buf[(*n)++] = (char)getc_(r); /* *n < JSON_MAX_NUMBER: checked by take_digits */
    return 1;
}

static int read_number(json_reader *r, double *out)
{
    char buf[JSON_MAX_NUMBER + 2];
    size_t n = 0;
    uint32_t line = r->line, col = r->col;
    take_if(r, "-", buf, &n);
    if (peekc(r) == '0')
        buf[n++] = (char)getc_(r);
    else if (take_digits(r, buf, &n))
        return -1;
    if (take_if(r, ".", buf, &n) && take_digits(r, buf, &n))
        return -1;
    if (take_if(r, "eE", buf, &n)) {
        take_if(r, "+-", buf, &n);
        if (take_digits(r, buf, &n))
            return -1;
    }
    buf[n] = 0;
    *out = strtod(buf, NULL);
    if (isinf(*out))
        return json_fail_at(r, line, col, "the number %.40s is out of range", buf);
    return 0;
}

static int read_literal(json_reader *r, const char *word)
{
    for (const char *w = word; *w; w++) {
        if (peekc(r) != *w)
            return unexpected(r, "a value");
        getc_(r);
    }
    return 0;
}

/* ---- the arena */

static void *arena_alloc(json_reader *r, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (r->arena_bytes + n > JSON_ARENA_MAX)
        return fail(r, "a value larger than %u bytes", JSON_ARENA_MAX), NULL;
    chunk *c = r->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        if (!(c = malloc(sizeof(*c) + cap)))
            return fail(r, "out of memory"), NULL;
        c->cap = cap;
        c->used = 0;
        c->next = r->chunks;
        r->chunks = c;
    }
    r->arena_bytes += n;
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* Empties the arena, keeping one chunk for the next tree. */
static void arena_reset(json_reader *r)
{
    chunk *c = r->chunks;
    while (c && c->next) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    r->chunks = c;
    if (c)
        c->used = 0;
    r->arena_bytes = 0;
}

static const char *arena_string(json_reader *r)
{
    char *s = arena_alloc(r, r->str_len + 1);
    if (s)
        memcpy(s, r->str, r->str_len + 1);
    return s;
}

/* ---- values */

int json_begin(json_reader *r, int open)
{
    if (json_peek(r) != open)
        return unexpected(r, open == '{' ? "an object" : "an array");
    if (r->depth >= JSON_MAX_DEPTH)
        return fail(r, "arrays and objects nested more than %d deep", JSON_MAX_DEPTH);
    getc_(r);
    r->closer[r->depth++] = open == '{' ? '}' : ']';
    return 0;
}

int json_more(json_reader *r, size_t *count)
{
    if (!r->depth)
        return fail(r, "json_more outside an array or object");
    if (r->failed)
        return -1;
    char closer = r->closer[r->depth - 1];
    int c = json_peek(r);
    if (c == closer) {
        getc_(r);
        r->depth--;
        return 0;
    }
    if (*count) {
        if (c != ',')
            return unexpected(r, closer == ']' ? "',' or ']'" : "',' or '}'");
        getc_(r);
        if (json_peek(r) == closer)
            return unexpected(r, "a value after the comma");
    }
    ++*count;
    return 1;
}

const char *json_key(json_reader *r)
{
    if (json_peek(r) != '"') {
        unexpected(r, "a member name (a string)");
        return NULL;
    }
    if (read_string(r, 1))
        return NULL;
    if (json_peek(r) != ':') {
        unexpected(r, "':' after the member name");
        return NULL;
    }
    getc_(r);
    return r->str;
}

static int read_value(json_reader *r, json_value **out);

static int read_members(json_reader *r, json_value *v)
{
    json_value **tail = v ? &v->child : NULL;
    size_t count = 0;
    int more;
    while ((more = json_more(r, &count)) == 1) {
        const char *key = NULL;
        if (r->closer[r->depth - 1] == '}') {
            if (!json_key(r) || (v && !(key = arena_string(r))))
                return -1;
        }
        if (read_value(r, tail))
            return -1;
        if (tail) {
            (*tail)->key = key;
            tail = &(*tail)->next;
        }
    }
    return more;
}

/* A scalar or string read into v (a new node), or skipped (v NULL). */
static int read_scalar(json_reader *r, int c, json_value *v)
{
    json_value dummy;
    if (!v)
        v = &dummy;
    switch (c) {
    case '"':
        v->type = JSON_STRING;
        if (read_string(r, v != &dummy))
            return -1;
        if (v != &dummy && !(v->str = arena_string(r)))
            return -1;
        v->len = r->str_len;
        return 0;
    case 't':
        v->type = JSON_TRUE;
        return read_literal(r, "true");
    case 'f':
        v->type = JSON_FALSE;
        return read_literal(r, "false");
    case 'n':
        v->type = JSON_NULL;
        return read_literal(r, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            v->type = JSON_NUMBER;
            return read_number(r, &v->number);
        }
        return r->failed ? -1 : unexpected(r, "a value");
    }
}

/* One value: a new node in *out, or skipped when out is NULL. */
static int read_value(json_reader *r, json_value **out)
{
    int c = json_peek(r);
    json_value *v = NULL;
    if (out) {
        if (!(v = arena_alloc(r, sizeof(*v))))
            return -1;
        memset(v, 0, sizeof(*v));
        v->line = r->line;
        v->col = r->col;
        *out = v;
    }
    if (c == '{' || c == '[') {
        if (v)
            v->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
        return json_begin(r, c) || read_members(r, v) ? -1 : 0;
    }
    return read_scalar(r, c, v);
}

int json_skip(json_reader *r)
{
    return read_value(r, NULL);
}

const json_value *json_parse(json_reader *r)
{
    json_value *v = NULL;
    arena_reset(r);
    return read_value(r, &v) ? NULL : v;
}

int json_end(json_reader *r)
{
    if (json_peek(r) >= 0)
        return unexpected(r, "nothing after the end of the value");
    return r->failed ? -1 : 0;
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    const json_value *found = NULL;
    for (const json_value *m = obj->child; m; m = m->next)
        if (!strcmp(m->key, key))
            found = m; /* the last one, as JSON.parse does */
    return found;
}

const char *json_type_name(json_type t)
{
    static const char *const names[] = {"null",     "false",    "true",     "a number",
                                        "a string", "an array", "an object"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}
