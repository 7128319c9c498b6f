// The sad driver through the C API, per sad(4D) and the illumos driver (notes: illumos-manpages
// §3, LfS test-sad): every command, every errno, and autopush entries applied at open.
//
// Not reachable here, so not tested: ENOSTR (every driver of a registry is a STREAMS driver) and
// ENOSR (no memory).
#include "streams/drivers/sad.h"

#include <cstring>
#include <string>
#include <vector>

#include "streams/drivers/testing/driver_test.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

// Two pass-through modules for autopush lists.
int PassPut(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);
  } else {
    putnext(q, mp);
  }
  return 0;
}
module_info pass_info{0x7470, "pass", 0, INFPSZ, 0, 0};
qinit pass_init{PassPut, nullptr, nullptr, nullptr, nullptr, &pass_info, nullptr};
streamtab pass_tab{&pass_init, &pass_init, nullptr, nullptr};

class SadTest : public DriverTest {
 protected:
  void SetUp() override {
    DriverTest::SetUp();
    ASSERT_TRUE(domain().registry().RegisterModule("apmod1", &pass_tab, D_MP).ok());
    ASSERT_TRUE(domain().registry().RegisterModule("apmod2", &pass_tab, D_MP).ok());
    admin_ = Open(ADMINDEV);
    user_ = Open(USERDEV);
  }
  void TearDown() override {
    Close(admin_);
    Close(user_);
    DriverTest::TearDown();
  }
  unsigned int Major(const char* driver) {
    return static_cast<unsigned int>(domain().registry().FindDriver(driver)->major);
  }
  static strapush Sap(unsigned int cmd, unsigned int major, unsigned int minor,
                      unsigned int lastminor, const std::vector<std::string>& mods,
                      unsigned int anchor = 0) {
    strapush sap;
    std::memset(&sap, 0, sizeof(sap));
    sap.sap_cmd = cmd;
    sap.sap_major = major;
    sap.sap_minor = minor;
    sap.sap_lastminor = lastminor;
    sap.sap_npush = static_cast<unsigned int>(mods.size());
    for (size_t i = 0; i < mods.size() && i < MAXAPUSH; i++) {
      std::strncpy(sap.sap_list[i], mods[i].c_str(), FMNAMESZ);
    }
    sap.sap_anchor = anchor;
    return sap;
  }
  // SAD_SAP on the admin device: 0 or the errno.
  int Set(strapush sap) {
    errno = 0;
    return us_ioctl(admin_, SAD_SAP, &sap) == 0 ? 0 : errno;
  }
  int Clear(unsigned int major, unsigned int minor) {
    return Set(Sap(SAP_CLEAR, major, minor, 0, {}));
  }
  // I_LIST names of a stream, top first.
  static std::vector<std::string> List(int fd) {
    str_mlist names[10];
    str_list sl{10, names};
    EXPECT_EQ(us_ioctl(fd, I_LIST, &sl), 0);
    std::vector<std::string> out;
    for (int i = 0; i < sl.sl_nmods; i++) out.push_back(names[i].l_name);
    return out;
  }

  int admin_ = -1;
  int user_ = -1;
};

// ---- the devices ----

TEST_P(SadTest, AdminAndUserAreCloneDevices) {
  int admin2 = Open(ADMINDEV);
  EXPECT_NE(admin2, admin_);
  EXPECT_EQ(List(admin_), std::vector<std::string>{"sad"});
  EXPECT_EQ(List(user_), std::vector<std::string>{"sad"});
  // Clone streams are independent: one's ioctl does not disturb the other's.
  strapush sap = Sap(0, Major("echo"), 0, 0, {});
  EXPECT_ERRNO(us_ioctl(admin2, SAD_GAP, &sap), ENODEV);
  Close(admin2);
}

TEST_P(SadTest, OnlyAPrivilegedCallerOpensTheAdminDevice) {
  cred_t user{1000, 1000};
  std::shared_ptr<StreamHead> h;
  EXPECT_EQ(domain().Open(ADMINDEV, O_RDWR, &user, &h), EPERM);
  ASSERT_EQ(domain().Open(USERDEV, O_RDWR, &user, &h), 0);
  domain().Release(h, O_NONBLOCK);
}

TEST_P(SadTest, SapOnTheUserDeviceIsEperm) {
  strapush sap = Sap(SAP_ONE, Major("echo"), 1, 0, {"apmod1"});
  EXPECT_ERRNO(us_ioctl(user_, SAD_SAP, &sap), EPERM);
  // GAP and VML are for everyone.
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, &sap), ENODEV);
  str_mlist names[1] = {{"apmod1"}};
  str_list sl{1, names};
  EXPECT_EQ(us_ioctl(user_, SAD_VML, &sl), 0);
}

