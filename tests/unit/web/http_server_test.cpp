#include "web/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace gilstat::web {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sends `request` as is to 127.0.0.1:port and returns everything the server answered.
std::string Exchange(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "(connect failed)";
  }
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::string Get(int port, const std::string& path, const std::string& extra = "") {
  return Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n");
}

std::unique_ptr<MetricsServer> StartServer(std::optional<BasicAuth> auth = std::nullopt) {
  ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  o.telemetry_path = "/custom-metrics";
  o.basic_auth = std::move(auth);
  auto s = MetricsServer::Start(o, [] { return std::string("gilstat_up 1\n"); });
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(MetricsServer, ServesExpositionLandingPageAnd404) {
  auto s = StartServer();
  ASSERT_TRUE(s);
  ASSERT_GT(s->port(), 0);
  const std::string m = Get(s->port(), "/custom-metrics");
  EXPECT_THAT(m, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(m, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(m, HasSubstr("\r\n\r\ngilstat_up 1\n"));
  EXPECT_THAT(Get(s->port(), "/"), HasSubstr("<a href=\"/custom-metrics\">"));
  EXPECT_THAT(Get(s->port(), "/metrics"), StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(Exchange(s->port(), "POST /custom-metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
              StartsWith("HTTP/1.1 405"));
}

TEST(MetricsServer, BasicAuthIsEnforced) {
  auto s = StartServer(BasicAuth{"prom", "pa:ss"});
  ASSERT_TRUE(s);
  EXPECT_THAT(Get(s->port(), "/custom-metrics"), StartsWith("HTTP/1.1 401"));
  // "prom:wrong" and "prom:pa:ss" in base64.
  EXPECT_THAT(Get(s->port(), "/custom-metrics", "Authorization: Basic cHJvbTp3cm9uZw==\r\n"),
              StartsWith("HTTP/1.1 401"));
  EXPECT_THAT(Get(s->port(), "/custom-metrics", "Authorization: Basic cHJvbTpwYTpzcw==\r\n"),
              StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Get(s->port(), "/custom-metrics", "Authorization: Basic !!!!\r\n"),
              StartsWith("HTTP/1.1 401"));
}

// A reload's credentials apply to the next request: changed, added, removed.
TEST(MetricsServer, BasicAuthCanBeReplacedWhileServing) {
  auto s = StartServer(BasicAuth{"prom", "pa:ss"});
  ASSERT_TRUE(s);
  const std::string old_pass = "Authorization: Basic cHJvbTpwYTpzcw==\r\n";  // prom:pa:ss
  const std::string new_pass = "Authorization: Basic cHJvbTpuZXc=\r\n";      // prom:new
  s->SetBasicAuth(BasicAuth{"prom", "new"});
  EXPECT_THAT(Get(s->port(), "/custom-metrics", old_pass), StartsWith("HTTP/1.1 401"));
  EXPECT_THAT(Get(s->port(), "/custom-metrics", new_pass), StartsWith("HTTP/1.1 200"));
  s->SetBasicAuth(std::nullopt);
  EXPECT_THAT(Get(s->port(), "/custom-metrics"), StartsWith("HTTP/1.1 200"));
  auto open = StartServer();
  ASSERT_TRUE(open);
  open->SetBasicAuth(BasicAuth{"prom", "new"});
  EXPECT_THAT(Get(open->port(), "/custom-metrics"), StartsWith("HTTP/1.1 401"));
  EXPECT_THAT(Get(open->port(), "/custom-metrics", new_pass), StartsWith("HTTP/1.1 200"));
}

// Scrapes at once share renders (one at a time; one that started after a request arrived
// serves it): 32 simultaneous scrapes of a 200 ms render cost a few renders, not 32, and every
// one gets the text. A scrape after they are done gets a render of its own.
TEST(MetricsServer, SimultaneousScrapesShareRenders) {
  std::atomic<int> renders{0};
  ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  auto s = MetricsServer::Start(o, [&renders] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return "gilstat_render " + std::to_string(++renders) + "\n";
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  const int port = (*s)->port();
  std::vector<std::string> answers(32);
  std::vector<std::thread> clients;
  std::latch start(static_cast<std::ptrdiff_t>(answers.size()));
  for (auto& a : answers) {
    clients.emplace_back([&a, &start, port] {
      start.arrive_and_wait();
      a = Get(port, "/metrics");
    });
  }
  for (auto& c : clients) c.join();
  for (const auto& a : answers) EXPECT_THAT(a, HasSubstr("\r\n\r\ngilstat_render "));
  EXPECT_LE(renders.load(), 4);
  const int before = renders.load();
  EXPECT_THAT(Get(port, "/metrics"), HasSubstr("gilstat_render " + std::to_string(before + 1)));
}

TEST(MetricsServer, MalformedAndOversizedRequestsDoNotStopIt) {
  auto s = StartServer();
  ASSERT_TRUE(s);
  Exchange(s->port(), "garbage\r\n\r\n");
  Exchange(s->port(), std::string(100000, 'A'));
  Exchange(s->port(),
           "GET /custom-metrics HTTP/1.1\r\nX-Big: " + std::string(64 * 1024, 'b') + "\r\n\r\n");
  Exchange(s->port(), "GET /custom-metrics HTTP/9.9\r\n\r\n");
  Exchange(s->port(), "");
  EXPECT_THAT(Get(s->port(), "/custom-metrics"), StartsWith("HTTP/1.1 200"));
}

TEST(MetricsServer, PortInUseIsAClearError) {
  auto a = StartServer();
  ASSERT_TRUE(a);
  ServerOptions o;
  o.listen_address = "127.0.0.1:" + std::to_string(a->port());
  auto b = MetricsServer::Start(o, [] { return std::string(); });
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.error().message, HasSubstr("cannot listen on 127.0.0.1:"));
}

TEST(CivetListenSpec, AcceptsExporterStyleAddresses) {
  EXPECT_EQ(*CivetListenSpec("127.0.0.1:9877"), "127.0.0.1:9877");
  EXPECT_EQ(*CivetListenSpec(":9877"), "9877");
  EXPECT_EQ(*CivetListenSpec("localhost:1"), "127.0.0.1:1");
  EXPECT_EQ(*CivetListenSpec("[::1]:9877"), "+[::1]:9877");
  EXPECT_FALSE(CivetListenSpec("9877").ok());
  EXPECT_FALSE(CivetListenSpec("127.0.0.1:http").ok());
  EXPECT_FALSE(CivetListenSpec("127.0.0.1:70000").ok());
  EXPECT_FALSE(CivetListenSpec("example.org:80").ok());
}

TEST(DecodeBase64, DecodesAndRejectsMalformed) {
  EXPECT_EQ(*DecodeBase64("cHJvbTpwYTpzcw=="), "prom:pa:ss");
  EXPECT_EQ(*DecodeBase64("YWJj"), "abc");
  EXPECT_EQ(*DecodeBase64("YWI="), "ab");
  EXPECT_FALSE(DecodeBase64("YWJ").has_value());
  EXPECT_FALSE(DecodeBase64("Y=Jj").has_value());
}

}  // namespace
}  // namespace gilstat::web
