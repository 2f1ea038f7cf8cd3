/*
 * map_path.h: what a field map's SQL/JSON path can be seen to do before
 * any payload arrives.
 */
#ifndef CRM_MAP_PATH_H
#define CRM_MAP_PATH_H

#include "postgres.h"

/*
 * Parse the path and refuse one that would fail or be ambiguous on every
 * lead: a syntax error, a $variable (a field map gives none), a step that
 * selects several items ([*], .*, .**, ranges, several subscripts), a
 * predicate, which yields true or false, or the whole payload.  A path
 * that computes its value (an item method such as .type() or .abs(), or
 * arithmetic) is refused too: different leads could get the same value.
 * The error names the field.  Filters pass, methods and arithmetic in them
 * included: they usually pick one item, and a path that finds several on a
 * payload is refused then.
 */
extern void crm_check_map_path(const char *field, const char *path);

#endif							/* CRM_MAP_PATH_H */
