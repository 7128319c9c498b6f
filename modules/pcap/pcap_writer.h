// PcapWriter: writes the classic libpcap file format (see pcap.h) from message chains. It knows
// nothing of queues: the module decides which messages to capture and serialises calls (the
// writer is not synchronised).
#pragma once

#include <cstdint>
#include <cstdio>

#include "absl/time/time.h"
#include "modules/pcap/pcap.h"
#include "streams/mblk.h"

namespace ustreams {

class PcapWriter {
 public:
  PcapWriter() = default;
  ~PcapWriter();  // closes an open file, flushing it
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Creates or truncates `path`, writes the global header and zeroes the statistics. Returns 0,
  // EINVAL if a file is already open, or fopen's errno.
  int Open(const char* path);
  // Returns 0, EINVAL for a link type this writer does not support, EBUSY once a packet was
  // written to the open file, or the errno of rewinding it to rewrite the global header.
  int SetLinkType(int linktype);
  // Writes one packet record stamped `when` holding the bytes of the M_DATA blocks of the chain
  // starting at `data` (others are skipped), cut at PCAP_SNAPLEN. Does nothing without an open
  // file; a failed write is counted, never reported.
  void WritePacket(absl::Time when, const mblk_t* data);
  // Flushes and closes the file (a failed flush is counted). Returns 0, or EINVAL if none is
  // open.
  int Close();

  bool is_open() const { return file_ != nullptr; }
  pcap_ioc_stats Stats() const;

 private:
  bool WriteGlobalHeader();
  bool Put(const void* p, size_t n);

  FILE* file_ = nullptr;
  int linktype_ = PCAP_LINKTYPE_ETHERNET;
  bool wrote_packet_ = false;  // since Open: the link type is fixed from then on
  uint64_t packets_ = 0;
  uint64_t bytes_ = 0;
  uint64_t write_errors_ = 0;
};

}  // namespace ustreams
