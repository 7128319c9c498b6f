// The I_* ioctls of streamio(4I) through the C API, each with its errors: plumbing (I_PUSH,
// I_POP, I_LOOK, I_FIND, I_LIST, I_ANCHOR), options (I_SRDOPT, I_SWROPT, I_SERROPT,
// I_SETCLTIME), I_STR, queue inspection (I_NREAD, I_PEEK, I_CKBAND, I_GETBAND, I_ATMARK,
// I_CANPUT), flushing, I_FDINSERT, and descriptors that are not streams.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "streams/api_test_util.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

class IoctlTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_EQ(us_pipe(fd_), 0);
  }
  void TearDown() override {
    us_close(fd_[0]);
    us_close(fd_[1]);
    ApiTest::TearDown();
  }
  std::vector<std::string> List(int fd) {
    str_mlist names[16];
    str_list sl{16, names};
    EXPECT_EQ(us_ioctl(fd, I_LIST, &sl), 0);
    std::vector<std::string> out;
    for (int i = 0; i < sl.sl_nmods; i++) out.emplace_back(names[i].l_name);
    return out;
  }
  int fd_[2];
};

TEST_F(IoctlTest, PushPopLookFindList) {
  int fd = fd_[0];
  char name[FMNAMESZ + 1];
  EXPECT_ERRNO(us_ioctl(fd, I_LOOK, name), EINVAL);  // nothing pushed
  EXPECT_ERRNO(us_ioctl(fd, I_POP, 0), EINVAL);
  EXPECT_EQ(us_ioctl(fd, I_LIST, nullptr), 0);  // a pipe end: modules only, no driver
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "ctlmod"), 0);
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "replymod"), 0);
  ASSERT_EQ(us_ioctl(fd, I_LOOK, name), 0);
  EXPECT_STREQ(name, "replymod");
  EXPECT_EQ(us_ioctl(fd, I_FIND, "ctlmod"), 1);
  EXPECT_EQ(us_ioctl(fd_[1], I_FIND, "ctlmod"), 0);  // the other end has none
  EXPECT_ERRNO(us_ioctl(fd, I_FIND, "nosuch"), EINVAL);
  EXPECT_EQ(us_ioctl(fd, I_LIST, nullptr), 2);
  EXPECT_EQ(List(fd), (std::vector<std::string>{"replymod", "ctlmod"}));
  str_mlist one[1];
  str_list sl{1, one};
  EXPECT_EQ(us_ioctl(fd, I_LIST, &sl), 0);
  EXPECT_EQ(sl.sl_nmods, 1);
  sl.sl_nmods = 0;
  EXPECT_ERRNO(us_ioctl(fd, I_LIST, &sl), EINVAL);
  ASSERT_EQ(us_ioctl(fd, I_POP, 0), 0);
  ASSERT_EQ(us_ioctl(fd, I_LOOK, name), 0);
  EXPECT_STREQ(name, "ctlmod");
}

TEST_F(IoctlTest, PushErrors) {
  EXPECT_ERRNO(us_ioctl(fd_[0], I_PUSH, "nosuch"), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_PUSH, "muchtoolongname"), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_PUSH, nullptr), EFAULT);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_LOOK, nullptr), EINVAL);  // no module: EINVAL first
  for (int i = 0; i < kNStrPush; i++) ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0) << i;
  EXPECT_ERRNO(us_ioctl(fd_[0], I_PUSH, "ctlmod"), EINVAL);  // the push limit
  EXPECT_EQ(us_ioctl(fd_[0], I_LIST, nullptr), kNStrPush);
  // Data still flows through nine modules.
  WriteAll(fd_[0], "deep");
  EXPECT_EQ(ReadSome(fd_[1]), "deep");
}

TEST_F(IoctlTest, AnchorIsRefusedOnPipes) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_ANCHOR, 0), EINVAL);
}

