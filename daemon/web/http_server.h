// The HTTP side of gilstatd: the exposition at the telemetry path, a landing page at "/",
// optional basic auth, bounded request sizes. A thin layer over civetweb's C API.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "gilstat/result.h"

struct mg_context;
struct mg_connection;

namespace gilstat::web {

struct BasicAuth {
  std::string username;
  std::string password;
};

// What a handler of an extra path answers.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string headers;  // extra header lines, each ending in "\r\n"
};
// Answers GET/HEAD of one path (after basic auth); `query` is the URL's query string ("" when
// none). Runs on the request's worker thread and may take its time (a profile's duration).
using PathHandler = std::function<HttpResponse(const std::string& query)>;

struct ServerOptions {
  std::string listen_address = "127.0.0.1:9877";  // host:port, [v6]:port or :port (all)
  std::string telemetry_path = "/metrics";
  std::optional<BasicAuth> basic_auth;
  std::string landing_title = "gilstatd";
  std::string landing_details;                  // extra HTML-escaped lines for the landing page
  std::map<std::string, PathHandler> handlers;  // more paths (exact match), e.g. profiles
  // civetweb serves one connection per worker thread, from accept to close, and a worker
  // reading a request head waits for it until request_timeout_ms (a deadline for the whole head,
  // not reset by each byte). So `threads` is how many slow or idle connections can be open
  // before a scrape waits, and request_timeout_ms how long it then waits for each wave of them.
  // Measured (docs/SECURITY.md "HTTP"): 256 workers add 4.6 MB resident; with 200 slowloris
  // connections a scrape answers in milliseconds. Accepted connections beyond the idle workers
  // wait in a queue of `queue` entries, and the kernel's listen backlog is as long (capped by
  // net.core.somaxconn), so 500 simultaneous scrapes are all answered. They share renders
  // (MetricsServer::Exposition): many workers do not mean many copies of the exposition.
  int threads = 256;
  int request_timeout_ms = 5000;
  int queue = 1024;
};

// Turns "host:port" forms into civetweb's listening_ports syntax; errors name the problem.
Result<std::string> CivetListenSpec(const std::string& listen_address);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;  // the exposition text, on an HTTP thread

  // Binds and starts serving; kUnavailable with civetweb's reason when binding fails (e.g. the
  // port is in use).
  static Result<std::unique_ptr<MetricsServer>> Start(const ServerOptions& options, Render render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }  // the bound port (useful with port 0)

  // Replaces the credentials (nullopt: no auth) for every request whose head is read from now
  // on; a configuration reload calls this.
  void SetBasicAuth(std::optional<BasicAuth> auth);

 private:
  MetricsServer(ServerOptions options, Render render);
  static int Handle(mg_connection* conn, void* self);
  int HandleRequest(mg_connection* conn);
  bool Authorized(mg_connection* conn) const;
  // The exposition for a request that arrived now: renders one at a time, and a render that
  // started after the request arrived serves it too, so a burst of scrapes costs one or two
  // renders and shares their text (not one copy per worker thread).
  std::shared_ptr<const std::string> Exposition();

  ServerOptions options_;  // basic_auth read and written under auth_mu_
  mutable std::mutex auth_mu_;
  Render render_;
  std::mutex render_mu_;
  std::shared_ptr<const std::string> last_render_;
  std::chrono::steady_clock::time_point last_render_started_{};
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

// Base64 decoding of a basic-auth credential; nullopt when malformed.
std::optional<std::string> DecodeBase64(const std::string& in);

}  // namespace gilstat::web
