// DLPI conversations with the loop driver through the C API (us_open, putmsg, getmsg, I_STR):
// every primitive it answers and every error it gives, in both scheduler modes.
#include <cstdint>
#include <string>

#include "drivers/loop/loop_test_util.h"
#include "drivers/loop/prng.h"

namespace ustreams::loop_testing {
namespace {

using DlpiTest = LoopTest;

dl_bind_req_t BindReq(t_uscalar_t sap, uint16_t mode = DL_CLDLS) {
  dl_bind_req_t r{};
  r.dl_primitive = DL_BIND_REQ;
  r.dl_sap = sap;
  r.dl_service_mode = mode;
  return r;
}

dl_info_ack_t Info(World& w, int fd, Msg* out = nullptr) {
  Msg m = w.Request(fd, dl_info_req_t{DL_INFO_REQ}, RS_HIPRI);
  EXPECT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_INFO_ACK));
  EXPECT_EQ(m.flags, RS_HIPRI);
  if (out != nullptr) *out = m;
  return m.As<dl_info_ack_t>();
}

// I_STR: 0 or the errno; *reply gets what came back.
int Ioctl(int fd, int cmd, const std::string& in, std::string* reply = nullptr) {
  std::string buf = in;
  buf.resize(256);
  strioctl sio{cmd, 0, static_cast<int>(in.size()), buf.data()};
  if (us_ioctl(fd, I_STR, &sio) < 0) return errno;
  if (reply != nullptr) reply->assign(buf.data(), static_cast<size_t>(sio.ic_len));
  return 0;
}

std::string UnitdataReqTo(const MacAddr& dst, uint16_t sap) {
  dl_unitdata_req_t r{};
  r.dl_primitive = DL_UNITDATA_REQ;
  r.dl_dest_addr_length = 8;
  r.dl_dest_addr_offset = sizeof(r);
  return Bytes(r) + Dlsap(dst, sap);
}

TEST_P(DlpiTest, InfoBeforeAttachDescribesAnEthernetStyle2Provider) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  Msg m;
  dl_info_ack_t a = Info(w, fd, &m);
  EXPECT_EQ(a.dl_max_sdu, 1500u);
  EXPECT_EQ(a.dl_min_sdu, 0u);
  EXPECT_EQ(a.dl_addr_length, 8u);
  EXPECT_EQ(a.dl_mac_type, static_cast<t_uscalar_t>(DL_ETHER));
  EXPECT_EQ(a.dl_current_state, static_cast<t_uscalar_t>(DL_UNATTACHED));
  EXPECT_EQ(a.dl_sap_length, -2);
  EXPECT_EQ(a.dl_service_mode, static_cast<t_uscalar_t>(DL_CLDLS));
  EXPECT_EQ(a.dl_provider_style, static_cast<t_uscalar_t>(DL_STYLE2));
  EXPECT_EQ(a.dl_version, static_cast<t_uscalar_t>(DL_VERSION_2));
  EXPECT_EQ(a.dl_addr_offset, 0u);  // no DLSAP address before a bind
  EXPECT_EQ(a.dl_qos_length, 0u);
  EXPECT_EQ(a.dl_brdcst_addr_length, 6u);
  EXPECT_EQ(m.At(a.dl_brdcst_addr_offset, 6), std::string(6, '\xff'));
}

TEST_P(DlpiTest, AttachBindUnbindDetach) {
  World& w = MakeWorld(1, {.seed = 1, .id = 0x1234});
  auto [a, b] = w.net().AddWire();
  int fd = w.Open(0);
  w.Attach(fd, b);
  EXPECT_EQ(Info(w, fd).dl_current_state, static_cast<t_uscalar_t>(DL_UNBOUND));
  const MacAddr mac = w.net().Mac(b);
  EXPECT_EQ(mac.ToString(), "02:00:12:34:00:01");  // from the network id and the port
  EXPECT_NE(w.net().Mac(a), mac);

  Msg m = w.Request(fd, BindReq(0x0800));
  ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_BIND_ACK));
  EXPECT_EQ(m.flags, RS_HIPRI);
  auto ack = m.As<dl_bind_ack_t>();
  EXPECT_EQ(ack.dl_sap, 0x0800u);
  EXPECT_EQ(ack.dl_addr_length, 8u);
  EXPECT_EQ(m.At(ack.dl_addr_offset, 8), Dlsap(mac, 0x0800));
  EXPECT_EQ(ack.dl_max_conind, 0u);

  Msg im;
  dl_info_ack_t info = Info(w, fd, &im);
  EXPECT_EQ(info.dl_current_state, static_cast<t_uscalar_t>(DL_IDLE));
  EXPECT_EQ(im.At(info.dl_addr_offset, info.dl_addr_length), Dlsap(mac, 0x0800));

  w.ExpectOk(fd, w.Request(fd, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ);
  EXPECT_EQ(Info(w, fd).dl_current_state, static_cast<t_uscalar_t>(DL_UNBOUND));
  w.ExpectOk(fd, w.Request(fd, dl_detach_req_t{DL_DETACH_REQ}), DL_DETACH_REQ);
  EXPECT_EQ(Info(w, fd).dl_current_state, static_cast<t_uscalar_t>(DL_UNATTACHED));
  // And again, on the other port.
  w.Attach(fd, a);
  w.Bind(fd, 0x0806);
}

