// RAII wrappers for libbpf handles and the routing of libbpf's own messages.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gilstat/result.h"

namespace gilstat::probes {

// A BPF link (uprobe, raw tracepoint …): destroying it detaches the program. Either a libbpf
// link or a bare link file descriptor (uprobe_multi links, which the libbpf of Debian 12 cannot
// create). Links also vanish when the process holding their fds dies.
class BpfLinkPtr {
 public:
  BpfLinkPtr() = default;
  explicit BpfLinkPtr(bpf_link* link) : link_(link) {}
  static BpfLinkPtr FromFd(int fd) {
    BpfLinkPtr l;
    l.fd_ = fd;
    return l;
  }
  BpfLinkPtr(BpfLinkPtr&& o) noexcept : link_(o.link_), fd_(o.fd_) {
    o.link_ = nullptr;
    o.fd_ = -1;
  }
  BpfLinkPtr& operator=(BpfLinkPtr&& o) noexcept {
    if (this != &o) {
      reset();
      std::swap(link_, o.link_);
      std::swap(fd_, o.fd_);
    }
    return *this;
  }
  BpfLinkPtr(const BpfLinkPtr&) = delete;
  BpfLinkPtr& operator=(const BpfLinkPtr&) = delete;
  ~BpfLinkPtr() { reset(); }

  explicit operator bool() const { return link_ != nullptr || fd_ >= 0; }
  int fd() const { return link_ ? bpf_link__fd(link_) : fd_; }
  void reset();

 private:
  bpf_link* link_ = nullptr;
  int fd_ = -1;
};

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

// Calls `fn(key)` for every key of the BPF map `fd` (keys of type Key), in the map's order.
// Entries deleted meanwhile by others may be skipped or the walk restarted by the kernel.
template <typename Key, typename Fn>
void ForEachMapKey(int fd, Fn fn) {
  Key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    fn(next);
    key = next;
    prev = &key;
  }
}

// Deletes the keys of the BPF map `fd` (keys of type Key) for which `doomed(key)` holds. The
// keys are collected first: deleting while walking may restart the walk.
template <typename Key, typename Pred>
void DeleteMapKeysIf(int fd, Pred doomed) {
  std::vector<Key> keys;
  ForEachMapKey<Key>(fd, [&](const Key& k) {
    if (doomed(k)) keys.push_back(k);
  });
  for (const Key& k : keys) bpf_map_delete_elem(fd, &k);
}

// Counters 0..n-1 of the per-CPU array map `fd`, each summed over CPUs. kInternal when one
// cannot be read (the probes' health then says so in read_errors).
Result<std::vector<uint64_t>> ReadPerCpuCounters(int fd, uint32_t n);

// A BPF array map created with BPF_F_MMAPABLE, mapped into the loader: values read and written
// in place, with atomic operations where programs update the same words concurrently.
template <typename T>
class MappedBpfArray {
 public:
  MappedBpfArray() = default;
  MappedBpfArray(const MappedBpfArray&) = delete;
  MappedBpfArray& operator=(const MappedBpfArray&) = delete;
  ~MappedBpfArray() {
    if (mem_ != nullptr) munmap(mem_, len_);
  }

  // Maps the array `map` (once); false, with nothing mapped, when the kernel refuses.
  bool Map(const bpf_map* map) {
    if (mem_ != nullptr) return true;
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const uint32_t n = bpf_map__max_entries(map);
    const size_t len = (static_cast<size_t>(n) * sizeof(T) + page - 1) / page * page;
    void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
    if (mem == MAP_FAILED) return false;
    mem_ = static_cast<T*>(mem);
    len_ = len;
    n_ = n;
    return true;
  }
  bool mapped() const { return mem_ != nullptr; }
  uint32_t size() const { return n_; }
  T& operator[](uint32_t i) const { return mem_[i]; }

 private:
  T* mem_ = nullptr;
  size_t len_ = 0;
  uint32_t n_ = 0;
};

// The process (thread group) of a bpf_get_current_pid_tgid() value.
inline uint32_t TgidOf(uint64_t pid_tgid) { return static_cast<uint32_t>(pid_tgid >> 32); }

// Whether this kernel has BPF uprobe_multi links (Linux 6.6+): one link for many sites of one
// file in one process, created without the kernel's global trace-event mutex and destroyed with
// one grace period for all its sites (perf-event uprobes: one each, serialised host-wide).
// Probed once by creating a link that must fail with EBADF. False when PerfUprobeLinksForced().
bool KernelHasUprobeMulti();
// Whether the environment asks for perf-event uprobe links (GILSTAT_UPROBE_LINKS=perf).
bool PerfUprobeLinksForced();

// Before loading `obj`: when the kernel has uprobe_multi links, marks its uprobe programs
// (kprobe type) to be attached that way. Returns whether it did. Programs marked so can only be
// attached with AttachUprobes, which then creates uprobe_multi links.
bool PrepareUprobeMulti(bpf_object* obj);

// Attaches `prog` at the `offsets` of `path`, for process `pid` only, as uprobes or uretprobes:
// one uprobe_multi link if the program was prepared for it, else one perf-event link per
// offset. Errors: kNotFound (no such process or file), kPermissionDenied, kUnavailable; the
// message names the program, the sites and the pid.
Result<std::vector<BpfLinkPtr>> AttachUprobes(bpf_program* prog, pid_t pid, const std::string& path,
                                              const std::vector<uint64_t>& offsets, bool retprobe);

}  // namespace gilstat::probes
