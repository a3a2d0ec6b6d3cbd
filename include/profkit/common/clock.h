#pragma once

#include <cstdint>
#include <string>

namespace profkit {

int64_t WallTimeNanos();   // CLOCK_REALTIME, ns since the Unix epoch
int64_t MonotonicNanos();  // CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() uses
int64_t BootTimeNanos();   // CLOCK_BOOTTIME

// "2026-11-22T01:38:13.123456789Z" (UTC, always nine fraction digits, like Go's RFC3339Nano
// without its trailing-zero trimming; every RFC 3339 parser accepts it).
std::string FormatRfc3339Nano(int64_t unix_nanos);
// "20261122T013813Z": a sortable, shell- and Windows-safe file name stem.
std::string FormatFileTimestamp(int64_t unix_nanos);

}  // namespace profkit