TEST_F(IoctlTest, ReadWriteAndErrorOptions) {
  int fd = fd_[0];
  EXPECT_ERRNO(us_ioctl(fd, I_SRDOPT, RMSGD | RMSGN), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd, I_SRDOPT, RFLUSHPCPROT), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd, I_SRDOPT, 0x100), EINVAL);
  EXPECT_EQ(us_ioctl(fd, I_SRDOPT, RMSGN), 0);  // mode only: protocol option unchanged
  int v = -1;
  EXPECT_EQ(us_ioctl(fd, I_GRDOPT, &v), 0);
  EXPECT_EQ(v, RMSGN | RPROTNORM);
  EXPECT_ERRNO(us_ioctl(fd, I_GRDOPT, nullptr), EFAULT);
  EXPECT_EQ(us_ioctl(fd, I_GWROPT, &v), 0);
  EXPECT_EQ(v, SNDPIPE);  // pipes raise SIGPIPE from birth
  EXPECT_ERRNO(us_ioctl(fd, I_SWROPT, 0x10), EINVAL);
  EXPECT_EQ(us_ioctl(fd, I_SWROPT, SNDZERO), 0);
  EXPECT_EQ(us_ioctl(fd, I_GWROPT, &v), 0);
  EXPECT_EQ(v, SNDZERO);
  EXPECT_EQ(us_ioctl(fd, I_GERROPT, &v), 0);
  EXPECT_EQ(v, RERRNORM | WERRNORM);
  EXPECT_ERRNO(us_ioctl(fd, I_SERROPT, 0x10), EINVAL);
  EXPECT_EQ(us_ioctl(fd, I_SERROPT, WERRNONPERSIST), 0);  // read side unchanged
  EXPECT_EQ(us_ioctl(fd, I_GERROPT, &v), 0);
  EXPECT_EQ(v, RERRNORM | WERRNONPERSIST);
  EXPECT_EQ(us_ioctl(fd, I_GETCLTIME, &v), 0);
  EXPECT_EQ(v, 15000);
  v = -1;
  EXPECT_ERRNO(us_ioctl(fd, I_SETCLTIME, &v), EINVAL);
  v = 10;
  EXPECT_EQ(us_ioctl(fd, I_SETCLTIME, &v), 0);
  EXPECT_EQ(us_ioctl(fd, I_GETCLTIME, &v), 0);
  EXPECT_EQ(v, 10);
}

TEST_F(IoctlTest, StrCarriesDataBothWays) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  char buf[32] = "round trip";
  strioctl sio{CTL_ECHO, 0, 10, buf};
  EXPECT_EQ(us_ioctl(fd_[0], I_STR, &sio), 10);  // rval
  EXPECT_EQ(sio.ic_len, 10);
  EXPECT_EQ(std::string(buf, 10), "round trip");
}

TEST_F(IoctlTest, StrErrors) {
  strioctl sio{12345, 0, -1, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, &sio), EINVAL);  // negative length
  sio = strioctl{12345, -2, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, &sio), EINVAL);  // timeout below -1
  sio = strioctl{I_LINK, 0, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, &sio), EINVAL);  // only the head sends these
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, nullptr), EFAULT);
  sio = strioctl{12345, 0, kStrMsgSz + 1, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, &sio), EINVAL);
  // Nobody knows it: the far head NAKs it, EINVAL.
  sio = strioctl{12345, 0, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, &sio), EINVAL);
}

TEST_F(IoctlTest, StrTimesOutWithEtimeAndTheStreamStaysUsable) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  strioctl sio{CTL_IGNORE, 1, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, &sio), ETIME);
  char buf[4] = "abc";
  sio = strioctl{CTL_ECHO, 0, 3, buf};
  EXPECT_EQ(us_ioctl(fd_[0], I_STR, &sio), 3);
}

