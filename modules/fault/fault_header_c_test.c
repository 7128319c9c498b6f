/* modules/fault/fault.h is usable from C. */
#include <stddef.h>

#include "modules/fault/fault.h"

int main(void) {
  struct fault_copy fc = {16, NULL};
  return (fc.fc_size == 16 && FAULT_IOC_HANGUP == 0x4601 && FAULT_PATTERN == 0xA5) ? 0 : 1;
}
