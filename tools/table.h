#ifndef AGENTLOG_TOOLS_TABLE_H_
#define AGENTLOG_TOOLS_TABLE_H_

#include <string>
#include <vector>

namespace agentlog::tools {

// A table of text printed with its columns aligned to their widest cell
// (counting UTF-8 code points), two spaces apart:
//   Table t({{"MODEL", Table::kLeft}, {"COST", Table::kRight}});
//   t.AddRow({"gpt", "$1.000000"});
//   t.Print();
// Cells are printed as given: cut long or multi-line text with Preview.
class Table {
 public:
  enum Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = kLeft;
  };

  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // REQUIRES: one cell per column.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // The header line, then each row, to stdout.
  void Print() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace agentlog::tools

#endif  // AGENTLOG_TOOLS_TABLE_H_
