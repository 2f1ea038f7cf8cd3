/*
 * core.c: allocator hooks of the normalisation core.
 */
#include "core.h"

#include <stdlib.h>

crm_alloc_fn crm_alloc = malloc;
crm_free_fn crm_free = free;
const char *crm_core_error = NULL;

void
crm_core_set_allocator(crm_alloc_fn alloc_fn, crm_free_fn free_fn)
{
	crm_alloc = alloc_fn;
	crm_free = free_fn;
}