TEST_F(IoctlTest, NreadPeekAndBands) {
  int fd = fd_[0];
  int n = -1;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 0);
  EXPECT_EQ(n, 0);
  EXPECT_ERRNO(us_ioctl(fd, I_GETBAND, &n), ENODATA);
  char cb[16], db[16];
  strbuf c{0, 3, const_cast<char*>("ctl")}, d{0, 5, const_cast<char*>("data1")};
  ASSERT_EQ(us_putpmsg(fd_[1], &c, &d, 2, MSG_BAND), 0);
  ASSERT_EQ(us_write(fd_[1], "xy", 2), 2);
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 2);
  EXPECT_EQ(n, 5);  // data bytes of the first message (band 2 comes first)
  EXPECT_EQ(us_ioctl(fd, I_GETBAND, &n), 0);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(us_ioctl(fd, I_CKBAND, 2), 1);
  EXPECT_EQ(us_ioctl(fd, I_CKBAND, 1), 0);
  EXPECT_EQ(us_ioctl(fd, I_CKBAND, 0), 1);
  EXPECT_ERRNO(us_ioctl(fd, I_CKBAND, 256), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd, I_CKBAND, -1), EINVAL);
  strpeek pk{{16, 0, cb}, {16, 0, db}, 0};
  EXPECT_EQ(us_ioctl(fd, I_PEEK, &pk), 1);
  EXPECT_EQ(std::string(cb, static_cast<size_t>(pk.ctlbuf.len)), "ctl");
  EXPECT_EQ(std::string(db, static_cast<size_t>(pk.databuf.len)), "data1");
  EXPECT_EQ(pk.flags, 0u);
  pk.flags = RS_HIPRI;  // only a high-priority message would do
  EXPECT_EQ(us_ioctl(fd, I_PEEK, &pk), 0);
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 2);  // peeking took nothing
  EXPECT_ERRNO(us_ioctl(fd, I_PEEK, nullptr), EFAULT);
}

TEST_F(IoctlTest, CanputAndAtmark) {
  EXPECT_EQ(us_ioctl(fd_[0], I_CANPUT, 0), 1);
  EXPECT_EQ(us_ioctl(fd_[0], I_CANPUT, 3), 1);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_CANPUT, 256), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_CANPUT, -1), EINVAL);
  EXPECT_EQ(us_ioctl(fd_[0], I_ATMARK, ANYMARK), 0);
  EXPECT_EQ(us_ioctl(fd_[0], I_ATMARK, 0), 0);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_ATMARK, 4), EINVAL);
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  SendUp(fd_[0], M_DATA, "marked", 0, MSGMARK);
  SendUp(fd_[0], M_DATA, "plain");
  EXPECT_EQ(us_ioctl(fd_[0], I_ATMARK, ANYMARK), 1);
  EXPECT_EQ(us_ioctl(fd_[0], I_ATMARK, LASTMARK), 1);
  EXPECT_EQ(ReadSome(fd_[0]), "marked");  // a read stops at a marked message
  EXPECT_EQ(us_ioctl(fd_[0], I_ATMARK, ANYMARK), 0);
}

TEST_F(IoctlTest, FlushEmptiesBothEnds) {
  WriteAll(fd_[1], "to zero");
  WriteAll(fd_[0], "to one");
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FLUSH, FLUSHBAND), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FLUSH, 8), EINVAL);
  EXPECT_EQ(us_ioctl(fd_[0], I_FLUSH, 0), 0);  // accepted, flushes nothing
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_[0], I_NREAD, &n), 1);
  // FLUSHR flushes this end's read queue (it comes back around the pipe).
  EXPECT_EQ(us_ioctl(fd_[0], I_FLUSH, FLUSHR), 0);
  EXPECT_EQ(us_ioctl(fd_[0], I_NREAD, &n), 0);
  EXPECT_EQ(us_ioctl(fd_[1], I_NREAD, &n), 1);
  // FLUSHW from this end reaches the other end's read side.
  EXPECT_EQ(us_ioctl(fd_[0], I_FLUSH, FLUSHW), 0);
  EXPECT_EQ(us_ioctl(fd_[1], I_NREAD, &n), 0);
}

