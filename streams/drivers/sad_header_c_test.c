/* streams/drivers/sad.h is usable from C and keeps the illumos layout of struct strapush. */
#include <stddef.h>
#include <stdio.h>

#include "streams/drivers/sad.h"

int main(void) {
  int bad = 0;
  if (sizeof(struct apcommon) != 20) bad |= 1;
  if (offsetof(struct strapush, sap_list) != 20) bad |= 2;
  if (offsetof(struct strapush, sap_data) != 92) bad |= 4;
  if (sizeof(struct strapush) != 96 || STRAPUSH_V1_LEN != 96 || STRAPUSH_V0_LEN != 92) bad |= 8;
  if (SAD_SAP != 0x4411 || SAD_GAP != 0x4412 || SAD_VML != 0x4403) bad |= 16;
  if (MAXAPUSH != 8 || SAP_CLEAR != 0 || SAP_ONE != 1 || SAP_RANGE != 2 || SAP_ALL != 3) bad |= 32;
  if (bad != 0) fprintf(stderr, "sad.h layout check failed: 0x%x\n", bad);
  return bad != 0;
}
