#ifndef AGENTLOG_TOOLS_CSV_WRITER_H_
#define AGENTLOG_TOOLS_CSV_WRITER_H_

#include <initializer_list>
#include <string>
#include <string_view>

namespace agentlog::tools {

// One CSV record as RFC 4180 has it: fields joined by commas and ended by
// CRLF. A field holding a comma, a double quote, CR or LF is quoted, its
// quotes doubled; others are written as they are. Bytes pass through
// unchanged (the tool's text is UTF-8).
//   fputs(CsvRow({"name", "records"}).c_str(), stdout);
std::string CsvRow(std::initializer_list<std::string_view> fields);

// Appends one field of a CSV record to `out`, quoted when it must be.
void AppendCsvField(std::string* out, std::string_view field);

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_CSV_WRITER_H_
