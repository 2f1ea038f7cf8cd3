/*
 * import.h: settings of the migration (crm.import_commit).
 */
#ifndef CRM_IMPORT_H
#define CRM_IMPORT_H

extern void crm_import_init(void);

#endif							/* CRM_IMPORT_H */