TEST_P(DlpiTest, AttachErrors) {
  World& w = MakeWorld(1);
  w.net().AddHub(3);
  int fd = w.Open(0);
  w.ExpectError(w.Request(fd, dl_attach_req_t{DL_ATTACH_REQ, 3}), DL_ATTACH_REQ, DL_BADPPA);
  w.ExpectError(w.Request(fd, dl_attach_req_t{DL_ATTACH_REQ, 0xffffffff}), DL_ATTACH_REQ,
                DL_BADPPA);
  const t_uscalar_t short_attach = DL_ATTACH_REQ;  // no dl_ppa
  w.ExpectError(w.Request(fd, short_attach), DL_ATTACH_REQ, DL_BADPRIM);
  w.Attach(fd, 2);
  w.ExpectError(w.Request(fd, dl_attach_req_t{DL_ATTACH_REQ, 1}), DL_ATTACH_REQ, DL_OUTSTATE);
  // A failed attach left the stream as it was.
  EXPECT_EQ(Info(w, fd).dl_current_state, static_cast<t_uscalar_t>(DL_UNBOUND));
}

TEST_P(DlpiTest, PortOfAnotherDomainIsBusyUntilItsStreamsLeave) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  int x = w.Open(0), y = w.Open(0), z = w.Open(1);
  w.Attach(x, a);
  w.Attach(y, a);  // the same domain shares the port
  w.ExpectError(w.Request(z, dl_attach_req_t{DL_ATTACH_REQ, static_cast<t_uscalar_t>(a)}),
                DL_ATTACH_REQ, DL_BUSY);
  w.ExpectOk(x, w.Request(x, dl_detach_req_t{DL_DETACH_REQ}), DL_DETACH_REQ);
  w.ExpectError(w.Request(z, dl_attach_req_t{DL_ATTACH_REQ, static_cast<t_uscalar_t>(a)}),
                DL_ATTACH_REQ, DL_BUSY);
  EXPECT_EQ(w.Close(y), 0);  // the port's last stream: it has no home any more
  w.Attach(z, a);
  w.Attach(x, b);
}

TEST_P(DlpiTest, DetachErrors) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  w.ExpectError(w.Request(fd, dl_detach_req_t{DL_DETACH_REQ}), DL_DETACH_REQ, DL_OUTSTATE);
  w.Attach(fd, 0);
  w.Bind(fd, 0x0800);
  w.ExpectError(w.Request(fd, dl_detach_req_t{DL_DETACH_REQ}), DL_DETACH_REQ, DL_OUTSTATE);
  const uint16_t short_detach = DL_DETACH_REQ;
  w.ExpectError(w.Request(fd, short_detach), DL_PRIM_INVAL, DL_BADPRIM);
}

