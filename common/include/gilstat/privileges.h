// What the probes need from the system, said the same way by every message that reports a
// refusal (the daemon's start-up check, the loaders, the gilstat tool). docs/SERVICE.md explains
// each capability; systemd/gilstatd.service grants exactly these.
#pragma once

namespace gilstat {

inline constexpr const char* kPrivilegeAdvice =
    "run as root or with CAP_SYS_ADMIN (uprobes need it on kernels since 2025; older ones accept "
    "CAP_BPF and CAP_PERFMON), CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH";

}  // namespace gilstat
