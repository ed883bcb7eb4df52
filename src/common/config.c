/*
 * config.c - the settings table (RAY_CONFIG_TABLE in common.h) and the one
 * place where the environment is read.  A setting comes from its default,
 * then RAY_MPI_<NAME>, then `ray-mpi --<name>`; a bad value is an error that
 * names the variable or option, never a silent fallback.
 */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

extern char **environ;

const char *ray_env(const char *name) { return getenv(name); }

int ray_env_set(const char *name, const char *value)
{
    if (setenv(name, value, 1) < 0)
        return ray_err_sys("setenv %s", name);
    return 0;
}

void ray_env_unset(const char *name) { unsetenv(name); }

typedef struct cfg_row {
    const char *name;   /* NUM_CPUS */
    const char *option; /* num-cpus */
    int type;
    const char *def;
    const char *help;
    size_t offset;
} cfg_row;

#define RAY__CFG_ROW(NAME, field, type, def, help)                            \
    {#NAME, NULL, RAY_CFG_##type, def, help, offsetof(ray_config, field)},
static cfg_row rows[] = {RAY_CONFIG_TABLE(RAY__CFG_ROW)};
#undef RAY__CFG_ROW
_Static_assert(RAY_ARRAY_SIZE(rows) <= 32, "ray_config.source is too small");

static const char *row_option(cfg_row *r)
{
    static char names[RAY_ARRAY_SIZE(rows)][40];
    size_t i = (size_t)(r - rows);
    if (!names[i][0]) {
        size_t k = 0;
        for (const char *p = r->name; *p && k < sizeof(names[i]) - 1; p++)
            names[i][k++] = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
        names[i][k] = 0;
    }
    return names[i];
}

int ray_parse_size(const char *s, uint64_t *out)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return RAY_EINVAL;
    while (*end == ' ')
        end++;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024; end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    case 'B': break;
    default: return RAY_EINVAL;
    }
    if (mul > 1 && (*end == 'i' || *end == 'I'))
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end)
        return RAY_EINVAL;
    v *= mul;
    if (v >= 18446744073709551615.0)
        return RAY_EINVAL;
    *out = (uint64_t)v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"1", "yes", "true", "on", "y"};
    static const char *no[] = {"0", "no", "false", "off", "n"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(yes); i++) {
        if (!strcasecmp(s, yes[i]))
            return *out = 1, 0;
        if (!strcasecmp(s, no[i]))
            return *out = 0, 0;
    }
    return RAY_EINVAL;
}

static int is_auto_field(cfg_row *r)
{
    return !strcmp(r->def, "auto");
}

static uint8_t *auto_flag(ray_config *cfg, cfg_row *r)
{
    if (r->offset == offsetof(ray_config, num_cpus))
        return &cfg->num_cpus_auto;
    if (r->offset == offsetof(ray_config, num_gpus))
        return &cfg->num_gpus_auto;
    if (r->offset == offsetof(ray_config, object_store_memory))
        return &cfg->object_store_memory_auto;
    if (r->offset == offsetof(ray_config, max_workers))
        return &cfg->max_workers_auto;
    return NULL;
}

/* Parses value into the field of row r; on error the caller names where the
 * value came from. */
static int set_value(ray_config *cfg, cfg_row *r, const char *value)
{
    void *field = (char *)cfg + r->offset;
    uint8_t *af = auto_flag(cfg, r);
    if (af) {
        *af = !strcasecmp(value, "auto");
        if (*af)
            return 0;
    }
    char *end;
    switch (r->type) {
    case RAY_CFG_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v) || v < 0)
            return RAY_EINVAL;
        *(double *)field = v;
        return 0;
    }
    case RAY_CFG_UINT: {
        errno = 0;
        if (!isdigit((unsigned char)value[0]))
            return RAY_EINVAL;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end || errno)
            return RAY_EINVAL;
        *(uint64_t *)field = v;
        return 0;
    }
    case RAY_CFG_SIZE:
        return ray_parse_size(value, (uint64_t *)field);
    case RAY_CFG_BOOL:
        return parse_bool(value, (int *)field);
    case RAY_CFG_STRING:
        *(const char **)field = value;
        return 0;
    }
    return RAY_EINVAL;
}

static const char *type_hint(int type)
{
    switch (type) {
    case RAY_CFG_DOUBLE: return "a number >= 0";
    case RAY_CFG_UINT: return "a whole number";
    case RAY_CFG_SIZE: return "a size such as 512M or 4G";
    case RAY_CFG_BOOL: return "yes or no";
    default: return "a string";
    }
}