TEST_P(DlpiTest, BindErrors) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  w.ExpectError(w.Request(fd, BindReq(0x0800)), DL_BIND_REQ, DL_OUTSTATE);
  w.Attach(fd, 0);
  w.ExpectError(w.Request(fd, BindReq(0x10000)), DL_BIND_REQ, DL_BADSAP);
  w.ExpectError(w.Request(fd, BindReq(1501)), DL_BIND_REQ, DL_BADSAP);
  w.ExpectError(w.Request(fd, BindReq(0x05ff)), DL_BIND_REQ, DL_BADSAP);
  w.ExpectError(w.Request(fd, BindReq(0x0800, DL_CODLS)), DL_BIND_REQ, DL_UNSUPPORTED);
  dl_bind_req_t xid = BindReq(0x0800);
  xid.dl_xidtest_flg = DL_AUTO_XID;
  w.ExpectError(w.Request(fd, xid), DL_BIND_REQ, DL_NOAUTO);
  std::string short_bind = Bytes(BindReq(0x0800)).substr(0, 12);
  ASSERT_EQ(PutCtl(fd, short_bind), 0);
  w.ExpectError(w.Await(fd), DL_BIND_REQ, DL_BADPRIM);
  EXPECT_EQ(Info(w, fd).dl_current_state, static_cast<t_uscalar_t>(DL_UNBOUND));
  w.Bind(fd, 0x0800);
  w.ExpectError(w.Request(fd, BindReq(0x0806)), DL_BIND_REQ, DL_OUTSTATE);
}

TEST_P(DlpiTest, BindTakesEthertypesAnd8023Saps) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  w.Attach(fd, 0);
  for (t_uscalar_t sap : {0u, 1500u, 0x0600u, 0x0806u, 0x86ddu, 0xffffu}) {
    Msg m = w.Request(fd, BindReq(sap));
    ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_BIND_ACK)) << sap;
    EXPECT_EQ(m.As<dl_bind_ack_t>().dl_sap, sap);
    w.ExpectOk(fd, w.Request(fd, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ);
  }
}

TEST_P(DlpiTest, UnbindErrors) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  w.ExpectError(w.Request(fd, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ, DL_OUTSTATE);
  w.Attach(fd, 0);
  w.ExpectError(w.Request(fd, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ, DL_OUTSTATE);
}

TEST_P(DlpiTest, UnitdataErrors) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  const MacAddr dst = w.net().Mac(1);
  int fd = w.Open(0);
  const std::string payload(100, 'p');
  ASSERT_EQ(SendUnitdata(fd, dst, 0x0800, payload), 0);
  w.ExpectError(w.Await(fd), DL_UNITDATA_REQ, DL_OUTSTATE);
  w.Attach(fd, 0);
  ASSERT_EQ(SendUnitdata(fd, dst, 0x0800, payload), 0);
  w.ExpectError(w.Await(fd), DL_UNITDATA_REQ, DL_OUTSTATE);
  w.Bind(fd, 0x0800);

  // No data part.
  std::string req = UnitdataReqTo(dst, 0x0800);
  ASSERT_EQ(PutCtl(fd, req), 0);
  w.ExpectError(w.Await(fd), DL_UNITDATA_REQ, DL_BADPRIM);
  // The address outside the block.
  dl_unitdata_req_t r{};
  r.dl_primitive = DL_UNITDATA_REQ;
  r.dl_dest_addr_length = 8;
  r.dl_dest_addr_offset = 1000;
  std::string out_of_block = Bytes(r) + Dlsap(dst, 0x0800);
  ASSERT_EQ(Put(fd, &out_of_block, &payload), 0);
  w.ExpectError(w.Await(fd), DL_UNITDATA_REQ, DL_BADPRIM);
  r.dl_dest_addr_offset = 0xfffffffc;  // offset + length wraps
  std::string wrapping = Bytes(r) + Dlsap(dst, 0x0800);
  ASSERT_EQ(Put(fd, &wrapping, &payload), 0);
  w.ExpectError(w.Await(fd), DL_UNITDATA_REQ, DL_BADPRIM);
  // An address that is not MAC + SAP.
  r.dl_dest_addr_offset = sizeof(r);
  r.dl_dest_addr_length = 6;
  std::string six = Bytes(r) + MacBytes(dst);
  ASSERT_EQ(Put(fd, &six, &payload), 0);
  w.ExpectError(w.Await(fd), DL_UNITDATA_REQ, DL_BADADDR);
  // More than the MTU: DL_UDERROR_IND naming the destination.
  const std::string big(1501, 'b');
  ASSERT_EQ(SendUnitdata(fd, dst, 0x0800, big), 0);
  Msg m = w.Await(fd);
  ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_UDERROR_IND));
  auto ud = m.As<dl_uderror_ind_t>();
  EXPECT_EQ(ud.dl_errno, static_cast<t_uscalar_t>(DL_BADDATA));
  EXPECT_EQ(m.At(ud.dl_dest_addr_offset, ud.dl_dest_addr_length), Dlsap(dst, 0x0800));
  EXPECT_EQ(m.flags, 0);  // M_PROTO
  EXPECT_EQ(w.net().Stats(0).tx_oversize, 1u);
  // Exactly the MTU goes.
  ASSERT_EQ(SendUnitdata(fd, dst, 0x0800, std::string(1500, 'x')), 0);
  w.Settle();
  EXPECT_EQ(Get(fd).err, EAGAIN);
  EXPECT_EQ(w.net().Stats(0).tx_frames, 1u);
}

