/*
 * test_config.c - the settings table (src/common/config.c): defaults load
 * with no RAY_MPI_* variable set; each variable overrides its default;
 * a bad value is RAY_EINVAL with a message naming the variable (or the
 * option), never a silent fallback; sizes parse with binary suffixes;
 * `--name=value` and `--name value` options, and unknown options left to
 * the caller; "auto"; --config output names every setting; settings given
 * as options reach workers through ray_config_export unchanged.
 */
#include "unit.h"

#include <math.h>
#include <stdlib.h>

/* Every setting's variable, from the same table the runtime uses. */
#define NAME_OF(NAME, field, type, def, help) "RAY_MPI_" #NAME,
static const char *const names[] = {RAY_CONFIG_TABLE(NAME_OF)};
#undef NAME_OF
#define NSETTINGS ((int)RAY_ARRAY_SIZE(names))

static int setting(const char *var)
{
    for (int i = 0; i < NSETTINGS; i++)
        if (!strcmp(names[i], var))
            return i;
    return 0;
}

static void clear_env(void)
{
    for (int i = 0; i < NSETTINGS; i++)
        unsetenv(names[i]);
}

static void test_defaults(void)
{
    ray_config c;
    clear_env();
    is_rc(ray_config_load(&c), 0, "defaults load with no RAY_MPI_* variable set");
    ok(c.num_cpus_auto && c.num_gpus_auto && c.object_store_memory_auto && c.max_workers_auto,
       "num_cpus, num_gpus, object_store_memory and max_workers default to auto");
    is_int(c.spin_us, 50, "spin_us defaults to 50");
    is_int(c.prefault, 1, "prefault defaults to yes");
    is_int(c.max_objects, 8388608, "max_objects defaults to 8388608");
    is_int(c.max_tasks, 4194304, "max_tasks defaults to 4194304");
    is_int(c.max_actors, 65536, "max_actors defaults to 65536");
    ok(c.worker_idle_s == 10 && c.shutdown_timeout_s == 5,
       "worker_idle_s 10, shutdown_timeout_s 5");
    ok(!strcmp(c.log, "warn") && !strcmp(c.resources, "") && !strcmp(c.tmpdir, ""),
       "log warn, resources and tmpdir empty");
    int all_default = 1;
    for (int i = 0; i < NSETTINGS; i++)
        all_default &= c.source[i] == 0;
    ok(all_default, "every setting's source is 'default'");
}

static void test_env_overrides(void)
{
    ray_config c;
    clear_env();
    setenv("RAY_MPI_NUM_CPUS", "2.5", 1);
    setenv("RAY_MPI_OBJECT_STORE_MEMORY", "512M", 1);
    setenv("RAY_MPI_PREFAULT", "no", 1);
    setenv("RAY_MPI_SPIN_US", "7", 1);
    setenv("RAY_MPI_RESOURCES", "ssd:1", 1);
    setenv("RAY_MPI_LOG", "error", 1);
    is_rc(ray_config_load(&c), 0, "load with six variables set");
    ok(c.num_cpus == 2.5 && !c.num_cpus_auto, "RAY_MPI_NUM_CPUS=2.5");
    ok(c.object_store_memory == 512ull << 20 && !c.object_store_memory_auto,
       "RAY_MPI_OBJECT_STORE_MEMORY=512M");
    is_int(c.prefault, 0, "RAY_MPI_PREFAULT=no");
    is_int(c.spin_us, 7, "RAY_MPI_SPIN_US=7");
    ok(!strcmp(c.resources, "ssd:1"), "RAY_MPI_RESOURCES=ssd:1");
    is_int(ray_log_level, RAY_LOG_ERROR, "RAY_MPI_LOG=error sets the log level");
    is_int(c.source[setting("RAY_MPI_NUM_CPUS")], 1, "the source of num_cpus is 'environment'");
    ok(c.num_gpus_auto && c.max_tasks == 4194304, "settings not set keep their defaults");
    clear_env();
    ray_config_load(&c);
}

static void expect_bad_env(const char *var, const char *value)
{
    ray_config c;
    clear_env();
    setenv(var, value, 1);
    is_rc(ray_config_load(&c), RAY_EINVAL, "%s=%s: RAY_EINVAL", var, value);
    ok(strstr(ray_last_error(), var) != NULL, "the message names %s: %s", var, ray_last_error());
    clear_env();
}

