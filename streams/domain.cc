#include "streams/domain.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <functional>

#include "streams/head.h"

namespace ustreams {

namespace {
thread_local Domain* t_current = nullptr;
std::atomic<void (*)(Domain&)> g_default_setup{nullptr};
}  // namespace

Domain::Domain() : Domain(Options()) {}

Domain::Domain(Options options)
    : scheduler_(options.deterministic ? Scheduler::Deterministic()
                                       : Scheduler::Threaded(options.workers)) {}

Domain::~Domain() {
  // Close what is still open, persistent links first (their lower streams hold no file).
  std::vector<PersistentLink> links;
  {
    std::lock_guard<std::mutex> l(links_mu_);
    links.swap(plinks_);
  }
  for (PersistentLink& pl : links) {
    pl.lower->SetLinked(false);
    pl.lower->stream().Unmux();
    Release(pl.lower, O_NONBLOCK);
  }
  links.clear();
  std::vector<std::shared_ptr<StreamHead>> open;
  {
    std::lock_guard<std::mutex> l(open_mu_);
    for (auto& w : open_) {
      if (auto h = w.lock()) open.push_back(std::move(h));
    }
    open_.clear();
  }
  for (auto& h : open) {
    if (!h->closed()) h->Close(O_NONBLOCK);
  }
  open.clear();
  if (scheduler_->deterministic()) scheduler_->RunUntilIdle();
}

int Domain::MajorOf(dev_t d) { return static_cast<int>(major(d)); }
int Domain::MinorOf(dev_t d) { return static_cast<int>(minor(d)); }
dev_t Domain::MakeDev(int maj, int min) {
  return makedev(static_cast<unsigned int>(maj), static_cast<unsigned int>(min));
}

void Domain::AddDeviceName(std::string_view path, std::string_view driver, int minor,
                           bool clone) {
  if (path.substr(0, 5) == "/dev/") path.remove_prefix(5);
  std::lock_guard<std::mutex> l(open_mu_);
  names_[std::string(path)] = DeviceName{std::string(driver), minor, clone};
}

void Domain::AddDeviceAlias(std::string_view prefix, std::string_view target) {
  if (prefix.substr(0, 5) == "/dev/") prefix.remove_prefix(5);
  if (target.substr(0, 5) == "/dev/") target.remove_prefix(5);
  std::lock_guard<std::mutex> l(open_mu_);
  aliases_.emplace_back(std::string(prefix), std::string(target));
}

int Domain::Open(std::string_view path, int oflag, cred_t* cr, std::shared_ptr<StreamHead>* out) {
  std::string_view name = path;
  if (name.substr(0, 5) == "/dev/") name.remove_prefix(5);
  std::string aliased;  // the name an alias made, when one applies
  {
    std::unique_lock<std::mutex> l(open_mu_);
    for (const auto& [prefix, target] : aliases_) {
      if (name.substr(0, prefix.size()) == prefix) {
        aliased = target + std::string(name.substr(prefix.size()));
        name = aliased;
        break;
      }
    }
    auto it = names_.find(name);
    if (it != names_.end()) {
      DeviceName dn = it->second;
      l.unlock();
      return OpenDevice(dn.driver, dn.minor, dn.clone, oflag, cr, out);
    }
  }
  bool clone = false;
  if (name.substr(0, 6) == "clone/") {
    clone = true;
    name.remove_prefix(6);
  }
  int minor_no = 0;
  bool explicit_minor = false;
  if (size_t slash = name.find('/'); slash != std::string_view::npos) {
    std::string_view m = name.substr(slash + 1);
    name = name.substr(0, slash);
    auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), minor_no);
    if (clone || ec != std::errc() || p != m.data() + m.size() || minor_no < 0) return ENOENT;
    explicit_minor = true;
  }
  const fmodsw* drv = registry_.FindDriver(name);
  if (drv == nullptr) return ENOENT;
  return OpenDevice(name, minor_no, clone || (drv->clone && !explicit_minor), oflag, cr, out);
}