TEST_P(DlpiTest, PhysicalAddresses) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  dl_phys_addr_req_t cur{DL_PHYS_ADDR_REQ, DL_CURR_PHYS_ADDR};
  w.ExpectError(w.Request(fd, cur), DL_PHYS_ADDR_REQ, DL_OUTSTATE);
  w.Attach(fd, 1);
  const MacAddr factory = w.net().Mac(1);
  for (t_uscalar_t type : {DL_CURR_PHYS_ADDR, DL_FACT_PHYS_ADDR}) {
    Msg m = w.Request(fd, dl_phys_addr_req_t{DL_PHYS_ADDR_REQ, type});
    ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_PHYS_ADDR_ACK));
    auto a = m.As<dl_phys_addr_ack_t>();
    EXPECT_EQ(a.dl_addr_length, 6u);
    EXPECT_EQ(m.At(a.dl_addr_offset, 6), MacBytes(factory));
  }
  w.ExpectError(w.Request(fd, dl_phys_addr_req_t{DL_PHYS_ADDR_REQ, DL_IPV6_TOKEN}),
                DL_PHYS_ADDR_REQ, DL_UNSUPPORTED);

  // DL_SET_PHYS_ADDR_REQ: a unicast address of 6 bytes inside the block.
  dl_set_phys_addr_req_t s{DL_SET_PHYS_ADDR_REQ, 6, sizeof(dl_set_phys_addr_req_t)};
  const MacAddr fresh{{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}};
  const MacAddr group{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
  w.ExpectError(w.Request(fd, Bytes(s) + MacBytes(group)), DL_SET_PHYS_ADDR_REQ, DL_BADADDR);
  dl_set_phys_addr_req_t four{DL_SET_PHYS_ADDR_REQ, 4, sizeof(dl_set_phys_addr_req_t)};
  w.ExpectError(w.Request(fd, Bytes(four) + "abcd"), DL_SET_PHYS_ADDR_REQ, DL_BADPRIM);
  w.ExpectError(w.Request(fd, Bytes(s)), DL_SET_PHYS_ADDR_REQ, DL_BADPRIM);  // address missing
  w.ExpectOk(fd, w.Request(fd, Bytes(s) + MacBytes(fresh)), DL_SET_PHYS_ADDR_REQ);
  EXPECT_EQ(w.net().Mac(1), fresh);
  Msg m = w.Request(fd, cur);
  EXPECT_EQ(m.At(m.As<dl_phys_addr_ack_t>().dl_addr_offset, 6), MacBytes(fresh));
  m = w.Request(fd, dl_phys_addr_req_t{DL_PHYS_ADDR_REQ, DL_FACT_PHYS_ADDR});
  EXPECT_EQ(m.At(m.As<dl_phys_addr_ack_t>().dl_addr_offset, 6), MacBytes(factory));
  // The bind ack carries the current address.
  Msg b = w.Request(fd, BindReq(0x0800));
  EXPECT_EQ(b.At(b.As<dl_bind_ack_t>().dl_addr_offset, 8), Dlsap(fresh, 0x0800));
}

TEST_P(DlpiTest, PromiscuousModeErrors) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  w.ExpectError(w.Request(fd, dl_promiscon_req_t{DL_PROMISCON_REQ, DL_PROMISC_PHYS}),
                DL_PROMISCON_REQ, DL_OUTSTATE);
  w.Attach(fd, 0);
  w.ExpectError(w.Request(fd, dl_promiscon_req_t{DL_PROMISCON_REQ, 9}), DL_PROMISCON_REQ,
                DL_NOTSUPPORTED);
  w.ExpectError(w.Request(fd, dl_promiscoff_req_t{DL_PROMISCOFF_REQ, DL_PROMISC_SAP}),
                DL_PROMISCOFF_REQ, DL_NOTENAB);
  for (t_uscalar_t level : {DL_PROMISC_PHYS, DL_PROMISC_SAP, DL_PROMISC_MULTI}) {
    w.ExpectOk(fd, w.Request(fd, dl_promiscon_req_t{DL_PROMISCON_REQ, level}), DL_PROMISCON_REQ);
    w.ExpectOk(fd, w.Request(fd, dl_promiscoff_req_t{DL_PROMISCOFF_REQ, level}),
               DL_PROMISCOFF_REQ);
    w.ExpectError(w.Request(fd, dl_promiscoff_req_t{DL_PROMISCOFF_REQ, level}),
                  DL_PROMISCOFF_REQ, DL_NOTENAB);
  }
  const t_uscalar_t short_on = DL_PROMISCON_REQ;
  w.ExpectError(w.Request(fd, short_on), DL_PROMISCON_REQ, DL_BADPRIM);
}

