/*
 * json.h - the JSON reader of ray-mpi-timeline: a recursive-descent
 * reader of untrusted bytes (a file, streamed, or a buffer) that never
 * reads past its input, nests at most JSON_MAX_DEPTH deep and keeps at
 * most a budget of memory.  Two ways to read, mixed freely: step by step
 * through an array or object (json_begin / json_more / json_key, or
 * json_skip a value), which is how a trace of millions of events is read
 * in bounded memory; or one value as a tree (json_parse) in an arena that
 * is emptied for the next value.  The first error stops the reader; its
 * message carries the line and column (bytes, from 1) where it was seen.
 */
#ifndef TIMELINE_JSON_H
#define TIMELINE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH  512        /* arrays and objects inside each other */
#define JSON_MAX_STRING (1u << 20) /* bytes of a string kept (skipped ones: any) */
#define JSON_MAX_NUMBER 320        /* characters of a number */
#define JSON_ARENA_MAX  (8u << 20) /* bytes of one tree (json_parse) */

typedef enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

/* A value of a tree.  Strings are UTF-8, NUL-terminated (a \u0000 reads
 * as U+FFFD, so the length is strlen's); members of an array or object
 * are a list (child, then next), an object's with their key. */
typedef struct json_value {
    json_type type;
    uint32_t line, col;
    double number;
    const char *str;
    size_t len;
    const char *key;
    struct json_value *child, *next;
} json_value;

typedef struct json_reader json_reader;

/* A reader of f (not closed by json_close) or of len bytes at data (kept
 * by the caller while reading).  NULL when out of memory. */
json_reader *json_open_file(FILE *f);
json_reader *json_open_mem(const void *data, size_t len);
void json_close(json_reader *r);

/* The first error ("line L col C: what"), or NULL. */
const char *json_error(const json_reader *r);
/* Stops the reader with an error at line:col (for what its caller finds
 * wrong in a value it read); returns -1. */
__attribute__((format(printf, 4, 5))) int json_fail_at(json_reader *r, uint32_t line, uint32_t col,
                                                       const char *fmt, ...);

/* The first byte of the next value ('{', '[', '"', a digit, '-', 't',
 * 'f', 'n'), after white space; -1 at the end of the input or on error. */
int json_peek(json_reader *r);
/* Where the next byte is. */
void json_where(const json_reader *r, uint32_t *line, uint32_t *col);

/* Reads the '{' or '[' of open (an error if the value is something else). */
int json_begin(json_reader *r, int open);
/* Before each member of the array or object json_begin opened: 1 if one
 * follows (its comma read; *count, 0 at first, counts them), 0 at its end
 * (the closing bracket read), -1 on error. */
int json_more(json_reader *r, size_t *count);
/* In an object, after json_more said 1: the member's key (valid until
 * the next call on r) and its colon; NULL on error. */
const char *json_key(json_reader *r);
/* Reads past one value, checking it whole. */
int json_skip(json_reader *r);
/* One value as a tree in r's arena, which the next json_parse empties;
 * NULL on error (a tree larger than JSON_ARENA_MAX is one). */
const json_value *json_parse(json_reader *r);
/* Only white space is left (an error if anything else is). */
int json_end(json_reader *r);

/* The member named key of an object, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
const char *json_type_name(json_type t);

#endif /* TIMELINE_JSON_H */
