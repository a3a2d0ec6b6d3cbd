#include "profkit/record/convert.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/file_util.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/profile/stack_profile.h"

namespace profkit::record {
namespace {

// The index of sample type `name`; the error lists the profile's types.
Result<int> SampleTypeIndex(const perftools::profiles::Profile& pprof, std::string_view name) {
  std::vector<std::string> names;
  for (int i = 0; i < pprof.sample_type_size(); ++i) {
    const std::string& type = pprof.string_table(static_cast<int>(pprof.sample_type(i).type()));
    if (type == name) return i;
    names.push_back(type);
  }
  return Status::InvalidInputf("the profile has no sample type '{}'; it has: {}", name,
                               fmt::join(names, ", "));
}

}  // namespace

Result<ConvertSummary> ConvertProfile(const ConvertOptions& options) {
  PROFKIT_ASSIGN_OR_RETURN(std::string bytes,
                           ReadFileBounded(options.input, options.max_profile_bytes, false)
                               .WithContext(fmt::format("reading {}", options.input)));
  PROFKIT_ASSIGN_OR_RETURN(
      perftools::profiles::Profile pprof,
      profile::ParsePprof(bytes, options.max_profile_bytes)
          .WithContext(fmt::format("{} is not a pprof profile profkit can read", options.input)));
  profile::StackProfile stacks = profile::StackProfileFromPprof(pprof);
  if (!options.sample_type.empty()) {
    PROFKIT_ASSIGN_OR_RETURN(const int index, SampleTypeIndex(pprof, options.sample_type));
    stacks = profile::StackProfileFromPprof(pprof, index);
  }
  stacks.info.title = PathBasename(options.input);
  PROFKIT_RETURN_IF_ERROR(
      WriteFileAtomically(options.output,
                          profile::RenderView(stacks, options.format, options.view_options))
          .WithContext(fmt::format("writing {}", options.output)));
  return ConvertSummary{.stacks = stacks.stacks().size(), .total = stacks.total()};
}

}  // namespace profkit::record
