#include "profkit/ingest/upload_rewrite.h"
#include "profkit/common/quoted.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>

namespace profkit::ingest {
namespace {

using Json = nlohmann::ordered_json;

// DataKit's LangMaps (docs/datakit-protocol.md §2).
constexpr std::array<std::pair<std::string_view, std::string_view>, 23> kLanguages = {{
    {"javascript", "nodejs"}, {"pyroscope-rs", "rust"}, {"cplusplus", "cpp"}, {"java", "java"},
    {"jvm", "java"},          {"kotlin", "java"},       {"scala", "java"},    {"python", "python"},
    {"dotnet", "dotnet"},     {"ruby", "ruby"},         {"nodejs", "nodejs"}, {"node.js", "nodejs"},
    {"node", "nodejs"},       {"rust", "rust"},         {"php", "php"},       {"cpp", "cpp"},
    {"c++", "cpp"},           {".net", "dotnet"},       {"c#", "dotnet"},     {"csharp", "dotnet"},
    {"golang", "golang"},     {"go", "golang"},         {"js", "nodejs"},
}};

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Sanitize(std::string_view text, bool is_key) {
  std::string out(text);
  for (char& c : out) {
    if (c == ',' || (is_key && c == ':')) c = '_';
  }
  return out;
}

// Sets `key` unless it is already present with a non-empty value (DataKit's fill rule).
void Fill(Tags* tags, std::string key, std::string value) {
  const auto it =
      std::find_if(tags->begin(), tags->end(), [&](const auto& tag) { return tag.first == key; });
  if (it == tags->end()) {
    tags->emplace_back(std::move(key), std::move(value));
  } else if (it->second.empty()) {
    it->second = std::move(value);
  }
}

void Override(Tags* tags, std::string key, std::string value) {
  const auto it =
      std::find_if(tags->begin(), tags->end(), [&](const auto& tag) { return tag.first == key; });
  if (it == tags->end()) {
    tags->emplace_back(std::move(key), std::move(value));
  } else {
    it->second = std::move(value);
  }
}

std::string Get(const Tags& tags, std::string_view key) {
  for (const auto& [k, v] : tags) {
    if (k == key) return v;
  }
  return "";
}

bool IsEventPart(const net::Part& part) {
  return part.has_filename &&
         (part.name == "event" || part.name == "event.json" || part.filename == "event.json");
}

// The attachment name DataKit lists: the field name when it has an extension, else the filename.
std::string AttachmentName(const net::Part& part) {
  // v3 wraps names: data[auto.pprof].
  std::string_view name = part.name;
  if (name.size() > 6 && name.substr(0, 5) == "data[" && name.back() == ']') {
    name = name.substr(5, name.size() - 6);
  }
  if (name.find('.') != std::string_view::npos || part.filename.empty()) return std::string(name);
  return part.filename;
}

std::string JoinTags(const Tags& tags) {
  std::string out;
  for (const auto& [key, value] : tags) {
    if (!out.empty()) out += ',';
    out += key;
    out += ':';
    out += value;
  }
  return out;
}

}  // namespace

std::pair<std::string, std::string> ParseTag(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return {std::string(text), ""};
  return {std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

std::string ResolveLanguage(const std::vector<std::string>& values) {
  for (const std::string& value : values) {
    const std::string lower = Lower(value);
    for (const auto& [key, language] : kLanguages) {
      if (lower == key) return std::string(language);
    }
  }
  for (const std::string& value : values) {
    const std::string lower = Lower(value);
    std::string_view best_key, best;
    for (const auto& [key, language] : kLanguages) {
      if (key.size() > best_key.size() && lower.find(key) != std::string::npos) {
        best_key = key;
        best = language;
      }
    }
    if (!best.empty()) return std::string(best);
  }
  return "unknown";
}

Result<RewrittenUpload> RewriteUpload(const std::vector<net::Part>& parts,
                                      const RewriteOptions& options) {
  RewrittenUpload out;
  Tags client;
  Json event = Json::object();
  const net::Part* event_part = nullptr;
  bool legacy = false;
  std::vector<const net::Part*> fields;
  for (const net::Part& part : parts) {
    if (!part.has_filename) {
      if (part.name == "tags[]") {
        legacy = true;
        client.push_back(ParseTag(part.data));
      } else {
        fields.push_back(&part);
      }
    } else if (IsEventPart(part)) {
      if (event_part == nullptr) event_part = &part;
    } else {
      out.attachments.push_back(&part);
    }
  }

  if (legacy) {
    // v1/v3: plain fields fill what the tags left empty (DataKit's mixFormValueToTags).
    for (const net::Part* field : fields) Fill(&client, field->name, std::string(field->data));
    const std::string start = Get(client, "recording-start");
    const std::string end = Get(client, "recording-end");
    out.start = start.empty() ? Get(client, "start") : start;
    out.end = end.empty() ? Get(client, "end") : end;
  } else if (event_part != nullptr) {
    event = Json::parse(event_part->data, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded()) {
      return Status::InvalidInputf("the {} part is not valid JSON", Quoted(event_part->name));
    }
    if (!event.is_object())
      return Status::InvalidInputf("the {} part is not a JSON object", Quoted(event_part->name));
    if (const auto it = event.find("tags_profiler"); it != event.end()) {
      if (!it->is_string()) return Status::InvalidInput("event tags_profiler is not a string");
      std::string_view text = it->get_ref<const std::string&>();
      while (!text.empty()) {
        const size_t comma = text.find(',');
        if (comma != 0) client.push_back(ParseTag(text.substr(0, comma)));
        text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
      }
    }
    for (const char* key : {"start", "end"}) {
      if (const auto it = event.find(key); it != event.end() && it->is_string()) {
        (std::string_view(key) == "start" ? out.start : out.end) = it->get<std::string>();
      }
    }
  } else {
    return Status::InvalidInput(
        "no event part (event.json) and no legacy tags[] fields: not a Datadog profile upload");
  }

  // Merge: client tags < [inputs.profile.tags]; host filled when missing.
  Tags merged;
  for (auto& [key, value] : client) {
    Override(&merged, Sanitize(key, /*is_key=*/true), Sanitize(value, /*is_key=*/false));
  }
  for (const auto& [key, value] : options.sender_tags) {
    Fill(&merged, Sanitize(key, true), Sanitize(value, false));
  }
  for (const auto& [key, value] : options.tags) {
    Override(&merged, Sanitize(key, true), Sanitize(value, false));
  }
  if (Get(merged, "host").empty() && !options.host.empty()) {
    Override(&merged, "host", Sanitize(options.host, false));
  }

  std::vector<std::string> language_values;
  for (const char* key : {"language", "runtime", "family"}) {
    std::string value = Get(client, key);
    if (value.empty() && event.contains(key) && event[key].is_string()) value = event[key];
    if (!value.empty()) language_values.push_back(std::move(value));
  }
  out.language = ResolveLanguage(language_values);
  out.service = Get(merged, "service");

  // The event keeps every client field; profkit sets what DataKit's schema needs.
  Json attachments = Json::array();
  bool has_pprof = false, has_jfr = false;
  for (const net::Part* part : out.attachments) {
    const std::string name = AttachmentName(*part);
    has_pprof |= name.ends_with(".pprof") || name.ends_with(".pb.gz") || name == "pprof-data";
    has_jfr |= name.ends_with(".jfr");
    attachments.push_back(name);
  }
  event["attachments"] = std::move(attachments);
  event["language"] = out.language;
  event["tags_profiler"] = JoinTags(merged);
  if (!event.contains("format") || !event["format"].is_string()) {
    const std::string format = Get(client, "format");
    event["format"] = !format.empty() ? format : has_jfr ? "jfr" : has_pprof ? "pprof" : "unknown";
  }
  if (!out.start.empty()) event["start"] = out.start;
  if (!out.end.empty()) event["end"] = out.end;
  if (legacy && !Get(client, "family").empty()) event["family"] = Get(client, "family");

  const std::string event_json = event.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::vector<forward::MultipartPart> output;
  output.push_back({"event", "event.json", true, "application/json", event_json});
  for (const net::Part* part : out.attachments) {
    output.push_back({part->name, part->filename, true, part->content_type, part->data});
  }
  out.multipart = forward::BuildMultipart(output);
  out.tags = std::move(merged);
  return out;
}

}  // namespace profkit::ingest