TEST_P(DlpiTest, MulticastErrors) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  dl_enabmulti_req_t en{DL_ENABMULTI_REQ, 6, sizeof(dl_enabmulti_req_t)};
  dl_disabmulti_req_t dis{DL_DISABMULTI_REQ, 6, sizeof(dl_disabmulti_req_t)};
  const MacAddr group{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
  w.ExpectError(w.Request(fd, Bytes(en) + MacBytes(group)), DL_ENABMULTI_REQ, DL_OUTSTATE);
  w.Attach(fd, 0);
  w.ExpectError(w.Request(fd, Bytes(en) + MacBytes(w.net().Mac(1))), DL_ENABMULTI_REQ,
                DL_BADADDR);
  dl_enabmulti_req_t eight{DL_ENABMULTI_REQ, 8, sizeof(dl_enabmulti_req_t)};
  w.ExpectError(w.Request(fd, Bytes(eight) + MacBytes(group) + "xx"), DL_ENABMULTI_REQ,
                DL_BADPRIM);
  w.ExpectError(w.Request(fd, Bytes(dis) + MacBytes(group)), DL_DISABMULTI_REQ, DL_NOTENAB);
  w.ExpectOk(fd, w.Request(fd, Bytes(en) + MacBytes(group)), DL_ENABMULTI_REQ);
  w.ExpectOk(fd, w.Request(fd, Bytes(en) + MacBytes(group)), DL_ENABMULTI_REQ);  // again: fine
  w.ExpectOk(fd, w.Request(fd, Bytes(dis) + MacBytes(group)), DL_DISABMULTI_REQ);
  w.ExpectError(w.Request(fd, Bytes(dis) + MacBytes(group)), DL_DISABMULTI_REQ, DL_NOTENAB);
  // At most 64 per stream.
  for (int i = 0; i < 64; i++) {
    MacAddr g = group;
    g.octets[5] = static_cast<uint8_t>(i);
    w.ExpectOk(fd, w.Request(fd, Bytes(en) + MacBytes(g)), DL_ENABMULTI_REQ);
  }
  MacAddr one_more = group;
  one_more.octets[4] = 1;
  w.ExpectError(w.Request(fd, Bytes(en) + MacBytes(one_more)), DL_ENABMULTI_REQ, DL_TOOMANY);
}

TEST_P(DlpiTest, UnknownUnsupportedAndShortPrimitives) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  int fd = w.Open(0);
  w.ExpectError(w.Request(fd, t_uscalar_t{0x9999}), 0x9999, DL_BADPRIM);
  // Acknowledgements and indications are not requests.
  w.ExpectError(w.Request(fd, dl_ok_ack_t{DL_OK_ACK, DL_ATTACH_REQ}), DL_OK_ACK, DL_BADPRIM);
  w.ExpectError(w.Request(fd, t_uscalar_t{DL_UNITDATA_IND}), DL_UNITDATA_IND, DL_BADPRIM);
  for (t_uscalar_t prim : {DL_CONNECT_REQ, DL_SUBS_BIND_REQ, DL_UDQOS_REQ, DL_TEST_REQ,
                           DL_XID_REQ, DL_CAPABILITY_REQ, DL_NOTIFY_REQ, DL_GET_STATISTICS_REQ}) {
    dl_connect_req_t any{};  // long enough for any of them
    any.dl_primitive = prim;
    w.ExpectError(w.Request(fd, any), prim, DL_NOTSUPPORTED);
  }
  // Too short to say which primitive it is.
  ASSERT_EQ(PutCtl(fd, std::string("\x0b\x00", 2)), 0);
  w.ExpectError(w.Await(fd), DL_PRIM_INVAL, DL_BADPRIM);
  ASSERT_EQ(PutCtl(fd, std::string("\x01", 1), RS_HIPRI), 0);
  w.ExpectError(w.Await(fd), DL_PRIM_INVAL, DL_BADPRIM);
}

