// A STREAMS domain: one instance of the framework's shared state — the registry of modules and
// drivers (fmodsw/devsw), the autopush table, the scheduler that runs service procedures and
// timers, the streams open on each device minor, and the persistent multiplexor links. Streams of
// different domains never meet except through a driver that bridges them (a loop link).
//
// A Stack (the TCP/IP layer) owns one domain. The C API (stropts.h) opens devices in the calling
// thread's current domain: the process default unless the thread switched with SetCurrent, the
// way a thread enters a network namespace with setns(2).
//
// Device names: "/dev/NAME" or "NAME" opens driver NAME: a clone device (registered so) gives a
// new stream each time, any other driver minor 0 (every open of it shares one stream);
// "/dev/NAME/MINOR" opens that minor; "/dev/clone/NAME" clone-opens any driver. Names added with
// AddDeviceName and directories added with AddDeviceAlias come first.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streams/autopush.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/scheduler.h"

namespace ustreams {

class StreamHead;

// Pipes have this major; their minors count up.
inline constexpr unsigned int kPipeMajor = 0xfff;

class Domain {
 public:
  struct Options {
    bool deterministic = false;  // a deterministic scheduler (tests in virtual time)
    int workers = 2;
  };
  Domain();
  explicit Domain(Options options);
  ~Domain();
  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;

  Registry& registry() { return registry_; }
  // What owns the domain (a Stack), for its drivers to find their state from a queue
  // (q->q_stream->domain()->context()). Not owned.
  void* context() const { return context_; }
  void set_context(void* c) { context_ = c; }
  Scheduler& scheduler() { return *scheduler_; }
  Autopush& autopush() { return autopush_; }

  // Opens a device (see the naming rules above). Returns 0 or the errno: ENOENT for a name no
  // driver has, the driver's or a module's open error, EINVAL for a bad minor.
  int Open(std::string_view path, int oflag, cred_t* cr, std::shared_ptr<StreamHead>* out);
  // Another name for a device: opening `path` ("/dev/sad/admin", with or without "/dev/") opens
  // minor `minor` of `driver`, as a clone open if `clone`.
  void AddDeviceName(std::string_view path, std::string_view driver, int minor, bool clone);
  // A directory of other names: opening a path that starts with `prefix` opens the path with
  // `target` in its place, by the rules above ("/dev/streams/fifo/" for "/dev/fifo/": the LfS
  // device tree). The first alias added that matches applies, once.
  void AddDeviceAlias(std::string_view prefix, std::string_view target);
  // A STREAMS pipe: two heads whose write sides feed each other's read sides.
  int Pipe(std::shared_ptr<StreamHead>* a, std::shared_ptr<StreamHead>* b);

  // Holds keep a stream open (each open file, and each multiplexor link of a lower stream).
  // The release of the last hold is the last close.
  void Hold(StreamHead* h);
  void Release(const std::shared_ptr<StreamHead>& h, int fflag);
  // The open streams of the domain, closed (as at their last close) when it goes.
  size_t open_streams();

  // Multiplexor ids, unique in the domain, never 0.
  int NewMuxId();
  // Persistent links (I_PLINK), kept by the multiplexing driver's major.
  struct PersistentLink {
    int major;
    int muxid;
    std::shared_ptr<StreamHead> lower;
  };
  void AddPersistentLink(PersistentLink link);
  // Removes and returns the links of `major` with `muxid` (MUXID_ALL: all of them).
  std::vector<PersistentLink> TakePersistentLinks(int major, int muxid);
  // The multiplexor graph, by driver major: each link is an edge from the upper stream's driver
  // to the lower stream's. Linking must not make a cycle.
  bool WouldCycle(int upper_major, int lower_major);
  void AddLinkEdge(int upper_major, int lower_major, int muxid);
  void RemoveLinkEdge(int muxid);

  // The calling thread's current domain (the process default unless set).
  static Domain& Current();
  // Makes d the calling thread's current domain (nullptr: back to the default); returns the
  // previous one.
  static Domain* SetCurrent(Domain* d);
  // The process default domain, with the standard drivers and modules registered (created on
  // first use by the hook below).
  static Domain& Default();
  // The composition root installs what the default domain registers (streams/standard.h).
  static void SetDefaultSetup(void (*setup)(Domain&));

  static int MajorOf(dev_t d);
  static int MinorOf(dev_t d);
  static dev_t MakeDev(int major, int minor);

 private:
  int OpenDevice(std::string_view driver, int minor, bool clone, int oflag, cred_t* cr,
                 std::shared_ptr<StreamHead>* out);
  // OpenDevice's new streams; each takes open_mu_ held and lets it go.
  int OpenFirst(const fmodsw* drv, dev_t dev, int oflag, cred_t* cr,
                std::unique_lock<std::mutex> l, std::shared_ptr<StreamHead>* out);
  int OpenClone(const fmodsw* drv, int minor, int oflag, cred_t* cr,
                std::unique_lock<std::mutex> l, std::shared_ptr<StreamHead>* out);
  int RunAutopush(const std::shared_ptr<StreamHead>& h, const fmodsw* drv, int oflag,
                  cred_t* cr);

  void* context_ = nullptr;
  Registry registry_;
  std::unique_ptr<Scheduler> scheduler_;
  Autopush autopush_;
  struct DeviceName {
    std::string driver;
    int minor;
    bool clone;
  };
  std::map<std::string, DeviceName, std::less<>> names_;  // without "/dev/"
  std::vector<std::pair<std::string, std::string>> aliases_;  // prefix, target; without "/dev/"
  // Guards the tables below; held while a new stream is made and published, never across the
  // open routines of a stream others can find (Stream::BeginOpen orders those).
  std::mutex open_mu_;
  std::map<dev_t, std::weak_ptr<StreamHead>> minors_;
  std::map<int, int> next_minor_;  // per major, for clone opens the driver left alone
  std::vector<std::weak_ptr<StreamHead>> open_;  // every stream not yet closed
  std::mutex links_mu_;
  std::vector<PersistentLink> plinks_;
  struct Edge {
    int upper_major, lower_major, muxid;
  };
  std::vector<Edge> edges_;
  std::atomic<int> next_muxid_{1};
  std::atomic<int> next_pipe_{0};
};

// Switches the calling thread's current domain for a scope.
class DomainScope {
 public:
  explicit DomainScope(Domain* d) : saved_(Domain::SetCurrent(d)) {}
  ~DomainScope() { Domain::SetCurrent(saved_); }
  DomainScope(const DomainScope&) = delete;
  DomainScope& operator=(const DomainScope&) = delete;

 private:
  Domain* saved_;
};

}  // namespace ustreams