static void test_bad_values(void)
{
    expect_bad_env("RAY_MPI_SPIN_US", "abc");
    expect_bad_env("RAY_MPI_SPIN_US", "-5");
    expect_bad_env("RAY_MPI_SPIN_US", "12x");
    expect_bad_env("RAY_MPI_SPIN_US", "auto");
    expect_bad_env("RAY_MPI_OBJECT_STORE_MEMORY", "12Q");
    expect_bad_env("RAY_MPI_OBJECT_STORE_MEMORY", "");
    expect_bad_env("RAY_MPI_PREFAULT", "maybe");
    expect_bad_env("RAY_MPI_LOG", "loud");
    expect_bad_env("RAY_MPI_NUM_CPUS", "-1");
    expect_bad_env("RAY_MPI_NUM_CPUS", "nan");
    expect_bad_env("RAY_MPI_WORKER_IDLE_S", "1e999");
    expect_bad_env("RAY_MPI_MAX_TASKS", "99999999999999999999999");
}

static void expect_size(const char *s, uint64_t want)
{
    uint64_t got = 0;
    int rc = ray_parse_size(s, &got);
    ok(rc == 0 && got == want, "ray_parse_size(\"%s\") = %llu", s, (unsigned long long)want);
    if (rc || got != want)
        diag("got rc %d, %llu", rc, (unsigned long long)got);
}

static void expect_bad_size(const char *s)
{
    uint64_t got = 12345;
    is_rc(ray_parse_size(s, &got), RAY_EINVAL, "ray_parse_size(\"%s\") is RAY_EINVAL", s);
}

static void test_parse_size(void)
{
    expect_size("100", 100);
    expect_size("0", 0);
    expect_size("100B", 100);
    expect_size("1k", 1024);
    expect_size("64K", 64 << 10);
    expect_size("512M", 512ull << 20);
    expect_size("512MB", 512ull << 20);
    expect_size("4G", 4ull << 30);
    expect_size("4GiB", 4ull << 30);
    expect_size("1.5GiB", 3ull << 29);
    expect_size("1.5g", 3ull << 29);
    expect_size("2T", 2ull << 40);
    expect_size("8 M", 8ull << 20);
    expect_bad_size("");
    expect_bad_size("M");
    expect_bad_size("12Q");
    expect_bad_size("-1");
    expect_bad_size("4GB!");
    expect_bad_size("4 GiBs");
    expect_bad_size("inf");
    expect_bad_size("99999999T");
}

static int option(ray_config *c, const char *a, const char *b, int *consumed)
{
    char *argv[3] = {(char *)a, (char *)b, NULL};
    return ray_config_option(c, b ? 2 : 1, argv, consumed);
}

static void test_options(void)
{
    ray_config c;
    int used = -1;
    clear_env();
    ray_config_load(&c);
    is_rc(option(&c, "--spin-us=9", NULL, &used), 0, "--spin-us=9");
    ok(used == 1 && c.spin_us == 9, "consumes 1 argument and sets spin_us");
    is_rc(option(&c, "--object-store-memory", "1G", &used), 0, "--object-store-memory 1G");
    ok(used == 2 && c.object_store_memory == 1ull << 30, "consumes 2 arguments and sets the size");
    is_int(c.source[setting("RAY_MPI_OBJECT_STORE_MEMORY")], 2,
           "the source of object_store_memory is 'option'");
    is_rc(option(&c, "--no-such-setting=1", NULL, &used), 0, "unknown --option: no error");
    is_int(used, 0, "and nothing consumed (left to the caller)");
    is_rc(option(&c, "./driver", "--spin-us=1", &used), 0, "a non-option argument");
    ok(used == 0 && c.spin_us == 9, "is not consumed, nor the one after it");
    is_rc(option(&c, "--spin", "3", &used), 0, "a prefix of a setting's name");
    is_int(used, 0, "is not that setting");
    is_rc(option(&c, "--spin-us", NULL, &used), RAY_EINVAL,
          "--spin-us without a value: RAY_EINVAL");
    is_rc(option(&c, "--spin-us=x", NULL, &used), RAY_EINVAL, "--spin-us=x: RAY_EINVAL");
    ok(strstr(ray_last_error(), "--spin-us") != NULL, "the message names the option");
    int rc = option(&c, "--log=loud", NULL, &used);
    ok(rc == RAY_EINVAL && strstr(ray_last_error(), "--log"),
       "--log=loud: RAY_EINVAL naming --log, as RAY_MPI_LOG=loud is");
    if (rc != RAY_EINVAL)
        diag("got %s, log is now \"%s\"", ray_errname(rc), c.log);
    is_rc(option(&c, "--log", "debug", &used), 0, "--log debug");
    is_int(ray_log_level, RAY_LOG_DEBUG, "sets the log level");
    ray_log_level = RAY_LOG_WARN;
}

