// The /proc/PID/maps parser (daemon/elf/proc_maps.*) on arbitrary text, as a process's mappings
// (paths are chosen by the process): ParseMaps, IsLibcPath and FindLibc over a fake /proc.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "elf/proc_maps.h"

namespace {

constexpr pid_t kPid = 4242;

// A fake /proc with one process whose maps file is the input.
const std::string& FakeProcRoot() {
  static const std::string root = [] {
    char tmpl[] = "/tmp/gilstat-fuzz-maps-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    const std::string dir = std::string(tmpl) + "/" + std::to_string(kPid);
    if (mkdir(dir.c_str(), 0700) != 0) std::abort();
    return std::string(tmpl);
  }();
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto entries = gilstat::probes::ParseMaps(text);
  if (entries.ok()) {
    for (const auto& e : *entries) {
      if (e.perms.size() != 4) std::abort();  // checked by the parser
      (void)gilstat::probes::IsLibcPath(e.path);
    }
  }
  (void)gilstat::probes::IsLibcPath(text);

  const std::string& root = FakeProcRoot();
  {
    // A new file each time: truncating one in place makes ext4 flush it on close.
    const std::string maps = root + "/" + std::to_string(kPid) + "/maps";
    std::remove(maps.c_str());
    std::ofstream out(maps);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  auto libc = gilstat::probes::FindLibc(kPid, root);
  if (libc.ok()) {
    // What it returns is an executable mapping of a libc path, as the maps line printed it.
    if (!gilstat::probes::IsLibcPath(libc->path) || libc->path.empty() || libc->path[0] != '/' ||
        libc->entry.path != libc->path || libc->entry.inode != libc->inode ||
        libc->entry.perms.size() < 3 || libc->entry.perms[2] != 'x') {
      std::abort();
    }
    if (!entries.ok()) std::abort();  // found in text the parser rejects
  }
  return 0;
}
