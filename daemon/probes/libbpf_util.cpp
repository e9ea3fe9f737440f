#include "libbpf_util.h"

#include "gilstat/format.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

namespace gilstat::probes {
namespace {

std::mutex g_mu;
LibbpfLogFn g_fn;                      // guarded by g_mu
std::vector<std::string*> g_captures;  // guarded by g_mu
bool g_installed = false;

int Print(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, fmt, args);
  if (n < 0) return n;
  std::string_view msg(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
  std::lock_guard lock(g_mu);
  for (std::string* c : g_captures) c->append(msg);
  LibbpfLevel lv = level == LIBBPF_WARN   ? LibbpfLevel::kWarn
                   : level == LIBBPF_INFO ? LibbpfLevel::kInfo
                                          : LibbpfLevel::kDebug;
  if (g_fn) {
    g_fn(lv, msg);
  } else if (lv == LibbpfLevel::kWarn && g_captures.empty()) {
    std::fwrite(msg.data(), 1, msg.size(), stderr);
  }
  return n;
}

void InstallLocked() {
  if (!g_installed) {
    libbpf_set_print(Print);
    g_installed = true;
  }
}

}  // namespace

void SetLibbpfLogger(LibbpfLogFn fn) {
  std::lock_guard lock(g_mu);
  g_fn = std::move(fn);
  InstallLocked();
}

LibbpfLogCapture::LibbpfLogCapture() : buffer_(new std::string) {
  std::lock_guard lock(g_mu);
  InstallLocked();
  g_captures.push_back(buffer_);
}

LibbpfLogCapture::~LibbpfLogCapture() {
  {
    std::lock_guard lock(g_mu);
    std::erase(g_captures, buffer_);
  }
  delete buffer_;
}

std::string LibbpfLogCapture::text() const {
  std::lock_guard lock(g_mu);
  return *buffer_;
}

std::string SummarizeLoadFailure(std::string_view out, int err) {
  std::string msg = std::strerror(err < 0 ? -err : err);
  // libbpf: "prog 'NAME': BPF program load failed: …" then "-- BEGIN PROG LOAD LOG --" … "-- END".
  size_t failed = out.find("BPF program load failed");
  if (failed != std::string_view::npos) {
    size_t line_start = out.rfind('\n', failed);
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    size_t line_end = out.find('\n', failed);
    msg = std::string(out.substr(line_start, line_end - line_start));
  }
  size_t begin = out.find("-- BEGIN PROG LOAD LOG --");
  size_t end = out.find("-- END PROG LOAD LOG --");
  if (begin != std::string_view::npos && end != std::string_view::npos && end > begin) {
    std::string_view log = out.substr(begin, end - begin);
    log.remove_prefix(log.find('\n') == std::string_view::npos ? log.size() : log.find('\n') + 1);
    // The verifier's verdict is at the end: keep the last 12 lines.
    size_t pos = log.size();
    int lines = 0;
    while (pos > 0 && lines < 13) {
      pos = log.rfind('\n', pos - 1);
      if (pos == std::string_view::npos) {
        pos = 0;
        break;
      }
      ++lines;
    }
    msg += "; verifier log (end):\n" + std::string(log.substr(pos));
  }
  return msg;
}

Result<BpfLinkPtr> AttachUprobe(bpf_program* prog, pid_t pid, const std::string& path,
                                uint64_t offset, bool retprobe) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.retprobe = retprobe;
  BpfLinkPtr link(bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), offset, &opts));
  if (link) return link;
  const int err = errno;
  const ErrorCode code = err == ESRCH || err == ENOENT   ? ErrorCode::kNotFound
                         : err == EPERM || err == EACCES ? ErrorCode::kPermissionDenied
                                                         : ErrorCode::kUnavailable;
  return MakeError(code, std::string(retprobe ? "uretprobe " : "uprobe ") +
                             bpf_program__name(prog) + " on " + path + "+" + HexAddress(offset) +
                             " for pid " + std::to_string(pid) + ": " + std::strerror(err));
}

}  // namespace gilstat::probes