static void test_auto(void)
{
    ray_config c;
    int used;
    clear_env();
    setenv("RAY_MPI_NUM_CPUS", "AUTO", 1);
    setenv("RAY_MPI_MAX_WORKERS", "auto", 1);
    is_rc(ray_config_load(&c), 0, "RAY_MPI_NUM_CPUS=AUTO and RAY_MPI_MAX_WORKERS=auto load");
    ok(c.num_cpus_auto && c.max_workers_auto, "both stay auto");
    is_rc(option(&c, "--num-cpus=4", NULL, &used), 0, "--num-cpus=4");
    ok(!c.num_cpus_auto && c.num_cpus == 4, "num_cpus is 4, no longer auto");
    is_rc(option(&c, "--num-cpus", "auto", &used), 0, "--num-cpus auto");
    ok(c.num_cpus_auto, "num_cpus is auto again");
    clear_env();
}

static char *print_config(const ray_config *c)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ray_config_print(c, f);
    fclose(f);
    return text;
}

static void test_print(void)
{
    ray_config c;
    int used;
    clear_env();
    setenv("RAY_MPI_SPIN_US", "11", 1);
    ray_config_load(&c);
    option(&c, "--resources=gpu:2", NULL, &used);
    char *text = print_config(&c);
    int all = 1;
    for (int i = 0; i < NSETTINGS; i++) {
        char line[64];
        snprintf(line, sizeof(line), "%s=", names[i]);
        if (!strstr(text, line)) {
            all = 0;
            diag("missing %s", names[i]);
        }
    }
    ok(all, "--config output has a line for each of the %d settings", NSETTINGS);
    ok(strstr(text, "RAY_MPI_SPIN_US=11") && strstr(text, "RAY_MPI_NUM_CPUS=auto"),
       "with current values (11, auto)");
    ok(strstr(text, "environment") && strstr(text, "option") && strstr(text, "default"),
       "and where each came from");
    free(text);
    clear_env();
}

/* What a worker loads after the node service exported its options must
 * equal what the service parsed. */
static void test_export_round_trip(void)
{
    ray_config c, w;
    int used;
    clear_env();
    ray_config_load(&c);
    option(&c, "--resources", "ssd:1,fpga:2", &used);
    option(&c, "--object-store-memory=3G", NULL, &used);
    option(&c, "--prefault=no", NULL, &used);
    option(&c, "--worker-idle-s=1234567", NULL, &used);
    option(&c, "--num-cpus=0.125", NULL, &used);
    is_rc(ray_config_export(&c), 0, "export the options");
    is_rc(ray_config_load(&w), 0, "a worker loads them");
    ok(!strcmp(w.resources, "ssd:1,fpga:2"), "resources arrive unquoted: %s", w.resources);
    is_int(w.object_store_memory, 3ull << 30, "object_store_memory arrives");
    is_int(w.prefault, 0, "prefault arrives");
    ok(w.num_cpus == 0.125 && !w.num_cpus_auto, "num_cpus 0.125 arrives");
    ok(w.worker_idle_s == c.worker_idle_s, "worker_idle_s arrives unchanged (%.17g, sent %.17g)",
       w.worker_idle_s, c.worker_idle_s);
    is_int(w.spin_us, 50, "settings not given as options are not exported");
    clear_env();
}

int main(void)
{
    test_defaults();
    test_env_overrides();
    test_bad_values();
    test_parse_size();
    test_options();
    test_auto();
    test_print();
    test_export_round_trip();
    return tap_done();
}
