// RAII wrappers for libbpf handles and the routing of libbpf's own messages.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gilstat/result.h"

namespace gilstat::probes {

struct BpfLinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
// A BPF link (uprobe, fentry …): destroying it detaches the program. Perf-event based uprobe
// links also vanish when the process holding the fd dies.
using BpfLinkPtr = std::unique_ptr<bpf_link, BpfLinkDeleter>;

enum class LibbpfLevel { kWarn, kInfo, kDebug };
using LibbpfLogFn = std::function<void(LibbpfLevel, std::string_view)>;

// Routes libbpf's printing (process-wide) to `fn`; an empty function restores the default
// (warnings to stderr, nothing else). Messages are also collected by any live LibbpfLogCapture.
void SetLibbpfLogger(LibbpfLogFn fn);

// While alive, collects every libbpf message (all levels) printed by any thread, e.g. the
// verifier log of a failed load.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;
  std::string text() const;

 private:
  std::string* buffer_;
};

// A readable summary of a failed load from captured libbpf output: the program that failed and
// the last lines of its verifier log.
std::string SummarizeLoadFailure(std::string_view libbpf_output, int err);

// Deletes the keys of the BPF map `fd` (keys of type Key) for which `doomed(key)` holds. The
// keys are collected first: deleting while walking may restart the walk.
template <typename Key, typename Pred>
void DeleteMapKeysIf(int fd, Pred doomed) {
  std::vector<Key> keys;
  Key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (doomed(next)) keys.push_back(next);
    key = next;
    prev = &key;
  }
  for (const Key& k : keys) bpf_map_delete_elem(fd, &k);
}

// The process (thread group) of a bpf_get_current_pid_tgid() value.
inline uint32_t TgidOf(uint64_t pid_tgid) { return static_cast<uint32_t>(pid_tgid >> 32); }

// A uprobe (or uretprobe) of `prog` at `path`+`offset` for process `pid` only. Errors:
// kNotFound (no such process or file), kPermissionDenied, kUnavailable; the message names the
// program, the site and the pid.
Result<BpfLinkPtr> AttachUprobe(bpf_program* prog, pid_t pid, const std::string& path,
                                uint64_t offset, bool retprobe);

}  // namespace gilstat::probes
