#include "probes/probe_lifecycle.h"
#include "gilstat/privileges.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gilstat::probes {

Status CheckKernelBtf(const std::string& btf_path) {
  if (::access(btf_path.c_str(), R_OK) == 0) return Status::Ok();
  return MakeError(ErrorCode::kUnavailable,
                   "the kernel has no BTF (" + btf_path +
                       " is missing); a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed");
}

Error SkeletonOpenError(std::string_view name, int err) {
  return MakeError(ErrorCode::kInternal, "opening the " + std::string(name) +
                                             " BPF object failed: " + std::strerror(err));
}

Error SkeletonLoadError(std::string_view name, int err, std::string_view libbpf_log) {
  if (err == -EPERM || err == -EACCES) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "loading the " + std::string(name) + " BPF programs was refused (" +
                         std::strerror(-err) + "): " + kPrivilegeAdvice + "; " +
                         SummarizeLoadFailure(libbpf_log, err));
  }
  return MakeError(ErrorCode::kInternal,
                   "loading the " + std::string(name) +
                       " BPF programs failed: " + SummarizeLoadFailure(libbpf_log, err));
}

Status AttachKernelPrograms(const std::vector<bpf_program*>& progs,
                            std::vector<BpfLinkPtr>& links) {
  if (!links.empty()) return Status::Ok();
  for (bpf_program* prog : progs) {
    BpfLinkPtr link(bpf_program__attach(prog));
    if (!link) {
      const int err = errno;
      links.clear();
      return MakeError(err == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kUnavailable,
                       std::string("attaching the kernel program ") + bpf_program__name(prog) +
                           " failed: " + std::strerror(err));
    }
    links.push_back(std::move(link));
  }
  return Status::Ok();
}

Status CheckPid(pid_t pid) {
  if (pid > 0) return Status::Ok();
  return MakeError(ErrorCode::kInvalidArgument, "invalid pid " + std::to_string(pid));
}

}  // namespace gilstat::probes
