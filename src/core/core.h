/*
 * core.h: conventions shared by the pure-C normalisation core.
 *
 * Nothing under src/core includes postgres.h, so the same code is linked
 * into the backend module and into the fuzz and unit harnesses.  The core
 * never raises errors: it returns NULL (or false) for input it cannot use.
 * Memory comes from the allocator hooks below, which the backend points at
 * palloc/pfree (so an aborted query frees it) and harnesses at malloc/free.
 */
#ifndef CRM_CORE_H
#define CRM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void *(*crm_alloc_fn) (size_t size);
typedef void (*crm_free_fn) (void *ptr);

extern crm_alloc_fn crm_alloc;
extern crm_free_fn crm_free;

/* Install allocator hooks; must be called before any other core function. */
extern void crm_core_set_allocator(crm_alloc_fn alloc_fn, crm_free_fn free_fn);

/*
 * Set when a core function failed for a reason other than unusable input
 * (ICU could not open a transliterator, out of memory).  Callers clear it
 * before a call and turn it into an error after one, so a failure is never
 * mistaken for "no value".
 */
extern const char *crm_core_error;

#endif							/* CRM_CORE_H */
