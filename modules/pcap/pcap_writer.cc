#include "modules/pcap/pcap_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ustreams {
namespace {

// The file is written in host byte order; readers detect it from the magic number.
void PutU32(unsigned char* p, uint32_t v) { std::memcpy(p, &v, sizeof(v)); }
void PutU16(unsigned char* p, uint16_t v) { std::memcpy(p, &v, sizeof(v)); }

constexpr size_t kGlobalHeaderSize = 24;
constexpr size_t kRecordHeaderSize = 16;

}  // namespace

PcapWriter::~PcapWriter() { Close(); }

int PcapWriter::Open(const char* path) {
  if (file_ != nullptr) return EINVAL;
  // "e": close-on-exec, so a child the embedding program starts does not inherit the capture.
  FILE* f = std::fopen(path, "wbe");
  if (f == nullptr) return errno;
  file_ = f;
  wrote_packet_ = false;
  packets_ = bytes_ = write_errors_ = 0;
  if (!WriteGlobalHeader()) write_errors_++;
  return 0;
}

int PcapWriter::SetLinkType(int linktype) {
  if (linktype != PCAP_LINKTYPE_ETHERNET && linktype != PCAP_LINKTYPE_RAW) return EINVAL;
  if (file_ == nullptr) {
    linktype_ = linktype;
    return 0;
  }
  if (wrote_packet_) return EBUSY;  // records already written belong to the old link type
  // Only the global header has been written: rewind and write it again.
  if (std::fseek(file_, 0, SEEK_SET) != 0) return errno;
  linktype_ = linktype;
  if (!WriteGlobalHeader()) write_errors_++;
  return 0;
}

void PcapWriter::WritePacket(absl::Time when, const mblk_t* data) {
  if (file_ == nullptr) return;
  size_t orig_len = 0;
  for (const mblk_t* bp = data; bp != nullptr; bp = bp->b_cont) {
    if (DB_TYPE(bp) == M_DATA) orig_len += MBLKL(bp);
  }
  size_t incl_len = std::min<size_t>(orig_len, PCAP_SNAPLEN);
  // Microseconds since the epoch, split with floor semantics so a time before 1970 still gives
  // 0 <= ts_usec < 1e6.
  int64_t us = absl::ToUnixMicros(when);
  int64_t sec = us / 1000000;
  int64_t usec = us % 1000000;
  if (usec < 0) {
    usec += 1000000;
    sec--;
  }
  unsigned char hdr[kRecordHeaderSize];
  PutU32(hdr, static_cast<uint32_t>(sec));  // wraps in 2106, as the format does
  PutU32(hdr + 4, static_cast<uint32_t>(usec));
  PutU32(hdr + 8, static_cast<uint32_t>(incl_len));
  PutU32(hdr + 12, static_cast<uint32_t>(std::min<size_t>(orig_len, UINT32_MAX)));
  bool ok = Put(hdr, sizeof(hdr));
  size_t left = incl_len;
  for (const mblk_t* bp = data; ok && bp != nullptr && left > 0; bp = bp->b_cont) {
    if (DB_TYPE(bp) != M_DATA) continue;
    size_t n = std::min(MBLKL(bp), left);
    ok = Put(bp->b_rptr, n);
    left -= n;
  }
  // Even a failed record fixes the link type: part of it may be in the file.
  wrote_packet_ = true;
  if (!ok) {
    write_errors_++;
    return;
  }
  packets_++;
  bytes_ += incl_len;
}

int PcapWriter::Close() {
  if (file_ == nullptr) return EINVAL;
  // fclose flushes what stdio still buffers; that is where most write errors show.
  if (std::fclose(file_) != 0) write_errors_++;
  file_ = nullptr;
  return 0;
}

pcap_ioc_stats PcapWriter::Stats() const {
  pcap_ioc_stats s{};
  s.ps_packets = packets_;
  s.ps_bytes = bytes_;
  s.ps_write_errors = write_errors_;
  s.ps_open = file_ != nullptr ? 1 : 0;
  s.ps_linktype = static_cast<uint32_t>(linktype_);
  return s;
}

bool PcapWriter::WriteGlobalHeader() {
  unsigned char hdr[kGlobalHeaderSize];
  PutU32(hdr, PCAP_MAGIC);
  PutU16(hdr + 4, PCAP_VERSION_MAJOR);
  PutU16(hdr + 6, PCAP_VERSION_MINOR);
  PutU32(hdr + 8, 0);   // thiszone: timestamps are UTC
  PutU32(hdr + 12, 0);  // sigfigs
  PutU32(hdr + 16, PCAP_SNAPLEN);
  PutU32(hdr + 20, static_cast<uint32_t>(linktype_));
  return Put(hdr, sizeof(hdr));
}

bool PcapWriter::Put(const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, file_) == n; }

}  // namespace ustreams