int Domain::OpenDevice(std::string_view name, int minor_no, bool clone, int oflag, cred_t* cr,
                       std::shared_ptr<StreamHead>* out) {
  const fmodsw* drv = registry_.FindDriver(name);
  if (drv == nullptr) return ENOENT;
  // What open(2) refuses of an existing device before any driver runs: no access mode at all
  // (illumos copen: O_WRONLY|O_RDWR is neither read nor write), and O_CREAT|O_EXCL (it exists).
  if ((oflag & O_ACCMODE) == O_ACCMODE) return EINVAL;
  if ((oflag & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return EEXIST;
  for (;;) {
    std::unique_lock<std::mutex> l(open_mu_);
    dev_t dev = MakeDev(drv->major, minor_no);
    if (!clone) {
      auto it = minors_.find(dev);
      if (it != minors_.end()) {
        if (std::shared_ptr<StreamHead> h = it->second.lock(); h != nullptr && !h->closed()) {
          h->AddHold();
          l.unlock();
          int err = h->Reopen(oflag, cr);  // waits for an open of the stream under way
          if (err != 0) {
            Release(h, oflag);
            if (err == StreamHead::kOpenAgain) continue;  // its first open failed: start afresh
            return err;
          }
          *out = std::move(h);
          return 0;
        }
      }
    }
    return clone ? OpenClone(drv, minor_no, oflag, cr, std::move(l), out)
                 : OpenFirst(drv, dev, oflag, cr, std::move(l), out);
  }
}

// The first open of a minor. The stream is published before its driver opens, and opens of the
// minor meanwhile wait for this one (Stream::BeginOpen) without holding open_mu_: a driver whose
// open waits (a FIFO's reader waiting for a writer) holds up neither the domain's other opens nor
// the opens of its own minor that it waits for.
int Domain::OpenFirst(const fmodsw* drv, dev_t dev, int oflag, cred_t* cr,
                      std::unique_lock<std::mutex> l, std::shared_ptr<StreamHead>* out) {
  auto h = std::make_shared<StreamHead>(this, dev);
  h->stream().BeginFirstOpen();
  minors_[dev] = h;
  open_.push_back(h);
  std::erase_if(open_, [](const std::weak_ptr<StreamHead>& w) { return w.expired(); });
  h->AddHold();
  l.unlock();
  const dev_t published = dev;
  int err = h->stream().OpenDriver(drv, &dev, oflag, 0, cr);
  if (err == 0 && dev != published) {
    // The driver chose another device number (a clone open in all but name).
    std::lock_guard<std::mutex> g(open_mu_);
    if (auto it = minors_.find(published); it != minors_.end() && it->second.lock() == h) {
      minors_.erase(it);
    }
    h->set_dev(dev);
    minors_[dev] = h;
  }
  if (err == 0) err = RunAutopush(h, drv, oflag, cr);
  const bool failed = err != 0 && !h->stream().joined();
  if (failed) {
    // Nobody else uses the stream: it goes, and opens waiting for it start afresh.
    std::lock_guard<std::mutex> g(open_mu_);
    auto it = minors_.find(h->dev());
    if (it != minors_.end() && it->second.lock() == h) minors_.erase(it);
  }
  h->stream().EndOpen(failed);
  if (err != 0) {
    Release(h, O_NONBLOCK);
    return err;
  }
  *out = std::move(h);
  return 0;
}

// A clone open: nobody can find the stream before it has its own minor.
int Domain::OpenClone(const fmodsw* drv, int minor_no, int oflag, cred_t* cr,
                      std::unique_lock<std::mutex> l, std::shared_ptr<StreamHead>* out) {
  dev_t dev = MakeDev(drv->major, minor_no);
  auto h = std::make_shared<StreamHead>(this, dev);
  int err = h->stream().OpenDriver(drv, &dev, oflag, CLONEOPEN, cr);
  if (err != 0) return err;
  if (dev == MakeDev(drv->major, minor_no)) {
    // The driver kept the device number: give the stream a minor of its own.
    int& next = next_minor_[drv->major];
    do {
      dev = MakeDev(drv->major, ++next);
    } while (minors_.count(dev) && !minors_[dev].expired());
  }
  h->set_dev(dev);
  minors_[dev] = h;
  open_.push_back(h);
  std::erase_if(open_, [](const std::weak_ptr<StreamHead>& w) { return w.expired(); });
  h->AddHold();
  l.unlock();
  err = RunAutopush(h, drv, oflag, cr);
  if (err != 0) {
    Release(h, O_NONBLOCK);
    return err;
  }
  *out = std::move(h);
  return 0;
}

// Autopush at open: the modules configured for the device, then its anchor.
int Domain::RunAutopush(const std::shared_ptr<StreamHead>& h, const fmodsw* drv, int oflag,
                        cred_t* cr) {
  Autopush::Entry ap;
  if (autopush_.Get(drv->major, MinorOf(h->dev()), &ap) != 0) return 0;
  int pushed = 0;
  for (const std::string& m : ap.modules) {
    if (int err = h->PushForOpen(m, oflag, cr); err != 0) return err;
    if (++pushed == ap.anchor) h->AnchorHere();
  }
  return 0;
}

int Domain::Pipe(std::shared_ptr<StreamHead>* a, std::shared_ptr<StreamHead>* b) {
  int n = next_pipe_.fetch_add(2);
  auto ha = std::make_shared<StreamHead>(this, MakeDev(kPipeMajor, n), nullptr);
  auto hb = std::make_shared<StreamHead>(this, MakeDev(kPipeMajor, n + 1), ha.get());
  Stream::Twist(&ha->stream(), &hb->stream());
  ha->AddHold();
  hb->AddHold();
  {
    std::lock_guard<std::mutex> l(open_mu_);
    open_.push_back(ha);
    open_.push_back(hb);
  }
  *a = std::move(ha);
  *b = std::move(hb);
  return 0;
}

void Domain::Hold(StreamHead* h) { h->AddHold(); }

void Domain::Release(const std::shared_ptr<StreamHead>& h, int fflag) {
  {
    std::lock_guard<std::mutex> l(open_mu_);
    if (!h->DropHold()) return;
    auto it = minors_.find(h->dev());
    if (it != minors_.end() && it->second.lock() == h) minors_.erase(it);
  }
  h->Close(fflag);
}

size_t Domain::open_streams() {
  std::lock_guard<std::mutex> l(open_mu_);
  size_t n = 0;
  for (auto& w : open_) {
    if (auto h = w.lock(); h != nullptr && !h->closed()) n++;
  }
  return n;
}

int Domain::NewMuxId() {
  int id;
  do {
    id = next_muxid_.fetch_add(1);
  } while (id <= 0);
  return id;
}

void Domain::AddPersistentLink(PersistentLink link) {
  std::lock_guard<std::mutex> l(links_mu_);
  plinks_.push_back(std::move(link));
}

std::vector<Domain::PersistentLink> Domain::TakePersistentLinks(int maj, int muxid) {
  std::lock_guard<std::mutex> l(links_mu_);
  std::vector<PersistentLink> out;
  for (auto it = plinks_.begin(); it != plinks_.end();) {
    if (it->major == maj && (muxid == MUXID_ALL || it->muxid == muxid)) {
      out.push_back(std::move(*it));
      it = plinks_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

bool Domain::WouldCycle(int upper_major, int lower_major) {
  std::lock_guard<std::mutex> l(links_mu_);
  // A path from the lower driver down to the upper one closes a loop.
  std::vector<int> todo{lower_major};
  std::vector<int> seen;
  while (!todo.empty()) {
    int m = todo.back();
    todo.pop_back();
    if (m == upper_major) return true;
    if (std::find(seen.begin(), seen.end(), m) != seen.end()) continue;
    seen.push_back(m);
    for (const Edge& e : edges_) {
      if (e.upper_major == m) todo.push_back(e.lower_major);
    }
  }
  return false;
}

void Domain::AddLinkEdge(int upper_major, int lower_major, int muxid) {
  std::lock_guard<std::mutex> l(links_mu_);
  edges_.push_back(Edge{upper_major, lower_major, muxid});
}

void Domain::RemoveLinkEdge(int muxid) {
  std::lock_guard<std::mutex> l(links_mu_);
  std::erase_if(edges_, [muxid](const Edge& e) { return e.muxid == muxid; });
}

// ---- the current domain ----

Domain& Domain::Default() {
  static Domain* d = [] {
    auto* dom = new Domain();  // lives as long as the process: descriptors may outlive main()
    if (auto setup = g_default_setup.load()) setup(*dom);
    return dom;
  }();
  return *d;
}

void Domain::SetDefaultSetup(void (*setup)(Domain&)) { g_default_setup.store(setup); }

Domain& Domain::Current() { return t_current != nullptr ? *t_current : Default(); }

Domain* Domain::SetCurrent(Domain* d) {
  Domain* prev = t_current;
  t_current = d;
  return prev;
}

}  // namespace ustreams
