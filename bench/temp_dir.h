#ifndef AGENTLOG_BENCH_TEMP_DIR_H_
#define AGENTLOG_BENCH_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace agentlog::bench {

// A fresh directory under $TMPDIR (default /tmp), removed with everything
// in it on destruction. Benchmarks measure the disk it is on: on tmpfs,
// fsync and page-cache write-back cost nothing.
class TempDir {
 public:
  TempDir() {
    std::error_code ec;
    std::string pattern =
        (std::filesystem::temp_directory_path(ec) / "agentlog-bench-XXXXXX")
            .string();
    if (ec) pattern = "/tmp/agentlog-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Empty when the directory could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace agentlog::bench

#endif  // AGENTLOG_BENCH_TEMP_DIR_H_