TEST_F(IoctlTest, FlushBandTouchesOnlyThatBand) {
  strbuf d1{0, 2, const_cast<char*>("b1")}, d2{0, 2, const_cast<char*>("b2")};
  ASSERT_EQ(us_putpmsg(fd_[1], nullptr, &d1, 1, MSG_BAND), 0);
  ASSERT_EQ(us_putpmsg(fd_[1], nullptr, &d2, 2, MSG_BAND), 0);
  bandinfo bi{2, FLUSHR};
  EXPECT_EQ(us_ioctl(fd_[0], I_FLUSHBAND, &bi), 0);
  EXPECT_EQ(ReadSome(fd_[0]), "b1");
  bi.bi_flag = 0x10;
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FLUSHBAND, &bi), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FLUSHBAND, nullptr), EFAULT);
}

TEST_F(IoctlTest, SetsigAndGetsig) {
  int ev = -1;
  EXPECT_ERRNO(us_ioctl(fd_[0], I_GETSIG, &ev), EINVAL);  // not registered
  EXPECT_ERRNO(us_ioctl(fd_[0], I_SETSIG, 0), EINVAL);    // nothing to remove
  EXPECT_ERRNO(us_ioctl(fd_[0], I_SETSIG, S_BANDURG), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_SETSIG, 0x10000), EINVAL);
  ASSERT_EQ(us_ioctl(fd_[0], I_SETSIG, S_INPUT | S_HIPRI), 0);
  EXPECT_EQ(us_ioctl(fd_[0], I_GETSIG, &ev), 0);
  EXPECT_EQ(ev, S_INPUT | S_HIPRI);
  ASSERT_EQ(us_ioctl(fd_[0], I_SETSIG, 0), 0);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_GETSIG, &ev), EINVAL);
}

TEST_F(IoctlTest, FdinsertSendsTheTargetsIdentity) {
  ASSERT_EQ(us_ioctl(fd_[1], I_SRDOPT, RNORM | RPROTDAT), 0);
  char ctl[8] = {};
  strfdinsert fi{{0, 8, ctl}, {0, 4, const_cast<char*>("data")}, 0, fd_[1], 4};
  EXPECT_EQ(us_ioctl(fd_[0], I_FDINSERT, &fi), 0);
  char cb[16], db[16];
  strbuf c{16, 0, cb}, d{16, 0, db};
  int flags = 0;
  ASSERT_EQ(us_getmsg(fd_[1], &c, &d, &flags), 0);
  EXPECT_EQ(c.len, 8);
  EXPECT_EQ(std::string(db, 4), "data");
  fi.offset = 3;  // not aligned
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FDINSERT, &fi), EINVAL);
  fi.offset = 8;  // past the control part
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FDINSERT, &fi), EINVAL);
  fi.offset = 0;
  fi.fildes = -1;
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FDINSERT, &fi), EINVAL);
  fi.fildes = fd_[1];
  fi.flags = 2;
  EXPECT_ERRNO(us_ioctl(fd_[0], I_FDINSERT, &fi), EINVAL);
}

TEST_F(IoctlTest, SendfdNeedsAPipeAndAValidDescriptor) {
  EXPECT_ERRNO(us_ioctl(fd_[0], I_SENDFD, -1), EBADF);
  // A plain descriptor travels too.
  int k[2];
  ASSERT_EQ(pipe(k), 0);
  ASSERT_EQ(us_ioctl(fd_[0], I_SENDFD, k[1]), 0);
  strrecvfd rf{};
  ASSERT_EQ(us_ioctl(fd_[1], I_RECVFD, &rf), 0);
  EXPECT_EQ(us_isastream(rf.fd), 0);
  EXPECT_EQ(write(rf.fd, "k", 1), 1);  // the same kernel pipe
  char c;
  EXPECT_EQ(read(k[0], &c, 1), 1);
  close(rf.fd);
  close(k[0]);
  close(k[1]);
  SetNonBlocking(fd_[1], true);
  EXPECT_ERRNO(us_ioctl(fd_[1], I_RECVFD, &rf), EAGAIN);
  WriteAll(fd_[0], "not a descriptor");
  EXPECT_ERRNO(us_ioctl(fd_[1], I_RECVFD, &rf), EBADMSG);
}

