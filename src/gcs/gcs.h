/*
 * gcs.h - the whole interface of src/gcs: the control store of slowly
 * changing cluster state.  On one node it holds the names of actors; with
 * several nodes it will live on rank 0 and add the node, function and
 * resource tables.
 */
#ifndef RAY_GCS_H
#define RAY_GCS_H

#include "common/common.h"

typedef struct gcs gcs;
gcs *gcs_create(void);
void gcs_destroy(gcs *g);
/* Binds name to an actor; RAY_EEXIST if the name is taken. */
int gcs_name_put(gcs *g, const char *name, size_t len, uint32_t node, uint32_t slot,
                 uint32_t gen);
int gcs_name_get(gcs *g, const char *name, size_t len, uint32_t *node, uint32_t *slot,
                 uint32_t *gen);
void gcs_name_del(gcs *g, const char *name, size_t len);

#endif /* RAY_GCS_H */
