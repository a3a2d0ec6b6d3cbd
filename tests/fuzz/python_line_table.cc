// CPython line tables read from a profiled process's memory (co_lnotab ≤ 3.9, co_linetable 3.10,
// the location table 3.11+): the decoder of ranges and the per-instruction lookup
// (python::DecodeLineRanges, python::LineForInstruction). The first byte chooses the format, the
// next four the first line, the next eight the instruction; the rest is the table.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "profkit/python/line_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  profkit::python::LineTable table{};
  table.format = input.PickValueInArray({profkit::python::LineTableFormat::kLnotab,
                                         profkit::python::LineTableFormat::kLinetable310,
                                         profkit::python::LineTableFormat::kLocationTable});
  table.first_line = input.ConsumeIntegral<int32_t>();
  const int64_t instruction = input.ConsumeIntegral<int64_t>();
  const std::vector<uint8_t> bytes = input.ConsumeRemainingBytes<uint8_t>();
  table.bytes = bytes;
  (void)profkit::python::LineForInstruction(table, instruction);
  (void)profkit::python::LineForInstruction(table, instruction & 0xffff);
  (void)profkit::python::DecodeLineRanges(table);
  return 0;
}
