// Option management over TPI, as illumos' optcom.c answers it for udp and icmp: both the SVR4
// form (T_SVR4_OPTMGMT_REQ with struct opthdr, what sockfs and TLI's t_optmgmt() send) and the
// XTI form (T_OPTMGMT_REQ with struct T_opthdr and a status per option).
//
// SVR4 (svr4_optcom_req):
//  - a request shorter than T_optmgmt_req, or an option buffer outside the block, misaligned,
//    with a truncated header or value, naming an unknown option or T_ALLOPT: TBADOPT;
//  - MGMT_flags other than T_DEFAULT, T_CURRENT, T_CHECK, T_NEGOTIATE: TBADFLAG;
//  - T_DEFAULT ignores the buffer and returns every option with its default value;
//  - T_CURRENT and T_CHECK return each option named with its current value;
//  - T_NEGOTIATE sets each in turn (a value that is not 4 bytes: TBADOPT; setting a read-only
//    option or an invalid value: TSYSERR with the errno — options before it stay set, as on
//    illumos) and returns each with the value now current.
//  The ack's MGMT_flags is T_SUCCESS (T_DEFAULT for a T_DEFAULT request).
//
// XTI (tpi_optcom_req): the same validation of the buffer (TBADOPT, TBADFLAG), and an option at a
// level the endpoint does not know is TBADOPT; otherwise every option gets a status:
//  - unknown option at a known level: T_NOTSUPPORT (echoed as given);
//  - T_DEFAULT / T_CURRENT: the value, T_SUCCESS (T_READONLY for a read-only option);
//  - T_CHECK: T_SUCCESS if the value given (if any) could be set, else T_FAILURE;
//  - T_NEGOTIATE: set, T_SUCCESS with the value now current; T_FAILURE (echoed) if it could not
//    be (wrong length, invalid value); T_READONLY for a read-only option;
//  - T_ALLOPT as the name: every option of the level (T_DEFAULT, T_CURRENT; T_NEGOTIATE sets them
//    to their defaults); T_FAILURE with T_CHECK or at a level without options.
//  The ack's MGMT_flags is the request's flag ORed with the worst status of all options (illumos
//  pecking order: T_SUCCESS, T_PARTSUCCESS, T_FAILURE, T_READONLY, T_NOTSUPPORT).
#pragma once

#include <span>

#include "modules/udp/datagram.h"
#include "streams/msg.h"
#include "streams/tihdr.h"

namespace ustreams::tpi {

// Answers req (a T_SVR4_OPTMGMT_REQ or T_OPTMGMT_REQ, not consumed) for ep: a T_OPTMGMT_ACK or a
// T_ERROR_ACK, or empty when no memory is left.
MsgPtr OptMgmt(dgram::DatagramEndpoint& ep, const mblk_t* req);

// T_info_ack OPT_size: the option buffer every supported option with its value takes.
t_scalar_t MaxOptionSize(std::span<const dgram::OptionDesc> options);

}  // namespace ustreams::tpi
