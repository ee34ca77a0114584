#ifndef AGENTLOG_TOOLS_JSON_WRITER_H_
#define AGENTLOG_TOOLS_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace agentlog::tools {

// Appends `text` as a JSON string literal (quotes included). Bytes that are
// not valid UTF-8 become U+FFFD so that the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view text);

// Builds one JSON object a field at a time:
//   JsonObject o; o.Add("id", id); o.Add("turns", 3); puts(o.Finish());
class JsonObject {
 public:
  JsonObject& Add(std::string_view key, std::string_view value);
  JsonObject& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  JsonObject& Add(std::string_view key, int64_t value);
  JsonObject& Add(std::string_view key, uint64_t value);
  JsonObject& Add(std::string_view key, int value) {
    return Add(key, static_cast<int64_t>(value));
  }
  JsonObject& Add(std::string_view key, bool value);
  // `json` must already be valid JSON (an object, array or literal).
  JsonObject& AddRaw(std::string_view key, std::string_view json);
  // The object's text; the builder is spent afterwards.
  std::string Finish();

 private:
  void Key(std::string_view key);
  std::string text_ = "{";
};

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_JSON_WRITER_H_
