/*
 * fuzz_config.c - settings from the environment and from options
 * (src/common/config.c, util.c, log.c).  The fuzzer's bytes are records
 * "how NAME=value\0": NAME is a setting of RAY_CONFIG_TABLE (or any other
 * name) and `how` says how the value arrives: RAY_MPI_<NAME>, --name=value
 * or --name value; or the whole text is one raw argument.  The target sets
 * the variables (the previous environment restored after), loads the
 * settings, applies the options, then checks: every call returns 0 or
 * RAY_EINVAL (with a message naming the variable or option); accepted
 * values are in range; settings given as options and exported
 * (ray_config_export, what ray-mpi does for the driver and workers) load
 * back to the same values.  Every value also goes to ray_parse_size,
 * ray_resources_parse (in a buffer of exactly its length) and
 * ray_log_parse_level.
 */
#include "fuzz.h"

#include <math.h>

#define MAX_RECORDS 32

#define NAME_OF(NAME, field, type, def, help) #NAME,
static const char *const names[] = {RAY_CONFIG_TABLE(NAME_OF)};
#undef NAME_OF
#define NROWS RAY_ARRAY_SIZE(names)

enum { BY_ENV, BY_OPTION_EQ, BY_OPTION_ARG, BY_RAW };

typedef struct record {
    int how, known;     /* known: NAME is a setting of the table */
    char *name, *value; /* one copy of the text, split at its first '=' */
    char *env;          /* "RAY_MPI_<NAME>=value", put in the environment as it is */
    char *arg;          /* "--name[=value]", handed to ray_config_option */
} record;

static int is_setting(const char *name)
{
    for (size_t i = 0; i < NROWS; i++)
        if (!strcmp(names[i], name))
            return 1;
    return 0;
}

/* Splits the input into records; names and values are NUL-terminated. */
static int read_records(const uint8_t *d, size_t n, record *r)
{
    int k = 0;
    for (size_t i = 0; i < n && k < MAX_RECORDS; k++) {
        r[k].how = d[i++] & 3;
        const uint8_t *end = memchr(d + i, 0, n - i);
        size_t len = end ? (size_t)(end - (d + i)) : n - i;
        r[k].name = strndup((const char *)d + i, len);
        char *eq = r[k].how == BY_RAW ? NULL : strchr(r[k].name, '=');
        r[k].value = eq ? eq + 1 : r[k].name + len;
        if (eq)
            *eq = 0;
        r[k].known = is_setting(r[k].name);
        r[k].env = r[k].arg = NULL;
        i += len + 1;
    }
    return k;
}

static void option_name(const char *name, char *buf, size_t size)
{
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < size; p++)
        buf[k++] = *p == '_' ? '-' : (char)(*p + ('a' - 'A') * (*p >= 'A' && *p <= 'Z'));
    buf[k] = 0;
}

extern char **environ;

/* Entries of the environment: the same after each input, or some were
 * left behind. */
static size_t env_entries(void)
{
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    return n;
}

/* The environment's RAY_MPI_* settings, saved and cleared, then restored. */
static char *saved[NROWS];
static void env_save(void)
{
    char var[64];
    for (size_t i = 0; i < NROWS; i++) {
        snprintf(var, sizeof(var), "RAY_MPI_%s", names[i]);
        const char *v = ray_env(var);
        saved[i] = v ? strdup(v) : NULL;
        ray_env_unset(var);
    }
}
static void env_restore(void)
{
    char var[64];
    for (size_t i = 0; i < NROWS; i++) {
        snprintf(var, sizeof(var), "RAY_MPI_%s", names[i]);
        if (saved[i])
            ray_env_set(var, saved[i]);
        else
            ray_env_unset(var);
        free(saved[i]);
        saved[i] = NULL;
    }
}

static void check_parsers(const char *v)
{
    size_t len = strlen(v);
    uint64_t size;
    int rc = ray_parse_size(v, &size);
    FUZZ_CHECK(rc == 0 || rc == RAY_EINVAL, "ray_parse_size returned %d", rc);
    int lvl = ray_log_parse_level(v);
    FUZZ_CHECK(lvl >= -1 && lvl <= RAY_LOG_TRACE, "log level %d", lvl);
    char *exact = malloc(len ? len : 1); /* not NUL-terminated: ASan sees an overread */
    memcpy(exact, v, len);
    ray_resource res[RAY_RES_MAX];
    int n = ray_resources_parse(exact, len, res);
    free(exact);
    FUZZ_CHECK(n == RAY_EINVAL || (n >= 0 && n <= RAY_RES_MAX), "ray_resources_parse: %d", n);
    for (int i = 0; i < n; i++) {
        size_t nl = strnlen(res[i].name, sizeof(res[i].name));
        FUZZ_CHECK(nl >= 1 && nl <= 63 && !strpbrk(res[i].name, ",:") &&
                       strcmp(res[i].name, "CPU") && strcmp(res[i].name, "GPU"),
                   "resource name '%.64s'", res[i].name);
        FUZZ_CHECK(isfinite(res[i].amount) && res[i].amount >= 0, "amount %g", res[i].amount);
    }
}

/* A level was set from RAY_MPI_LOG or --log: in range; then back to
 * quiet (debug and trace would log every refused value). */
static void check_log_level(void)
{
    FUZZ_CHECK(ray_log_level >= 0 && ray_log_level <= RAY_LOG_TRACE, "log level %d", ray_log_level);
    ray_log_level = RAY_LOG_WARN;
}