TEST_P(SadTest, CommandsWrappedInIStrAreEinval) {
  strapush sap = Sap(SAP_ONE, Major("echo"), 1, 0, {"apmod1"});
  for (int cmd : {SAD_SAP, SAD_GAP}) {
    strioctl sio{cmd, 0, static_cast<int>(sizeof(sap)), reinterpret_cast<char*>(&sap)};
    EXPECT_ERRNO(us_ioctl(admin_, I_STR, &sio), EINVAL);
  }
  str_mlist names[1] = {{"apmod1"}};
  str_list sl{1, names};
  strioctl vml{SAD_VML, 0, static_cast<int>(sizeof(sl)), reinterpret_cast<char*>(&sl)};
  EXPECT_ERRNO(us_ioctl(user_, I_STR, &vml), EINVAL);
  EXPECT_EQ(Set(sap), 0);  // nothing was set by the refused ones, so this is no overlap
}

TEST_P(SadTest, UnknownCommandsAndNewerVersionsAreEinval) {
  strapush sap = Sap(SAP_ONE, Major("echo"), 1, 0, {"apmod1"});
  EXPECT_ERRNO(us_ioctl(admin_, SADIOC | 04, &sap), EINVAL);
  EXPECT_ERRNO(us_ioctl(admin_, SADIOC | 2 << 4 | 01, &sap), EINVAL);  // SAD_SAP version 2
  EXPECT_ERRNO(us_ioctl(user_, SADIOC | 2 << 4 | 02, &sap), EINVAL);   // SAD_GAP version 2
}

// ---- SAD_SAP ----

TEST_P(SadTest, SapRejectsBadRequests) {
  const unsigned int echo = Major("echo");
  EXPECT_ERRNO(us_ioctl(admin_, SAD_SAP, nullptr), EFAULT);
  EXPECT_EQ(Set(Sap(5, echo, 1, 0, {"apmod1"})), EINVAL);  // no such sap_cmd
  EXPECT_EQ(Set(Sap(SAP_ONE, echo, 1, 0, {})), EINVAL);    // sap_npush 0
  std::vector<std::string> nine(MAXAPUSH + 1, "apmod1");
  strapush too_many = Sap(SAP_ONE, echo, 1, 0, nine);
  too_many.sap_npush = MAXAPUSH + 1;
  EXPECT_EQ(Set(too_many), EINVAL);
  EXPECT_EQ(Set(Sap(SAP_ONE, echo, 1, 0, {"apmod1", "nomodule"})), EINVAL);
  EXPECT_EQ(Set(Sap(SAP_ONE, echo, 1, 0, {""})), EINVAL);
  EXPECT_EQ(Set(Sap(SAP_ONE, echo, 1, 0, {"echo"})), EINVAL);  // a driver is no module
  EXPECT_EQ(Set(Sap(SAP_ONE, 0, 1, 0, {"apmod1"})), EINVAL);     // major 0: no driver
  EXPECT_EQ(Set(Sap(SAP_ONE, 999, 1, 0, {"apmod1"})), EINVAL);
  EXPECT_EQ(Set(Sap(SAP_ONE, echo, 0x80000000u, 0, {"apmod1"})), EINVAL);  // no such minor
  EXPECT_EQ(Set(Sap(SAP_ONE, echo, 1, 0, {"apmod1", "apmod2"}, 3)), EINVAL);  // anchor > npush
  EXPECT_EQ(Set(Sap(SAP_RANGE, echo, 5, 5, {"apmod1"})), ERANGE);
  EXPECT_EQ(Set(Sap(SAP_RANGE, echo, 5, 4, {"apmod1"})), ERANGE);
  // None of those left an entry behind.
  strapush get = Sap(0, echo, 1, 0, {});
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, &get), ENODEV);
}

TEST_P(SadTest, OverlappingEntriesAreEexist) {
  const unsigned int echo = Major("echo");
  ASSERT_EQ(Set(Sap(SAP_RANGE, echo, 10, 20, {"apmod1"})), 0);
  EXPECT_EQ(Set(Sap(SAP_ONE, echo, 15, 0, {"apmod2"})), EEXIST);
  EXPECT_EQ(Set(Sap(SAP_RANGE, echo, 20, 30, {"apmod2"})), EEXIST);
  EXPECT_EQ(Set(Sap(SAP_ALL, echo, 0, 0, {"apmod2"})), EEXIST);
  EXPECT_EQ(Set(Sap(SAP_RANGE, echo, 21, 30, {"apmod2"})), 0);  // adjacent is fine
  EXPECT_EQ(Set(Sap(SAP_ALL, Major("nuls"), 0, 0, {"apmod2"})), 0);  // another major is fine
  EXPECT_EQ(Set(Sap(SAP_ONE, Major("nuls"), 3, 0, {"apmod1"})), EEXIST);
}

