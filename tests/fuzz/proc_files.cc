// /proc/<pid>/{maps,stat,environ,cmdline} of any process (process/proc_parsers.h): a process
// chooses its own name, command line, environment and the paths it maps. The first byte chooses
// the file.
#include <cstdint>

#include "fuzz_support.h"
#include "profkit/process/proc_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto text = profkit::fuzz::AsText(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      (void)profkit::process::ParseProcMaps(text);
      break;
    case 1:
      (void)profkit::process::ParseProcStat(text);
      break;
    case 2: {
      const auto environment = profkit::process::ParseServiceEnvironment(text);
      (void)profkit::process::ResolveServiceIdentity(environment, "fuzz", "prod");
      break;
    }
    default: {
      const auto argv = profkit::process::SplitNulSeparated(text);
      (void)profkit::process::PythonScriptName(argv);
      (void)profkit::process::ExecutableName(argv.empty() ? "" : argv[0], "comm");
      break;
    }
  }
  return 0;
}
