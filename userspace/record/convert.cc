#include "profkit/record/convert.h"

#include "profkit/common/file_util.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/profile/stack_profile.h"

namespace profkit::record {

Result<ConvertSummary> ConvertProfile(const ConvertOptions& options) {
  PROFKIT_ASSIGN_OR_RETURN(std::string bytes,
                           ReadFileBounded(options.input, options.max_profile_bytes, false)
                               .WithContext(fmt::format("reading {}", options.input)));
  PROFKIT_ASSIGN_OR_RETURN(
      perftools::profiles::Profile pprof,
      profile::ParsePprof(bytes, options.max_profile_bytes)
          .WithContext(fmt::format("{} is not a pprof profile profkit can read", options.input)));
  profile::StackProfile stacks = profile::StackProfileFromPprof(pprof);
  stacks.info.title = PathBasename(options.input);
  PROFKIT_RETURN_IF_ERROR(
      WriteFileAtomically(options.output,
                          profile::RenderView(stacks, options.format, options.view_options))
          .WithContext(fmt::format("writing {}", options.output)));
  return ConvertSummary{.stacks = stacks.stacks().size(), .total = stacks.total()};
}

}  // namespace profkit::record