TEST_P(SadTest, ClearFollowsTheShapeOfTheEntry) {
  const unsigned int echo = Major("echo"), nuls = Major("nuls");
  EXPECT_EQ(Clear(echo, 1), ENODEV);  // nothing configured
  EXPECT_EQ(Clear(0, 1), EINVAL);     // no such major
  ASSERT_EQ(Set(Sap(SAP_RANGE, echo, 10, 20, {"apmod1"})), 0);
  EXPECT_EQ(Clear(echo, 11), ERANGE);  // not the start of the range
  EXPECT_EQ(Clear(echo, 10), 0);
  EXPECT_EQ(Clear(echo, 10), ENODEV);
  ASSERT_EQ(Set(Sap(SAP_ALL, nuls, 0, 0, {"apmod1"})), 0);
  EXPECT_EQ(Clear(nuls, 7), EINVAL);  // an SAP_ALL entry is cleared through minor 0
  EXPECT_EQ(Clear(nuls, 0), 0);
  ASSERT_EQ(Set(Sap(SAP_ONE, echo, 4, 0, {"apmod1"})), 0);
  EXPECT_EQ(Clear(echo, 4), 0);
  strapush get = Sap(0, echo, 4, 0, {});
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, &get), ENODEV);
}

// ---- SAD_GAP ----

TEST_P(SadTest, GapReturnsTheWholeEntryWithUnusedNamesZeroed) {
  const unsigned int echo = Major("echo");
  ASSERT_EQ(Set(Sap(SAP_RANGE, echo, 10, 20, {"apmod1", "apmod2", "apmod1"}, 2)), 0);
  strapush get;
  std::memset(&get, 0xff, sizeof(get));
  get.sap_major = echo;
  get.sap_minor = 15;
  ASSERT_EQ(us_ioctl(user_, SAD_GAP, &get), 0) << strerror(errno);
  EXPECT_EQ(get.sap_cmd, static_cast<unsigned int>(SAP_RANGE));
  EXPECT_EQ(get.sap_major, echo);
  EXPECT_EQ(get.sap_minor, 10u);
  EXPECT_EQ(get.sap_lastminor, 20u);
  EXPECT_EQ(get.sap_npush, 3u);
  EXPECT_STREQ(get.sap_list[0], "apmod1");
  EXPECT_STREQ(get.sap_list[1], "apmod2");
  EXPECT_STREQ(get.sap_list[2], "apmod1");
  for (int i = 3; i < MAXAPUSH; i++) {
    EXPECT_EQ(std::string(get.sap_list[i], FMNAMESZ + 1), std::string(FMNAMESZ + 1, '\0'));
  }
  EXPECT_EQ(get.sap_anchor, 2u);
}

TEST_P(SadTest, GapErrors) {
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, nullptr), EFAULT);
  strapush get = Sap(0, 0, 0, 0, {});
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, &get), EINVAL);  // major 0
  get.sap_major = 4242;
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, &get), EINVAL);
  get.sap_major = Major("echo");
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, &get), ENODEV);
  get.sap_minor = 0xffffffffu;
  EXPECT_ERRNO(us_ioctl(user_, SAD_GAP, &get), EINVAL);
}

// ---- version 0: the SVR4 layout without sap_anchor ----

struct StrapushV0 {
  apcommon sap_common;
  char sap_list[MAXAPUSH][FMNAMESZ + 1];
};
static_assert(sizeof(StrapushV0) == STRAPUSH_V0_LEN);

TEST_P(SadTest, VersionZeroCommandsUseTheShorterStructure) {
  constexpr int kSapV0 = SADIOC | 01, kGapV0 = SADIOC | 02;
  struct {
    StrapushV0 sap;
    unsigned int canary;
  } buf;
  std::memset(&buf, 0, sizeof(buf));
  buf.sap.sap_common = apcommon{SAP_ONE, Major("echo"), 7, 0, 1};
  std::strcpy(buf.sap.sap_list[0], "apmod2");
  buf.canary = 99;  // read as sap_anchor by a version-1 driver: must be ignored
  ASSERT_EQ(us_ioctl(admin_, kSapV0, &buf.sap), 0) << strerror(errno);
  std::memset(&buf, 0xee, sizeof(buf));
  buf.sap.sap_common.apc_major = Major("echo");
  buf.sap.sap_common.apc_minor = 7;
  ASSERT_EQ(us_ioctl(user_, kGapV0, &buf.sap), 0) << strerror(errno);
  EXPECT_EQ(buf.sap.sap_common.apc_npush, 1u);
  EXPECT_STREQ(buf.sap.sap_list[0], "apmod2");
  EXPECT_EQ(buf.canary, 0xeeeeeeeeu);  // nothing written past the version-0 structure
  // Set through version 0, the entry has no anchor.
  strapush v1 = Sap(0, Major("echo"), 7, 0, {});
  v1.sap_anchor = 5;
  ASSERT_EQ(us_ioctl(user_, SAD_GAP, &v1), 0);
  EXPECT_EQ(v1.sap_anchor, 0u);
}

