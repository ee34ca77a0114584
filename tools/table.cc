#include "table.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace agentlog::tools {
namespace {

size_t Width(std::string_view text) {
  // Code points: every byte that does not continue a UTF-8 sequence.
  return std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  });
}

}  // namespace

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print() const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = Width(columns_[c].header);
    for (const auto& row : rows_)
      widths[c] = std::max(widths[c], Width(row[c]));
  }
  auto print_line = [&](auto cell_of) {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string_view cell = cell_of(c);
      const std::string pad(widths[c] - Width(cell), ' ');
      if (c > 0) line += "  ";
      if (columns_[c].align == kRight) line += pad;
      line += cell;
      // No trailing blanks after the last column.
      if (columns_[c].align == kLeft && c + 1 < columns_.size()) line += pad;
    }
    line.push_back('\n');
    fmt::print("{}", line);
  };
  print_line([&](size_t c) -> std::string_view { return columns_[c].header; });
  for (const auto& row : rows_) {
    print_line([&](size_t c) -> std::string_view { return row[c]; });
  }
}

}  // namespace agentlog::tools
