// What every program that hosts the probes needs (the gilstat command and gilstatd): the
// semaphore probe seen as an Attacher the tracker can drive, the exec/exit event source, and
// the checks of the environment that turn into clear start-up errors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gilstat/lock_stats.h"
#include "gilstat/probe_mode.h"
#include "gilstat/result.h"
#include "probes/semlock_probe.h"
#include "tracker/tracker.h"

namespace gilstat::host {

// The probe as its users see it: attachable per process, readable as plain structs.
class LockProbe : public tracker::Attacher, public LockStatsSource {};

// The real semaphore probe (daemon/probes/semlock_probe.h) behind LockProbe.
Result<std::unique_ptr<LockProbe>> OpenSemlockProbe(ProbeMode mode);
Result<std::unique_ptr<LockProbe>> OpenSemlockProbe(const probes::SemlockOptions& options);
// The semaphore probe behind a probe opened by OpenSemlockProbe (nullptr for another LockProbe).
probes::SemlockProbe* SemlockProbeOf(LockProbe& probe);
// The futex programs of a probe opened by OpenSemlockProbe (nullptr for another LockProbe).
const probes::FutexProgramInfo* FutexProgramOf(const LockProbe& probe);
// The real exec/exit event source (bpf/proctrack.bpf.c).
Result<std::unique_ptr<ProcEventSource>> OpenProctrackProbe();

// Whether the effective capability set (CapEff of /proc/PID/status, hex) allows loading the
// probes: CAP_SYS_ADMIN, or CAP_BPF together with CAP_PERFMON. Creating uprobes needs
// CAP_SYS_ADMIN on kernels since mid-2025; with only CAP_BPF + CAP_PERFMON there the attach
// itself fails with "permission denied" (counted per process).
bool CapabilitiesSuffice(uint64_t cap_eff);
// kPermissionDenied with a one-line explanation when the capabilities do not suffice.
Status CheckPrivileges(const std::string& self_status_path);
// kUnavailable when the kernel has no BTF.
Status CheckBtf(const std::string& btf_path);

}  // namespace gilstat::host
