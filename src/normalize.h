/*
 * normalize.h: SQL-callable normalisers and validators.
 */
#ifndef CRM_NORMALIZE_H
#define CRM_NORMALIZE_H

extern void crm_normalize_init(void);

/* Raise an error if the last core call failed (ICU, memory), else return. */
extern void crm_raise_core_error(void);

#endif							/* CRM_NORMALIZE_H */
