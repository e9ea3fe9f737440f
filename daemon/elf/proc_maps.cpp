#include "elf/proc_maps.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gilstat/auxv.h"

namespace gilstat::probes {
namespace {

bool ParseHex(std::string_view s, uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Next space-separated field of `line` starting at `pos`.
std::string_view NextField(std::string_view line, size_t& pos) {
  while (pos < line.size() && line[pos] == ' ') ++pos;
  size_t start = pos;
  while (pos < line.size() && line[pos] != ' ') ++pos;
  return line.substr(start, pos - start);
}

}  // namespace

Result<std::vector<MapsEntry>> ParseMaps(std::string_view text) {
  std::vector<MapsEntry> out;
  size_t lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    if (line.empty()) continue;
    auto bad = [&] {
      return MakeError(ErrorCode::kInvalidArgument,
                       "maps line " + std::to_string(lineno) + " malformed: " + std::string(line));
    };
    size_t pos = 0;
    std::string_view range = NextField(line, pos);
    std::string_view perms = NextField(line, pos);
    std::string_view offset = NextField(line, pos);
    std::string_view dev = NextField(line, pos);
    std::string_view inode = NextField(line, pos);
    size_t dash = range.find('-');
    MapsEntry e;
    if (dash == std::string_view::npos || !ParseHex(range.substr(0, dash), e.start) ||
        !ParseHex(range.substr(dash + 1), e.end) || perms.size() != 4 ||
        !ParseHex(offset, e.offset) || dev.empty() || inode.empty()) {
      return bad();
    }
    auto r = std::from_chars(inode.data(), inode.data() + inode.size(), e.inode);
    if (r.ec != std::errc() || r.ptr != inode.data() + inode.size()) return bad();
    e.perms = perms;
    e.dev = dev;
    while (pos < line.size() && line[pos] == ' ') ++pos;
    e.path = line.substr(pos);  // paths may contain spaces
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<MapsEntry>> ReadProcMaps(pid_t pid, const std::string& proc_root) {
  const std::string dir = proc_root + "/" + std::to_string(pid);
  std::ifstream in(dir + "/maps");
  if (!in) {
    int err = errno;
    if (err == EACCES || err == EPERM) {
      return MakeError(ErrorCode::kPermissionDenied, "cannot read " + dir +
                                                         "/maps: " + std::strerror(err) +
                                                         " (needs root or CAP_SYS_PTRACE)");
    }
    if (err == ENOENT || err == ESRCH || access(dir.c_str(), F_OK) != 0) {
      return MakeError(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid));
    }
    return MakeError(ErrorCode::kUnavailable,
                     "cannot read " + dir + "/maps: " + std::strerror(err));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "cannot read " + dir + "/maps (needs root or CAP_SYS_PTRACE)");
  }
  return ParseMaps(ss.str());
}

bool IsLibcPath(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (base == "libc.so" || base.starts_with("libc.so.")) return true;
  if (base.starts_with("libc-") && base.ends_with(".so")) {  // libc-2.31.so
    std::string_view ver = base.substr(5, base.size() - 8);
    return !ver.empty() && ver.find_first_not_of("0123456789.") == std::string_view::npos;
  }
  return base.starts_with("ld-musl-") && base.ends_with(".so.1");
}

Result<LibcLocation> FindLibc(pid_t pid, const std::string& proc_root) {
  auto maps = ReadProcMaps(pid, proc_root);
  if (!maps) return maps.error();
  if (maps->empty()) {
    // Kernel threads and zombies have no mappings.
    return MakeError(ErrorCode::kNotFound, "process " + std::to_string(pid) +
                                               " has no memory mappings (kernel thread "
                                               "or exiting)");
  }
  for (const MapsEntry& e : *maps) {
    if (e.perms.size() < 3 || e.perms[2] != 'x' || e.path.empty() || e.path[0] != '/') continue;
    if (e.path.ends_with(" (deleted)")) continue;
    if (!IsLibcPath(e.path)) continue;
    LibcLocation loc;
    loc.path = e.path;
    loc.inode = e.inode;
    loc.entry = e;
    return loc;
  }
  if (auto dynamic = HasInterpreter(pid, proc_root); dynamic.ok() && *dynamic) {
    return MakeError(ErrorCode::kNotFound, "process " + std::to_string(pid) +
                                               " has not mapped libc yet (dynamically linked, "
                                               "its loader is still starting it)");
  }
  return MakeError(ErrorCode::kNotFound, "process " + std::to_string(pid) +
                                             " maps no libc (statically linked?): nothing to "
                                             "probe");
}

}  // namespace gilstat::probes
