// The STREAMS face of a datagram endpoint: a connectionless TPI provider (T_CLTS), the driver
// half that /dev/udp and /dev/icmp share. It only translates: TPI primitives written down become
// DatagramEndpoint calls, and the endpoint's upcalls become T_UNITDATA_IND / T_UDERROR_IND sent up.
//
// Theory of operation
// -------------------
// A driver's open routine makes an endpoint and calls DatagramOpen(), which hangs a
// DatagramStream (this file's .cc) off q_ptr, attaches it to the endpoint as its upper face and
// tells the stream head the receive bound (SO_HIWAT = SO_RCVBUF) and the headroom to leave in
// front of written data (SO_WROFF: IP, link and transport headers are prepended in place).
//
// Write side (DatagramWput, D_MP, any number of threads): every primitive is answered from the
// put procedure; nothing is queued. What illumos udp/icmp do, case by case:
//   - M_PROTO/M_PCPROTO shorter than a PRIM_type: freed (illumos udp_wput_other).
//   - T_INFO_REQ → T_INFO_ACK (CURRENT_state TS_UNBND or TS_IDLE); T_CAPABILITY_REQ →
//     T_CAPABILITY_ACK; T_ADDR_REQ → T_ADDR_ACK (the local address once bound).
//   - T_BIND_REQ / O_T_BIND_REQ: short → TPROTO; bound already → TOUTSTATE; ADDR_length 0 → any
//     address and an ephemeral port; ADDR_length sizeof(sockaddr_in) with the address outside the
//     block → TSYSERR/EINVAL, a family other than AF_INET → TSYSERR/EAFNOSUPPORT; any other
//     length → TBADADDR. Endpoint errors: in use → TADDRBUSY (O_T_BIND_REQ instead takes another
//     port, as TLI's old bind did), no ephemeral port → TNOADDR, not a local address →
//     TSYSERR/EADDRNOTAVAIL. Success → T_BIND_ACK with the address bound.
//   - T_UNBIND_REQ: not bound → TOUTSTATE; else M_FLUSH(FLUSHRW) up (TPI: datagrams not yet read
//     belong to the old binding) and T_OK_ACK.
//   - T_UNITDATA_REQ: failures come back as T_UDERROR_IND echoing the destination, with
//     ERROR_type the errno: short request or a destination outside the block, of the wrong
//     length or family → EADDRNOTAVAIL; no data part → EPROTO; then whatever the endpoint's
//     SendTo returns (ENETUNREACH, EHOSTUNREACH, EACCES, EMSGSIZE ...). Options riding on the
//     request (OPT_length) are ignored.
//   - T_SVR4_OPTMGMT_REQ / T_OPTMGMT_REQ: tpi_optmgmt.h.
//   - T_CONN_REQ, T_DISCON_REQ, T_CONN_RES, O_T_CONN_RES, T_DATA_REQ, T_EXDATA_REQ, T_ORDREL_REQ
//     (connected datagram endpoints are not offered over TPI yet) and unknown primitives →
//     TNOTSUPPORT. illumos has no TBADPRIM (its TLI errors end at TPROTO) and drops unknown
//     primitives silently in ip_wput_nondata; answering them keeps a TLI user from waiting for
//     an ack that never comes.
//   - M_DATA (no destination): freed. M_FLUSH: as a driver must. M_IOCTL: M_IOCNAK EINVAL.
//
// Read side: the endpoint's upcalls run on IP's receive threads. A datagram goes up only while
// canputnext() says the stream head's read queue is below its high-water mark (SO_RCVBUF); when
// it is not, Deliver reports the drop and the endpoint counts it. DatagramClose first closes the
// endpoint (which waits out an upcall in progress and lets no new one start), so no upcall ever
// touches the queues after they are gone.
#pragma once

#include <cstddef>
#include <memory>

#include "modules/udp/datagram.h"
#include "streams/queue.h"
#include "streams/tihdr.h"

namespace ustreams::tpi {

// What a driver tells the shared face about itself.
struct DatagramProvider {
  // The T_INFO_ACK of its streams; CURRENT_state and OPT_size are filled in per request.
  T_info_ack info;
  // Bytes the stream head leaves in front of written data (SO_WROFF).
  unsigned short wroff;
  // T_UNITDATA_REQ in TS_UNBND is a protocol error (T_UDERROR_IND EPROTO), as illumos' UDP has
  // it; otherwise the endpoint picks its own address (illumos' raw IP sends unbound).
  bool send_needs_bind = false;
};

// The driver's open routine, once it has an endpoint for the new stream. EINVAL for a module
// open; 0 for a re-open of a stream already set up (ep is then dropped).
int DatagramOpen(queue_t* q, int sflag, std::shared_ptr<dgram::DatagramEndpoint> ep,
                 const DatagramProvider* provider);
// The driver's close routine.
int DatagramClose(queue_t* q, int oflag, cred_t* crp);
// The write put procedure (consumes mp).
int DatagramWput(queue_t* q, mblk_t* mp);
// The read put procedure: nothing is below the driver, so only the framework calls it; passes
// the message up.
int DatagramRput(queue_t* q, mblk_t* mp);

// The endpoint of a stream opened with DatagramOpen (tests and netstat), or nullptr.
dgram::DatagramEndpoint* EndpointOf(queue_t* q);

}  // namespace ustreams::tpi
