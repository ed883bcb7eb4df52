/*
 * shm.c - memfd regions and the per-job directory.  Shared memory is an
 * anonymous memfd (mode 0600, no name in /dev/shm, so nothing can be left
 * behind and a small /dev/shm does not limit the store); it is sparse until
 * touched.  The job directory is mode 0700 under $TMPDIR or /tmp.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int ray_memfd_create(const char *name, uint64_t size)
{
    int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return ray_err_sys("memfd_create(%s)", name);
    if (ftruncate(fd, (off_t)size) < 0) {
        ray_err_sys("cannot size shared memory %s to %llu bytes", name,
                    (unsigned long long)size);
        close(fd);
        return RAY_ESYS;
    }
    /* The size is fixed for the job: a peer cannot shrink it under us. */
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    return fd;
}

void *ray_map(int fd, uint64_t size, int prot)
{
    void *p = mmap(NULL, size, prot, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        ray_err_sys("mmap of %llu bytes", (unsigned long long)size);
        return NULL;
    }
    return p;
}

void ray_unmap(void *p, uint64_t size)
{
    if (p)
        munmap(p, size);
}

int ray_jobdir_create(const char *base, char *path, size_t size)
{
    if (!base || !*base)
        base = ray_env("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    const char *job = ray_env("SLURM_JOB_ID");
    int n = snprintf(path, size, "%s/ray-mpi.%u.%s%sXXXXXX", base, (unsigned)getuid(),
                     job ? job : "", job ? "." : "");
    if (n < 0 || (size_t)n >= size)
        return ray_err(RAY_EINVAL, "job directory path under %s is too long", base);
    if (!mkdtemp(path))
        return ray_err_sys("cannot make the job directory %s", path);
    chmod(path, 0700);
    return 0;
}

static int rm_tree(int dirfd, const char *name, int depth)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return unlinkat(dirfd, name, 0);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (e->d_type == DT_DIR && depth < 16)
            rm_tree(fd, e->d_name, depth + 1);
        else
            unlinkat(fd, e->d_name, 0);
    }
    closedir(d);
    return unlinkat(dirfd, name, AT_REMOVEDIR);
}

int ray_jobdir_write(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return ray_err(RAY_EINVAL, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ray_err_sys("cannot write %s", tmp);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int rc = ray_err_sys("cannot write %s", tmp);
            close(fd);
            unlink(tmp);
            return rc;
        }
        off += (size_t)w;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int rc = ray_err_sys("cannot write %s", path);
        unlink(tmp);
        return rc;
    }
    return 0;
}

int ray_jobdir_remove(const char *path)
{
    if (!path || !*path)
        return 0;
    if (rm_tree(AT_FDCWD, path, 0) < 0 && errno != ENOENT)
        return ray_err_sys("cannot remove the job directory %s", path);
    return 0;
}