int ray_config_load(ray_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < RAY_ARRAY_SIZE(rows); i++) {
        cfg_row *r = &rows[i];
        if (set_value(cfg, r, r->def))
            return ray_err(RAY_EINVAL, "bad built-in default for %s", r->name);
    }
    char var[64];
    for (size_t i = 0; i < RAY_ARRAY_SIZE(rows); i++) {
        cfg_row *r = &rows[i];
        snprintf(var, sizeof(var), "RAY_MPI_%s", r->name);
        const char *v = ray_env(var);
        if (!v)
            continue;
        if (set_value(cfg, r, v))
            return ray_err(RAY_EINVAL, "%s='%s' is not valid: expected %s%s", var, v,
                           type_hint(r->type), is_auto_field(r) ? " or auto" : "");
        cfg->source[i] = 1;
    }
    int lvl = ray_log_parse_level(cfg->log);
    if (lvl < 0)
        return ray_err(RAY_EINVAL, "RAY_MPI_LOG='%s' is not valid: expected error, warn, "
                                   "info, debug or trace", cfg->log);
    ray_log_level = lvl;
    return 0;
}

int ray_config_option(ray_config *cfg, int argc, char **argv, int *consumed)
{
    *consumed = 0;
    const char *a = argv[0];
    if (strncmp(a, "--", 2))
        return 0;
    a += 2;
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    for (size_t i = 0; i < RAY_ARRAY_SIZE(rows); i++) {
        cfg_row *r = &rows[i];
        const char *opt = row_option(r);
        if (strlen(opt) != n || strncmp(opt, a, n))
            continue;
        const char *v = eq ? eq + 1 : NULL;
        int used = 1;
        if (!v) {
            if (argc < 2)
                return ray_err(RAY_EINVAL, "option --%s needs a value (%s)", opt,
                               type_hint(r->type));
            v = argv[1];
            used = 2;
        }
        if (set_value(cfg, r, v))
            return ray_err(RAY_EINVAL, "--%s='%s' is not valid: expected %s", opt, v,
                           type_hint(r->type));
        if (r->offset == offsetof(ray_config, log)) {
            int lvl = ray_log_parse_level(cfg->log);
            if (lvl < 0)
                return ray_err(RAY_EINVAL, "--log='%s' is not valid: expected error, warn, "
                                           "info, debug or trace", v);
            ray_log_level = lvl;
        }
        cfg->source[i] = 2;
        *consumed = used;
        return 0;
    }
    return 0;
}

static void print_value(const ray_config *cfg, cfg_row *r, FILE *out)
{
    const void *field = (const char *)cfg + r->offset;
    uint8_t *af = auto_flag((ray_config *)cfg, r);
    if (af && *af) {
        fputs("auto", out);
        return;
    }
    switch (r->type) {
    case RAY_CFG_DOUBLE: fprintf(out, "%.17g", *(const double *)field); break;
    case RAY_CFG_UINT:
    case RAY_CFG_SIZE: fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case RAY_CFG_BOOL: fputs(*(const int *)field ? "yes" : "no", out); break;
    case RAY_CFG_STRING: fprintf(out, "\"%s\"", *(const char *const *)field); break;
    }
}

void ray_config_print(const ray_config *cfg, FILE *out)
{
    static const char *src[] = {"default", "environment", "option"};
    for (size_t i = 0; i < RAY_ARRAY_SIZE(rows); i++) {
        cfg_row *r = &rows[i];
        fprintf(out, "RAY_MPI_%s=", r->name);
        print_value(cfg, r, out);
        fprintf(out, "    # %s; --%s\n", src[cfg->source[i] % 3], row_option(r));
    }
}

int ray_config_export(const ray_config *cfg)
{
    char var[64], val[64]; /* the longest number printed is 24 bytes */
    for (size_t i = 0; i < RAY_ARRAY_SIZE(rows); i++) {
        cfg_row *r = &rows[i];
        if (cfg->source[i] != 2)
            continue;
        snprintf(var, sizeof(var), "RAY_MPI_%s", r->name);
        const char *v = val;
        if (r->type == RAY_CFG_STRING) {
            v = *(const char *const *)((const char *)cfg + r->offset); /* as given, any length */
        } else {
            FILE *f = fmemopen(val, sizeof(val), "w");
            if (!f)
                return ray_err_sys("fmemopen");
            print_value(cfg, r, f);
            fclose(f);
        }
        int rc = ray_env_set(var, v);
        if (rc)
            return rc;
    }
    return 0;
}

void ray_config_usage(FILE *out)
{
    for (size_t i = 0; i < RAY_ARRAY_SIZE(rows); i++) {
        cfg_row *r = &rows[i];
        fprintf(out, "  --%-22s RAY_MPI_%s (default %s)\n      %s\n", row_option(r),
                r->name, r->def[0] ? r->def : "\"\"", r->help);
    }
}
