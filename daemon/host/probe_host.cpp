#include "host/probe_host.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "gilstat/privileges.h"
#include "probes/probe_lifecycle.h"
#include "probes/proctrack_probe.h"
#include "tracker/proc.h"

namespace gilstat::host {
namespace {

class SemlockLockProbe final : public LockProbe {
 public:
  explicit SemlockLockProbe(std::unique_ptr<probes::SemlockProbe> probe)
      : probe_(std::move(probe)) {}
  Status Attach(pid_t pid) override { return probe_->Attach(pid).status(); }
  Status Detach(pid_t pid) override { return probe_->Detach(pid); }
  Result<std::vector<SemLockStats>> ReadLocks() override { return probe_->ReadLocks(); }
  ProbeHealth ReadHealth() override { return probe_->ReadHealth(); }
  probes::SemlockProbe& probe() const { return *probe_; }

 private:
  std::unique_ptr<probes::SemlockProbe> probe_;
};

}  // namespace

Result<std::unique_ptr<LockProbe>> OpenSemlockProbe(const probes::SemlockOptions& options) {
  auto probe = probes::SemlockProbe::Open(options);
  if (!probe.ok()) return probe.error();
  return std::unique_ptr<LockProbe>(new SemlockLockProbe(std::move(probe).value()));
}

probes::SemlockProbe* SemlockProbeOf(LockProbe& probe) {
  auto* real = dynamic_cast<SemlockLockProbe*>(&probe);
  return real ? &real->probe() : nullptr;
}

const probes::FutexProgramInfo* FutexProgramOf(const LockProbe& probe) {
  const auto* real = dynamic_cast<const SemlockLockProbe*>(&probe);
  return real ? &real->probe().futex_program() : nullptr;
}

Result<std::unique_ptr<LockProbe>> OpenSemlockProbe(ProbeMode mode) {
  probes::SemlockOptions opts;
  opts.mode = mode;
  return OpenSemlockProbe(opts);
}

Result<std::unique_ptr<ProcEventSource>> OpenProctrackProbe() {
  auto src = probes::ProctrackProbe::Open();
  if (!src.ok()) return src.error();
  return std::unique_ptr<ProcEventSource>(std::move(src).value());
}

bool CapabilitiesSuffice(uint64_t cap_eff) {
  constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
  auto has = [&](int cap) { return (cap_eff >> cap) & 1; };
  return has(kCapSysAdmin) || (has(kCapBpf) && has(kCapPerfmon));
}

Status CheckPrivileges(const std::string& self_status_path) {
  auto status = tracker::ReadSmallFile(self_status_path);
  uint64_t cap_eff = 0;
  bool found = false;
  if (status.ok()) {
    std::string_view s = *status;
    size_t pos = s.find("\nCapEff:");
    if (pos != std::string_view::npos) {
      std::string hex(s.substr(pos + 8, s.find('\n', pos + 1) - pos - 8));
      char* end = nullptr;
      cap_eff = std::strtoull(hex.c_str(), &end, 16);
      found = end != hex.c_str();
    }
  }
  if (!found) cap_eff = ::geteuid() == 0 ? ~uint64_t{0} : 0;  // no status file: go by the uid
  if (CapabilitiesSuffice(cap_eff)) return Status::Ok();
  return MakeError(ErrorCode::kPermissionDenied,
                   std::string("missing privileges: ") + kPrivilegeAdvice);
}

Status CheckBtf(const std::string& btf_path) { return probes::CheckKernelBtf(btf_path); }

}  // namespace gilstat::host