// ---- SAD_VML ----

TEST_P(SadTest, VmlReturnsZeroWhenEveryNameIsAModuleAndOneOtherwise) {
  str_mlist good[2] = {{"apmod1"}, {"apmod2"}};
  str_list sl{2, good};
  EXPECT_EQ(us_ioctl(user_, SAD_VML, &sl), 0);
  str_mlist bad[3] = {{"apmod1"}, {"nosuch"}, {"apmod2"}};
  sl = str_list{3, bad};
  EXPECT_EQ(us_ioctl(user_, SAD_VML, &sl), 1);
  str_mlist driver[1] = {{"echo"}};
  sl = str_list{1, driver};
  EXPECT_EQ(us_ioctl(admin_, SAD_VML, &sl), 1);  // drivers are not modules
  // Only sl_nmods names are looked at.
  sl = str_list{1, bad};
  EXPECT_EQ(us_ioctl(user_, SAD_VML, &sl), 0);
}

TEST_P(SadTest, VmlErrors) {
  EXPECT_ERRNO(us_ioctl(user_, SAD_VML, nullptr), EFAULT);
  str_mlist names[1] = {{"apmod1"}};
  str_list sl{0, names};
  EXPECT_ERRNO(us_ioctl(user_, SAD_VML, &sl), EINVAL);
  sl.sl_nmods = -1;
  EXPECT_ERRNO(us_ioctl(user_, SAD_VML, &sl), EINVAL);
  sl = str_list{1, nullptr};
  EXPECT_ERRNO(us_ioctl(user_, SAD_VML, &sl), EFAULT);
  // A failed copy leaves the driver ready for the next ioctl.
  sl = str_list{1, names};
  EXPECT_EQ(us_ioctl(user_, SAD_VML, &sl), 0);
}

// ---- autopush at open ----

TEST_P(SadTest, EntriesArePushedWhenTheDeviceIsOpened) {
  const unsigned int echo = Major("echo"), nuls = Major("nuls");
  ASSERT_EQ(Set(Sap(SAP_ONE, echo, 5, 0, {"apmod1", "apmod2"})), 0);
  ASSERT_EQ(Set(Sap(SAP_RANGE, echo, 10, 12, {"apmod2"})), 0);
  ASSERT_EQ(Set(Sap(SAP_ALL, nuls, 0, 0, {"apmod1"})), 0);

  int five = Open("/dev/echo/5");
  // Pushed in list order, so the first one sits lowest.
  EXPECT_EQ(List(five), (std::vector<std::string>{"apmod2", "apmod1", "echo"}));
  char top[FMNAMESZ + 1];
  EXPECT_EQ(us_ioctl(five, I_LOOK, top), 0);
  EXPECT_STREQ(top, "apmod2");
  WriteAll(five, "through two modules");
  Settle();
  EXPECT_EQ(ReadSome(five), "through two modules");

  int six = Open("/dev/echo/6");
  EXPECT_EQ(List(six), std::vector<std::string>{"echo"});
  int eleven = Open("/dev/echo/11");
  EXPECT_EQ(List(eleven), (std::vector<std::string>{"apmod2", "echo"}));
  int any = Open("/dev/nuls");
  EXPECT_EQ(List(any), (std::vector<std::string>{"apmod1", "nuls"}));
  for (int fd : {five, six, eleven, any}) Close(fd);

  // Cleared entries no longer push; streams already open keep what they have.
  EXPECT_EQ(Clear(echo, 5), 0);
  five = Open("/dev/echo/5");
  EXPECT_EQ(List(five), std::vector<std::string>{"echo"});
  Close(five);
}

TEST_P(SadTest, AnchorIsPlacedAfterThatManyModules) {
  ASSERT_EQ(Set(Sap(SAP_ONE, Major("echo"), 3, 0, {"apmod1", "apmod2"}, 1)), 0);
  int fd = Open("/dev/echo/3");
  EXPECT_EQ(List(fd), (std::vector<std::string>{"apmod2", "apmod1", "echo"}));
  // Popping above the anchor is for everyone; through it only for the privileged (root here).
  EXPECT_EQ(us_ioctl(fd, I_POP, 0), 0);
  Close(fd);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, SadTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

}  // namespace
}  // namespace ustreams::testing
