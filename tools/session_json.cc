// Sessions as the agentlog command prints them.

#include "session_json.h"

#include <algorithm>

#include "json_writer.h"

namespace agentlog::tools {

std::string TagsText(const std::vector<std::string>& tags) {
  std::string out;
  for (const std::string& t : tags) {
    if (!out.empty()) out += ",";
    out += t;
  }
  return out;
}

std::string SessionJson(const Session& s) {
  std::string tags = "[";
  for (size_t i = 0; i < s.tags.size(); ++i) {
    if (i > 0) tags += ",";
    AppendJsonString(&tags, s.tags[i]);
  }
  tags += "]";
  std::string processing = "[";
  for (size_t i = 0; i < s.processing_turns.size(); ++i) {
    if (i > 0) processing += ",";
    processing += std::to_string(s.processing_turns[i]);
  }
  processing += "]";
  return JsonObject()
      .Add("id", s.id.ToString())
      .Add("agent", s.agent)
      .Add("model", s.model)
      .Add("title", s.title)
      .AddRaw("tags", tags)
      .Add("status", SessionStatusName(s.status))
      .Add("created_ms", s.created_ms)
      .Add("last_active_ms", s.last_active_ms)
      .Add("context_window", s.context_window)
      .Add("pinned", s.pinned)
      .Add("turns", s.turn_count)
      .Add("oldest_turn", std::max<uint64_t>(s.oldest_turn, 1))
      .Add("completed_turns", s.completed_turns)
      .Add("failed_turns", s.failed_turns)
      .AddRaw("processing_turns", processing)
      .Add("input_tokens", s.tokens.input)
      .Add("output_tokens", s.tokens.output)
      .Add("cache_read_tokens", s.tokens.cache_read)
      .Add("cache_write_tokens", s.tokens.cache_write)
      .Add("cost_micros", s.cost_micros)
      .Add("usage_records", s.usage_records)
      .Add("oldest_usage", std::max<uint64_t>(s.oldest_usage, 1))
      .Add("metadata_bytes", static_cast<uint64_t>(s.metadata.size()))
      .Add("echo_checked", s.echo.checked)
      .Add("echo_exact", s.echo.exact)
      .Add("echo_near", s.echo.near)
      .Add("echo_skipped", s.echo.skipped)
      .Finish();
}

}  // namespace agentlog::tools