TEST_F(IoctlTest, DescriptorsThatAreNotStreams) {
  int k[2];
  ASSERT_EQ(pipe(k), 0);
  EXPECT_EQ(us_isastream(k[0]), 0);
  EXPECT_ERRNO(us_ioctl(k[0], I_PUSH, "ctlmod"), ENOTTY);
  EXPECT_ERRNO(us_ioctl(k[0], I_NREAD, nullptr), ENOTTY);
  close(k[0]);
  close(k[1]);
  EXPECT_ERRNO(us_isastream(k[0]), EBADF);
  EXPECT_ERRNO(us_ioctl(k[0], I_PUSH, "ctlmod"), EBADF);
  EXPECT_ERRNO(us_close(k[0]), EBADF);
}

// FIONREAD, FIORDCHK, FIONBIO and FIOASYNC are answered by the head (illumos strioctl), not
// sent down: the bytes of data queued, and the open file's non-blocking flag.
TEST_F(IoctlTest, FileIoctlsAreAnsweredByTheHead) {
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_[0], FIONREAD, &n), 0);
  EXPECT_EQ(n, 0);
  WriteAll(fd_[1], "abc");
  WriteAll(fd_[1], "defgh");
  strbuf ctl{0, 4, const_cast<char*>("ctrl")}, data{0, 2, const_cast<char*>("xy")};
  ASSERT_EQ(us_putmsg(fd_[1], &ctl, &data, 0), 0);
  EXPECT_EQ(us_ioctl(fd_[0], FIONREAD, &n), 0);
  EXPECT_EQ(n, 10);  // the data of every message, control parts not counted
  EXPECT_EQ(us_ioctl(fd_[0], FIORDCHK, 0), 10);
  EXPECT_ERRNO(us_ioctl(fd_[0], FIONREAD, nullptr), EFAULT);

  int on = 1;
  ASSERT_EQ(us_ioctl(fd_[0], FIONBIO, &on), 0);
  EXPECT_NE(us_fcntl(fd_[0], F_GETFL) & O_NONBLOCK, 0);
  char b[16];
  ASSERT_EQ(us_ioctl(fd_[0], I_FLUSH, FLUSHR), 0);
  EXPECT_ERRNO(us_read(fd_[0], b, sizeof(b)), EAGAIN);
  on = 0;
  ASSERT_EQ(us_ioctl(fd_[0], FIONBIO, &on), 0);
  EXPECT_EQ(us_fcntl(fd_[0], F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(us_ioctl(fd_[0], FIOASYNC, &on), 0);
}

// Their error pre-check is the read side's: a write error does not stop them, a read error does.
TEST_F(IoctlTest, FileIoctlsLookAtTheReadErrorOnly) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  SendUp(fd_[0], M_ERROR, std::string{static_cast<char>(NOERROR), static_cast<char>(EIO)});
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_[0], FIONREAD, &n), 0);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_SWROPT, 0), EIO);  // an ordinary command sees it
  ASSERT_EQ(us_ioctl(fd_[1], I_PUSH, "ctlmod"), 0);  // the other end: a read error only
  SendUp(fd_[1], M_ERROR, std::string{static_cast<char>(EPROTO), static_cast<char>(NOERROR)});
  EXPECT_ERRNO(us_ioctl(fd_[1], FIONREAD, &n), EPROTO);
  EXPECT_ERRNO(us_ioctl(fd_[1], FIONBIO, &n), EPROTO);
}

