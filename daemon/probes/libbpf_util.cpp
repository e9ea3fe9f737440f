#include "probes/libbpf_util.h"

#include "gilstat/format.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
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

void BpfLinkPtr::reset() {
  if (link_) bpf_link__destroy(link_);
  if (fd_ >= 0) close(fd_);
  link_ = nullptr;
  fd_ = -1;
}

namespace {

Error UprobeError(int err, bpf_program* prog, pid_t pid, const std::string& path,
                  const std::string& where, bool retprobe) {
  const ErrorCode code = err == ESRCH || err == ENOENT   ? ErrorCode::kNotFound
                         : err == EPERM || err == EACCES ? ErrorCode::kPermissionDenied
                                                         : ErrorCode::kUnavailable;
  return Error{code, std::string(retprobe ? "uretprobe " : "uprobe ") + bpf_program__name(prog) +
                         " on " + path + "+" + where + " for pid " + std::to_string(pid) + ": " +
                         std::strerror(err)};
}

// The kernel's ABI for BPF_LINK_CREATE of a uprobe_multi link (include/uapi/linux/bpf.h of
// Linux 6.6+; the headers of Debian 12 predate it): link_create's common head, then the
// uprobe_multi member of its union.
constexpr uint32_t kAttachUprobeMulti = 48;  // BPF_TRACE_UPROBE_MULTI
constexpr uint32_t kUprobeMultiReturn = 1;   // BPF_F_UPROBE_MULTI_RETURN
struct UprobeMultiLinkAttr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t cnt;
  uint32_t multi_flags;
  uint32_t pid;
};
static_assert(sizeof(UprobeMultiLinkAttr) <= sizeof(union bpf_attr));

int CreateUprobeMultiLink(int prog_fd, const char* path, const uint64_t* offsets, uint32_t cnt,
                          bool retprobe, pid_t pid) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  UprobeMultiLinkAttr a{};
  a.prog_fd = static_cast<uint32_t>(prog_fd);
  a.attach_type = kAttachUprobeMulti;
  a.path = reinterpret_cast<uintptr_t>(path);
  a.offsets = reinterpret_cast<uintptr_t>(offsets);
  a.cnt = cnt;
  a.multi_flags = retprobe ? kUprobeMultiReturn : 0;
  a.pid = static_cast<uint32_t>(pid);
  std::memcpy(&attr, &a, sizeof a);
  return static_cast<int>(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr));
}

bool ProbeUprobeMulti() {
  // A program of the kind uprobe_multi links take: r0 = 0; exit.
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts);
  opts.expected_attach_type = static_cast<bpf_attach_type>(kAttachUprobeMulti);
  const int prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "gilstat_probe", "GPL", insns,
                                 sizeof insns / sizeof insns[0], &opts);
  if (prog < 0) return false;
  // A directory is no file to probe: a kernel with uprobe_multi says EBADF, one without it
  // rejects the attach type (EINVAL).
  const uint64_t offset = 0;
  const int link = CreateUprobeMultiLink(prog, "/", &offset, 1, false, 0);
  const int err = errno;
  if (link >= 0) close(link);
  close(prog);
  return link < 0 && err == EBADF;
}

// A perf-event uprobe (or uretprobe) of `prog` at `path`+`offset` for process `pid` only.
Result<BpfLinkPtr> AttachUprobe(bpf_program* prog, pid_t pid, const std::string& path,
                                uint64_t offset, bool retprobe) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.retprobe = retprobe;
  BpfLinkPtr link(bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), offset, &opts));
  if (link) return link;
  return UprobeError(errno, prog, pid, path, HexAddress(offset), retprobe);
}

}  // namespace

bool KernelHasUprobeMulti() {
  // GILSTAT_UPROBE_LINKS=perf: perf-event links even where uprobe_multi exists (what kernels
  // before 6.6, Debian 12's 6.1 among them, get; the tests run both).
  static const bool has = !PerfUprobeLinksForced() && ProbeUprobeMulti();
  return has;
}

bool PerfUprobeLinksForced() {
  const char* v = std::getenv("GILSTAT_UPROBE_LINKS");
  return v != nullptr && std::string_view(v) == "perf";
}

bool PrepareUprobeMulti(bpf_object* obj) {
  if (!KernelHasUprobeMulti()) return false;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE) {
      bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(kAttachUprobeMulti));
    }
  }
  return true;
}

Result<std::vector<BpfLinkPtr>> AttachUprobes(bpf_program* prog, pid_t pid, const std::string& path,
                                              const std::vector<uint64_t>& offsets, bool retprobe) {
  std::vector<BpfLinkPtr> links;
  if (offsets.empty()) return links;
  if (bpf_program__expected_attach_type(prog) == static_cast<bpf_attach_type>(kAttachUprobeMulti)) {
    const int fd = CreateUprobeMultiLink(bpf_program__fd(prog), path.c_str(), offsets.data(),
                                         static_cast<uint32_t>(offsets.size()), retprobe, pid);
    if (fd < 0) {
      std::string where;
      for (uint64_t off : offsets) where += (where.empty() ? "" : ",") + HexAddress(off);
      return UprobeError(errno, prog, pid, path, where, retprobe);
    }
    links.push_back(BpfLinkPtr::FromFd(fd));
    return links;
  }
  for (uint64_t off : offsets) {
    auto l = AttachUprobe(prog, pid, path, off, retprobe);
    if (!l) return l.error();
    links.push_back(std::move(*l));
  }
  return links;
}

Result<std::vector<uint64_t>> ReadPerCpuCounters(int fd, uint32_t n) {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return MakeError(ErrorCode::kInternal, "cannot count possible CPUs");
  std::vector<uint64_t> out(n);
  std::vector<uint64_t> cpus(static_cast<size_t>(ncpus));
  for (uint32_t i = 0; i < n; ++i) {
    if (bpf_map_lookup_elem(fd, &i, cpus.data()) != 0) {
      return MakeError(ErrorCode::kInternal,
                       std::string("reading probe counters: ") + std::strerror(errno));
    }
    for (uint64_t v : cpus) out[i] += v;
  }
  return out;
}

}  // namespace gilstat::probes
