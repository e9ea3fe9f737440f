#include "web/http_server.h"

#include <civetweb.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "gilstat/format.h"

namespace gilstat::web {
namespace {

std::once_flag g_civet_init;

// Compares without an early exit, so the time taken does not tell how much matched.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

void Send(mg_connection* conn, int status, const char* reason, const char* content_type,
          const std::string& body, const char* extra_headers = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
            "Connection: close\r\n\r\n",
            status, reason, content_type, body.size(), extra_headers);
  const auto* info = mg_get_request_info(conn);
  if (info && info->request_method && std::strcmp(info->request_method, "HEAD") == 0) return;
  mg_write(conn, body.data(), body.size());
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

}  // namespace

std::optional<std::string> DecodeBase64(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else if (pad > 0 || (v[j] = val(c)) < 0) {
        return std::nullopt;
      }
    }
    const uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

Result<std::string> CivetListenSpec(const std::string& addr) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "listen address '" + addr + "' must be host:port, [ipv6]:port or :port");
  }
  const std::string host = addr.substr(0, colon);
  const std::string port = addr.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "listen address '" + addr + "': '" + port + "' is not a port number");
  }
  if (host.empty()) return port;  // every interface
  if (host == "localhost") return "127.0.0.1:" + port;
  if (host.front() == '[' && host.back() == ']') return "+" + host + ":" + port;
  if (host.find_first_not_of("0123456789.") != std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "listen address '" + addr + "': the host must be an IP address");
  }
  return host + ":" + port;
}

MetricsServer::MetricsServer(ServerOptions options, Render render)
    : options_(std::move(options)), render_(std::move(render)) {}

MetricsServer::~MetricsServer() {
  if (ctx_) mg_stop(ctx_);
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const ServerOptions& options,
                                                            Render render) {
  if (options.telemetry_path.empty() || options.telemetry_path.front() != '/' ||
      options.telemetry_path == "/") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "telemetry path '" + options.telemetry_path +
                         "' must start with '/' and not be '/' (the landing page)");
  }
  auto spec = CivetListenSpec(options.listen_address);
  if (!spec) return spec.error();
  std::call_once(g_civet_init, [] { mg_init_library(0); });

  std::unique_ptr<MetricsServer> server(new MetricsServer(options, std::move(render)));
  const std::string threads = std::to_string(options.threads);
  const std::string head_timeout = std::to_string(options.request_timeout_ms);
  const std::string queue = std::to_string(options.queue);
  const char* opts[] = {"listening_ports",
                        spec->c_str(),
                        "num_threads",
                        threads.c_str(),
                        "request_timeout_ms",
                        head_timeout.c_str(),
                        "connection_queue",
                        queue.c_str(),
                        "listen_backlog",
                        queue.c_str(),
                        "max_request_size",
                        "16384",
                        "enable_keep_alive",
                        "no",
                        nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // counted, quiet
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = opts;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof error_text};
  server->ctx_ = mg_start2(&init, &error);
  if (!server->ctx_) {
    return MakeError(ErrorCode::kUnavailable,
                     "cannot listen on " + options.listen_address + ": " + std::string(error_text));
  }
  mg_set_request_handler(server->ctx_, "/", &MetricsServer::Handle, server.get());
  mg_server_port ports[4];
  const int n = mg_get_server_ports(server->ctx_, 4, ports);
  if (n > 0) server->port_ = ports[0].port;
  return server;
}

int MetricsServer::Handle(mg_connection* conn, void* self) {
  return static_cast<MetricsServer*>(self)->HandleRequest(conn);
}

void MetricsServer::SetBasicAuth(std::optional<BasicAuth> auth) {
  std::lock_guard<std::mutex> lock(auth_mu_);
  options_.basic_auth = std::move(auth);
}

bool MetricsServer::Authorized(mg_connection* conn) const {
  std::optional<BasicAuth> auth;
  {
    std::lock_guard<std::mutex> lock(auth_mu_);
    auth = options_.basic_auth;
  }
  if (!auth) return true;
  const char* h = mg_get_header(conn, "Authorization");
  if (!h || std::strncmp(h, "Basic ", 6) != 0) return false;
  auto decoded = DecodeBase64(h + 6);
  if (!decoded) return false;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const bool user_ok = ConstantTimeEquals(decoded->substr(0, colon), auth->username);
  const bool pass_ok = ConstantTimeEquals(decoded->substr(colon + 1), auth->password);
  return user_ok && pass_ok;
}

std::shared_ptr<const std::string> MetricsServer::Exposition() {
  const auto asked = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(render_mu_);
  if (last_render_ && last_render_started_ >= asked) return last_render_;
  last_render_.reset();  // not two old texts at once
  last_render_started_ = std::chrono::steady_clock::now();
  last_render_ = std::make_shared<const std::string>(render_());
  return last_render_;
}

int MetricsServer::HandleRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const std::string method = info->request_method ? info->request_method : "";
  const std::string uri = info->local_uri ? info->local_uri : "";
  if (method != "GET" && method != "HEAD") {
    Send(conn, 405, "Method Not Allowed", "text/plain; charset=utf-8", "method not allowed\n",
         "Allow: GET, HEAD\r\n");
    return 405;
  }
  if (!Authorized(conn)) {
    Send(conn, 401, "Unauthorized", "text/plain; charset=utf-8", "unauthorized\n",
         "WWW-Authenticate: Basic realm=\"gilstatd\"\r\n");
    return 401;
  }
  if (uri == options_.telemetry_path) {
    Send(conn, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", *Exposition());
    return 200;
  }
  if (auto it = options_.handlers.find(uri); it != options_.handlers.end()) {
    const HttpResponse r = it->second(info->query_string ? info->query_string : "");
    Send(conn, r.status, ReasonPhrase(r.status), r.content_type.c_str(), r.body, r.headers.c_str());
    return r.status;
  }
  if (uri == "/") {
    const std::string path = XmlEscape(options_.telemetry_path);
    std::string body = "<!DOCTYPE html>\n<html><head><title>" + XmlEscape(options_.landing_title) +
                       "</title></head><body>\n<h1>" + XmlEscape(options_.landing_title) +
                       "</h1>\n<p>Lock and GIL contention exporter.</p>\n<p><a href=\"" + path +
                       "\">Metrics</a></p>\n" + options_.landing_details + "</body></html>\n";
    Send(conn, 200, "OK", "text/html; charset=utf-8", body);
    return 200;
  }
  Send(conn, 404, "Not Found", "text/plain; charset=utf-8", "not found\n");
  return 404;
}

}  // namespace gilstat::web
