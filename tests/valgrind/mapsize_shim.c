/* mapsize_shim.c - preloaded into unit tests run under valgrind.
 *
 * Herald's state store reserves a 1 TiB LMDB map (address space only; the
 * file grows as needed). valgrind cannot reserve that much, and the open
 * fails with EINVAL. This shim caps the size LMDB is asked to map at 1 GiB,
 * plenty for any test, and leaves herald's own code unchanged. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct MDB_env MDB_env;

int mdb_env_set_mapsize(MDB_env *env, size_t size);

int mdb_env_set_mapsize(MDB_env *env, size_t size)
{
    int (*real)(MDB_env *, size_t) =
        (int (*)(MDB_env *, size_t))dlsym(RTLD_NEXT, "mdb_env_set_mapsize");
    size_t cap = (size_t)1 << 30;
    return real(env, size > cap ? cap : size);
}