TEST_P(DlpiTest, Ioctls) {
  World& w = MakeWorld(1);
  w.net().AddWire();
  const MacAddr dst = w.net().Mac(1);
  int fd = w.Open(0);
  EXPECT_EQ(Ioctl(fd, DLIOCRAW, ""), 0);  // in any state
  EXPECT_EQ(Ioctl(fd, DL_IOC_HDR_INFO, UnitdataReqTo(dst, 0x0800)), ENOTSUP);
  w.Attach(fd, 0);
  w.Bind(fd, 0x0800);
  EXPECT_EQ(Ioctl(fd, DL_IOC_HDR_INFO, "short"), EINVAL);
  EXPECT_EQ(Ioctl(fd, DL_IOC_HDR_INFO, Bytes(dl_info_req_t{DL_INFO_REQ}) + std::string(20, 0)),
            EINVAL);
  std::string bad_len = UnitdataReqTo(dst, 0x0800);
  bad_len[4] = 6;  // dl_dest_addr_length
  EXPECT_EQ(Ioctl(fd, DL_IOC_HDR_INFO, bad_len), EINVAL);
  std::string reply;
  EXPECT_EQ(Ioctl(fd, DL_IOC_HDR_INFO, UnitdataReqTo(dst, 0x0800), &reply), 0);
  // The request comes back with the header to prepend after it.
  const std::string req = UnitdataReqTo(dst, 0x0800);
  ASSERT_EQ(reply.size(), req.size() + kEtherHeaderLen);
  EXPECT_EQ(reply.substr(0, req.size()), req);
  EXPECT_EQ(reply.substr(req.size()), Frame(dst, w.net().Mac(0), 0x0800, ""));
  EXPECT_EQ(Ioctl(fd, 0x4242, ""), EINVAL);
}

// Random control messages and data in every state: answered or dropped, never a crash, and the
// stream still talks DLPI afterwards.
TEST_P(DlpiTest, GarbageNeverCrashes) {
  World& w = MakeWorld(1);
  w.net().AddHub(3);
  int fd = w.Open(0);
  loop_internal::Prng rng(2024);
  const t_uscalar_t prims[] = {DL_INFO_REQ,        DL_ATTACH_REQ,     DL_DETACH_REQ,
                               DL_BIND_REQ,        DL_UNBIND_REQ,     DL_UNITDATA_REQ,
                               DL_PHYS_ADDR_REQ,   DL_SET_PHYS_ADDR_REQ, DL_PROMISCON_REQ,
                               DL_PROMISCOFF_REQ,  DL_ENABMULTI_REQ,  DL_DISABMULTI_REQ,
                               DL_CONNECT_REQ,     0x12345678};
  for (int round = 0; round < 40; round++) {
    for (int i = 0; i < 25; i++) {
      std::string ctl(rng.Below(48), '\0');
      for (char& c : ctl) c = static_cast<char>(rng.Below(256));
      // Small values where a field is an offset, length, PPA or level, now and then.
      for (size_t off = 4; off + 4 <= ctl.size(); off += 4) {
        if (rng.Chance(0.5)) {
          const t_uscalar_t v = static_cast<t_uscalar_t>(rng.Below(24));
          std::memcpy(&ctl[off], &v, 4);
        }
      }
      if (ctl.size() >= 4) {
        const t_uscalar_t p = prims[rng.Below(std::size(prims))];
        std::memcpy(ctl.data(), &p, 4);
      }
      std::string data(rng.Below(2000), 'd');
      const bool with_data = rng.Chance(0.5);
      if (ctl.empty()) {
        (void)Put(fd, nullptr, &data);  // M_DATA on the fast path
      } else {
        (void)Put(fd, &ctl, with_data ? &data : nullptr, rng.Chance(0.3) ? RS_HIPRI : 0);
      }
    }
    w.Settle();
    while (Get(fd).rc >= 0) {
    }
  }
  // Whatever state it was left in, DL_INFO_REQ is answered.
  Info(w, fd);
}

INSTANTIATE_TEST_SUITE_P(Modes, DlpiTest,
                         ::testing::Values(Mode::kDeterministic, Mode::kThreaded), ModeName);

}  // namespace
}  // namespace ustreams::loop_testing
