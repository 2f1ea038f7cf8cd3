/*
 * normalize.h: SQL-callable normalisers and validators.
 */
#ifndef CRM_NORMALIZE_H
#define CRM_NORMALIZE_H

extern void crm_normalize_init(void);

#endif							/* CRM_NORMALIZE_H */