static void check_ranges(const ray_config *c)
{
    const double d[] = {c->num_cpus, c->num_gpus, c->worker_idle_s, c->shutdown_timeout_s};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(d); i++)
        FUZZ_CHECK(isfinite(d[i]) && d[i] >= 0, "a number setting is %g", d[i]);
    FUZZ_CHECK(c->prefault == 0 || c->prefault == 1, "prefault %d", c->prefault);
    FUZZ_CHECK(c->resources && c->tmpdir && c->log, "a string setting is NULL");
    check_log_level();
}

/* Applies one option record; checks what ray_config_option promises.
 * Returns its code (ray-mpi stops at the first bad option).  The settings
 * point into r->arg, freed with the record. */
static int apply_option(ray_config *c, record *r)
{
    size_t len = strlen(r->name) + strlen(r->value) + 4;
    char *a = r->arg = malloc(len), *argv[3] = {a, r->value, NULL};
    int argc = 2, consumed = -1;
    a[0] = a[1] = '-';
    option_name(r->name, a + 2, len - 2); /* NUM_CPUS: --num-cpus */
    if (r->how == BY_OPTION_EQ) {
        strcat(strcat(a, "="), r->value);
        argc = 1;
    } else if (r->how == BY_RAW) {
        argv[0] = r->name; /* the whole text */
        argv[1] = "x";
    }
    int rc = ray_config_option(c, argc, argv, &consumed);
    check_log_level();
    FUZZ_CHECK(rc == 0 || rc == RAY_EINVAL, "ray_config_option returned %d", rc);
    FUZZ_CHECK(consumed >= 0 && consumed <= argc && (rc == 0 || consumed == 0),
               "consumed %d of %d (rc %d)", consumed, argc, rc);
    if (rc)
        FUZZ_CHECK(strstr(ray_last_error(), "--"), "message names no option: %s", ray_last_error());
    if (r->how != BY_RAW && r->known)
        FUZZ_CHECK(rc || consumed == argc, "a known option %s not consumed", a);
    return rc;
}

/* The first setting that differs between a and b, or NULL. */
static const char *differs(const ray_config *a, const ray_config *b)
{
#define DIFF(f)                                                                                    \
    if (a->f != b->f)                                                                              \
    return #f
#define DIFF_AUTO(f)                                                                               \
    if (a->f##_auto != b->f##_auto || (!a->f##_auto && a->f != b->f))                              \
    return #f
#define DIFF_STR(f)                                                                                \
    if (strcmp(a->f, b->f))                                                                        \
    return #f
    DIFF_AUTO(num_cpus);
    DIFF_AUTO(num_gpus);
    DIFF_AUTO(object_store_memory);
    DIFF_AUTO(max_workers); /* the value of an "auto" setting is not used */
    DIFF(prefault);
    DIFF(spin_us);
    DIFF(worker_idle_s);
    DIFF(max_objects);
    DIFF(max_tasks);
    DIFF(max_actors);
    DIFF(shutdown_timeout_s);
    DIFF_STR(resources);
    DIFF_STR(tmpdir);
    DIFF_STR(log);
#undef DIFF
#undef DIFF_AUTO
#undef DIFF_STR
    return NULL;
}

/* Options exported to the environment load back to the same settings. */
static void check_export(const ray_config *c)
{
    static FILE *null;
    if (!null)
        null = fopen("/dev/null", "w");
    if (null)
        ray_config_print(c, null);
    int rc = ray_config_export(c);
    FUZZ_CHECK(rc == 0, "ray_config_export: %s", ray_last_error());
    ray_config back;
    rc = ray_config_load(&back);
    check_log_level();
    FUZZ_CHECK(rc == 0, "exported settings do not load: %s", ray_last_error());
    const char *d = differs(c, &back);
    FUZZ_CHECK(!d, "exported settings load as other values: %s", d);
}

static void run(record *r, int n)
{
    for (int i = 0; i < n; i++) {
        check_parsers(r[i].value);
        if (r[i].how != BY_ENV)
            continue;
        /* putenv, not setenv: glibc keeps every string setenv was given */
        size_t len = strlen(r[i].name) + strlen(r[i].value) + 10;
        r[i].env = malloc(len);
        snprintf(r[i].env, len, "RAY_MPI_%s=%s", r[i].name, r[i].value);
        putenv(r[i].env);
    }
    ray_config c;
    int rc = ray_config_load(&c);
    check_log_level();
    FUZZ_CHECK(rc == 0 || rc == RAY_EINVAL, "ray_config_load returned %d", rc);
    if (rc) {
        FUZZ_CHECK(strstr(ray_last_error(), "RAY_MPI_"), "message names no variable: %s",
                   ray_last_error());
        return;
    }
    check_ranges(&c);
    for (int i = 0; i < n; i++)
        if (r[i].how != BY_ENV && apply_option(&c, &r[i]))
            return;
    check_ranges(&c);
    check_export(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    record r[MAX_RECORDS];
    int n = read_records(data, size, r);
    int level = ray_log_level;
    size_t entries = env_entries();
    env_save();
    run(r, n);
    for (int i = 0; i < n; i++) /* before their strings go: any name, known or not */
        if (r[i].env) {
            char *var = strndup(r[i].env, (size_t)(strchr(r[i].env + 8, '=') - r[i].env));
            ray_env_unset(var); /* (not by cutting r[i].env: environ holds that string) */
            free(var);
        }
    env_restore();
    FUZZ_CHECK(env_entries() == entries, "the environment has %zu entries, had %zu", env_entries(),
               entries);
    ray_log_level = level; /* RAY_MPI_LOG=trace would flood the run */
    for (int i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].env);
        free(r[i].arg);
    }
    return 0;
}
