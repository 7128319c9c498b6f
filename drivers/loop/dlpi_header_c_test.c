/* streams/dlpi.h compiles as C, with the sizes the illumos layouts give. */
#include <stddef.h>

#include "streams/dlpi.h"

_Static_assert(sizeof(t_uscalar_t) == 4 && sizeof(t_scalar_t) == 4, "32-bit DLPI scalars");
_Static_assert(sizeof(dl_info_ack_t) == 76, "dl_info_ack_t");
_Static_assert(sizeof(dl_bind_req_t) == 20, "dl_bind_req_t");
_Static_assert(offsetof(dl_bind_req_t, dl_service_mode) == 12, "dl_bind_req_t.dl_service_mode");
_Static_assert(offsetof(dl_bind_req_t, dl_xidtest_flg) == 16, "dl_bind_req_t.dl_xidtest_flg");
_Static_assert(sizeof(dl_bind_ack_t) == 24, "dl_bind_ack_t");
_Static_assert(sizeof(dl_ok_ack_t) == 8, "dl_ok_ack_t");
_Static_assert(sizeof(dl_error_ack_t) == 16, "dl_error_ack_t");
_Static_assert(sizeof(dl_unitdata_req_t) == 20, "dl_unitdata_req_t");
_Static_assert(sizeof(dl_unitdata_ind_t) == 24, "dl_unitdata_ind_t");
_Static_assert(sizeof(dl_uderror_ind_t) == 20, "dl_uderror_ind_t");
_Static_assert(sizeof(dl_phys_addr_ack_t) == 12, "dl_phys_addr_ack_t");
_Static_assert(sizeof(dl_notify_ind_t) == 20, "dl_notify_ind_t");
_Static_assert(sizeof(dl_qos_cl_sel1_t) == 20, "dl_qos_cl_sel1_t");
_Static_assert(sizeof(dl_qos_co_range1_t) == 64, "dl_qos_co_range1_t");
_Static_assert(sizeof(dl_capab_zerocopy_t) == 60, "dl_capab_zerocopy_t");
_Static_assert(DL_BADSAP == 0 && DL_OUTSTATE == 3 && DL_BADPPA == 8 && DL_BADPRIM == 9 &&
                   DL_NOTSUPPORTED == 0x12 && DL_BUSY == 0x15,
               "dl_errno values");
_Static_assert(DL_UNATTACHED == 4 && DL_UNBOUND == 0 && DL_IDLE == 3, "states");
_Static_assert(DL_STYLE2 == 0x0501 && DL_ETHER == 4 && DL_CLDLS == 2, "constants");
_Static_assert(DL_IOC_HDR_INFO == (('D' << 8) | 10) && DLIOCRAW == (('D' << 8) | 1), "ioctls");

int main(void) {
  union DL_primitives p;
  p.dl_primitive = DL_INFO_REQ;
  dl_notify_ind_t n;
  n.dl_data = 1; /* the illumos accessor macros */
  n.dl_data1 = 2;
  return (int)p.info_req.dl_primitive + (n.dl_dlu.dlu_data16[0] == 2 ? 0 : 1);
}
