#ifndef AGENTLOG_TESTS_CHILD_PROCESS_H_
#define AGENTLOG_TESTS_CHILD_PROCESS_H_

// The plumbing of kill -9 tests: the child is the running test binary
// executed again (fork + exec, not a bare fork: the parent has run RocksDB,
// and a forked child would inherit thread pools without their threads),
// told by an environment variable to play the child, and it acknowledges
// what it did in lines on a pipe.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace agentlog::testing {

// Starts this test again in a child process, with `env_name`=`config` in its
// environment and `fd` (the write end of the ack pipe) kept open across
// exec; its stdout goes to /dev/null. Everything is built before fork():
// between fork and exec the child only makes async-signal-safe calls.
// Returns the child's pid, or -1.
inline pid_t SpawnSelf(const char* env_name, const std::string& config,
                       int fd) {
  char exe[PATH_MAX];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return -1;
  exe[len] = '\0';
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  std::vector<std::string> args = {
      exe,
      std::string("--gtest_filter=") + info->test_suite_name() + "." +
          info->name(),
      "--gtest_color=no"};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    // GTEST_* could redirect output or shard the child's test away.
    if (var.starts_with("GTEST_") || var.starts_with(env_name)) continue;
    env.emplace_back(var);
  }
  env.push_back(std::string(env_name) + "=" + config);
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0) return -1;

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(devnull, STDOUT_FILENO);  // gtest's chatter in the child.
    ::fcntl(fd, F_SETFD, 0);         // Keep the ack pipe across exec.
    ::execve(exe, argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(devnull);
  return pid;
}

// Sends one line. A single write() of at most PIPE_BUF bytes is atomic, so
// lines of different threads never interleave.
inline void Send(int fd, const std::string& line) {
  if (line.size() > PIPE_BUF || ::write(fd, line.data(), line.size()) !=
                                    static_cast<ssize_t>(line.size())) {
    ::_exit(3);
  }
}

// Reports an error ("E <what>") and ends the child.
[[noreturn]] inline void Die(int fd, const std::string& what) {
  std::string line = "E " + what;
  std::replace(line.begin(), line.end(), '\n', ' ');
  Send(fd, line.substr(0, PIPE_BUF - 1) + "\n");
  ::_exit(1);
}

// Splits what arrives on a pipe into lines.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without its newline, or nullopt at end of file.
  std::optional<std::string> Next() {
    for (;;) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;  // A torn last line cannot happen.
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

// What the parent does after one line of the child's.
enum class LineVerdict { kGoOn, kKill };

// How a child ended.
struct ChildEnd {
  // Its "E" lines, and the lines the parent refused.
  std::vector<std::string> errors;
  bool killed = false;  // By the parent, with SIGKILL.
  int status = 0;       // As waitpid(2) gives it.
};

// Reads the lines the child `pid` writes to `fd` until the pipe closes,
// hands every other non-empty line to `on_line(line, errors)`, which may
// add to `errors`, and SIGKILLs the child (once) when it returns kKill or
// the child reports an error. After the kill the child's earlier lines are
// still read: what it acknowledged before it died counts. Closes `fd` and
// reaps the child.
template <typename OnLine>
ChildEnd RunChildToItsEnd(pid_t pid, int fd, OnLine on_line) {
  ChildEnd end;
  LineReader reader(fd);
  while (std::optional<std::string> line = reader.Next()) {
    if (line->empty()) continue;
    LineVerdict verdict = LineVerdict::kKill;
    if ((*line)[0] == 'E') {
      end.errors.push_back(line->substr(std::min<size_t>(2, line->size())));
    } else {
      verdict = on_line(*line, end.errors);
    }
    if (verdict == LineVerdict::kKill && !end.killed) {
      ::kill(pid, SIGKILL);
      end.killed = true;
    }
  }
  ::close(fd);
  if (::waitpid(pid, &end.status, 0) != pid) {
    end.errors.push_back("waitpid failed");
  }
  return end;
}

}  // namespace agentlog::testing

#endif  // AGENTLOG_TESTS_CHILD_PROCESS_H_