// I_PEEK: a maxlen of 0 gives a length of 0 even for a part the message lacks; -1 asks for
// nothing and gives -1 (illumos strioctl), and the result says whether a part was returned.
TEST_F(IoctlTest, PeekWithMaxlenZeroGivesLengthZero) {
  WriteAll(fd_[1], "data");
  char cb[8], db[8];
  strpeek pk{{0, 99, cb}, {-1, 99, db}, 0};
  EXPECT_EQ(us_ioctl(fd_[0], I_PEEK, &pk), 1);
  EXPECT_EQ(pk.ctlbuf.len, 0);
  EXPECT_EQ(pk.databuf.len, -1);
  strpeek both{{0, 99, cb}, {0, 99, db}, 0};
  EXPECT_EQ(us_ioctl(fd_[0], I_PEEK, &both), 1);
  EXPECT_EQ(both.ctlbuf.len, 0);
  EXPECT_EQ(both.databuf.len, 0);
  strpeek absent{{8, 99, cb}, {-1, 99, db}, 0};  // no control part: -1, nothing returned
  EXPECT_EQ(us_ioctl(fd_[0], I_PEEK, &absent), 0);
  EXPECT_EQ(absent.ctlbuf.len, -1);
}

// I_ESETSIG with no events removes a registration; the process it names must exist (ESRCH),
// which is checked before whether it is registered (EINVAL).
TEST_F(IoctlTest, EsetsigRemovalOfAProcessThatDoesNotExistIsEsrch) {
  pid_t gone = fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) _exit(0);
  ASSERT_EQ(waitpid(gone, nullptr, 0), gone);
  strsigset ss{gone, 0};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_ESETSIG, &ss), ESRCH);
  strsigset mine{getpid(), 0};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_ESETSIG, &mine), EINVAL);  // exists, not registered
}

// (void*)-1 as an ioctl's argument, or inside the structure it points to: EFAULT, never a
// crash, for every I_* command that takes a pointer.
TEST_F(IoctlTest, InvalidAddressArgumentsAreEfault) {
  const intptr_t bad = -1;
  char* badbuf = reinterpret_cast<char*>(-1);
  for (int cmd : {I_NREAD, I_PUSH, I_FLUSHBAND, I_STR, I_FIND, I_PEEK,
                  I_FDINSERT, I_GRDOPT, I_GWROPT, I_LIST, I_GETBAND, I_SETCLTIME, I_GETCLTIME,
                  I_GERROPT, I_RECVFD, I_ESETSIG, I_EGETSIG, FIONREAD, FIONBIO}) {
    SCOPED_TRACE(cmd);
    if (cmd == I_RECVFD) {
      ASSERT_EQ(us_ioctl(fd_[1], I_SENDFD, fd_[1]), 0);  // something to receive
    }
    if (cmd == I_GETBAND) WriteAll(fd_[1], "x");
    EXPECT_ERRNO(us_ioctl(fd_[0], cmd, bad), EFAULT);
    ASSERT_EQ(us_ioctl(fd_[0], I_FLUSH, FLUSHRW), 0);
  }
  // I_LOOK and I_GETSIG answer EINVAL before they copy out when there is nothing to give (no
  // module, no registration); with something to give, the copy faults.
  EXPECT_ERRNO(us_ioctl(fd_[0], I_LOOK, bad), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_GETSIG, bad), EINVAL);
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  ASSERT_EQ(us_ioctl(fd_[0], I_SETSIG, S_HIPRI), 0);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_LOOK, bad), EFAULT);
  EXPECT_ERRNO(us_ioctl(fd_[0], I_GETSIG, bad), EFAULT);
  ASSERT_EQ(us_ioctl(fd_[0], I_SETSIG, 0), 0);
  // Pointers inside the structures.
  strioctl sio{CTL_ECHO, 0, 8, badbuf};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_STR, &sio), EFAULT);
  str_list sl{2, reinterpret_cast<str_mlist*>(-1)};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_LIST, &sl), EFAULT);
  EXPECT_GT(us_ioctl(fd_[0], I_LIST, nullptr), 0);  // a null argument asks for the count
  WriteAll(fd_[1], "data");
  strpeek pk{{-1, 0, nullptr}, {8, 0, badbuf}, 0};
  EXPECT_ERRNO(us_ioctl(fd_[0], I_PEEK, &pk), EFAULT);
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_[0], I_NREAD, &n), 1);  // the peeked message is still there
}

}  // namespace
}  // namespace ustreams::testing
