// matrix/run.cpp - train the runs of a matrix as child processes; continue one.
//
// Each run is `knlp run` in a child process, so a run that crashes or runs out
// of memory fails alone, and PARALLEL runs train side by side with the CPU
// threads split between them. The runner writes nothing a run owns except,
// when a child died without saying why, its status. Children die with the
// runner (PR_SET_PDEATHSIG) and hold its lock until they are gone, so a
// `make continue` after a kill never meets a run still being written.
#include <ATen/Parallel.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <numeric>

#include "matrix/matrix.h"
#include "train/train.h"  // RunStatus, read_status, write_status, has_checkpoint
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"

namespace knlp {

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t stop_signal = 0;
void on_stop(int sig) { stop_signal = sig; }

// An exclusive flock on dir/lock, waited for up to wait_s seconds. Children inherit
// the descriptor, so the lock lasts until the runner and every run it started exit.
class MatrixLock {
 public:
  MatrixLock(const std::filesystem::path& dir, int wait_s) {
    const auto path = dir / "lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    KNLP_CHECK(fd_ >= 0, path.string(), "cannot open: {}", std::strerror(errno));
    for (int tries = 0; ::flock(fd_, LOCK_EX | LOCK_NB) != 0; ++tries) {
      if (tries >= wait_s * 10) {
        char pid[32] = {};
        ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
        ::close(fd_);
        KNLP_CHECK(false, dir.string(),
                   "another knlp (pid {}) is running this matrix; wait for it, or stop it first",
                   n > 0 ? std::string(pid, static_cast<size_t>(n)) : "?");
      }
      ::usleep(100000);
    }
    const auto pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0)
      spdlog::warn("cannot write the pid into {}", path.string());
  }
  ~MatrixLock() { ::close(fd_); }
  MatrixLock(const MatrixLock&) = delete;
  MatrixLock& operator=(const MatrixLock&) = delete;

 private:
  int fd_ = -1;
};

// Starts argv[0] with argv; stdin and (unless show_output) stdout on /dev/null,
// stderr appended to err. The child gets SIGKILL when the runner dies.
pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& err,
            bool show_output) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  KNLP_CHECK(err_fd >= 0 && null_fd >= 0, err.string(), "cannot open: {}", std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, STDIN_FILENO);
    if (!show_output) ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(err_fd);
  ::close(null_fd);
  KNLP_CHECK(pid > 0, args[0], "cannot start a run: {}", std::strerror(fork_errno));
  return pid;
}

// Removes what a killed run leaves half-written: checkpoint folders without their
// DONE marker and the temp files of atomic writes (name.tmp.<pid>).
void tidy_run_dir(const std::filesystem::path& dir) {
  const auto ckpts = dir / "checkpoints";
  if (std::filesystem::is_directory(ckpts))
    for (const auto& e : std::filesystem::directory_iterator(ckpts))
      if (e.is_directory() && !std::filesystem::exists(e.path() / "DONE"))
        std::filesystem::remove_all(e.path());
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      std::filesystem::remove(e.path());
}

std::string last_line(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return "";
  std::string text = read_file(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
}

// How a child that exited without status "done" ended, in its own words when it
// wrote some; otherwise the runner records why as the run's status.
RunStatus failure_status(const std::filesystem::path& dir, int wait_status) {
  const RunStatus status = read_status(dir);
  if (status.state == RunStatus::State::kFailed || status.state == RunStatus::State::kInterrupted)
    return status;
  std::string why = WIFSIGNALED(wait_status)
                        ? fmt::format("killed by signal {} ({})", WTERMSIG(wait_status),
                                      ::strsignal(WTERMSIG(wait_status)))
                        : fmt::format("exit {}", WEXITSTATUS(wait_status));
  auto err = last_line(dir / "stderr.txt");
  if (err.rfind("knlp: error: ", 0) == 0) err = err.substr(13);
  if (!err.empty()) why += ": " + err;
  const RunStatus failed = RunStatus::failed(why);
  write_status(dir, failed);
  return failed;
}

struct Child {
  pid_t pid;
  size_t index;  // into plan.runs
  Clock::time_point start;
};

class Runner {
 public:
  Runner(const std::filesystem::path& dir, const Plan& plan, const MatrixOptions& options)
      : dir_(dir),
        plan_(plan),
        options_(options),
        parallel_(options.parallel > 0 ? options.parallel : plan.parallel) {}

  MatrixOutcome run() {
    std::vector<size_t> todo;
    int64_t done = 0, resume = 0;
    for (size_t i = 0; i < plan_.runs.size(); ++i) {
      const auto state = classify_run(dir_ / plan_.runs[i].name);
      if (state == RunState::kDone)
        ++done;
      else
        todo.push_back(i), resume += state == RunState::kResume;
    }
    spdlog::info("matrix {}: {} runs, {} done, {} to resume, {} to start; {} at a time",
                 dir_.string(), plan_.runs.size(), done, resume,
                 static_cast<int64_t>(todo.size()) - resume, parallel_);
    size_t next = 0;
    bool forwarded = false;
    while (true) {
      while (!stop_signal && static_cast<int64_t>(children_.size()) < parallel_ &&
             next < todo.size())
        start(todo[next++]);
      if (children_.empty()) break;
      if (stop_signal && !forwarded) {  // Ctrl-C reaches the children too; kill(1) does not
        for (const auto& c : children_) ::kill(c.pid, SIGTERM);
        forwarded = true;
      }
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid < 0) {
        KNLP_CHECK(errno == EINTR, "matrix", "waitpid: {}", std::strerror(errno));
        continue;
      }
      for (size_t k = 0; k < children_.size(); ++k)
        if (children_[k].pid == pid) {
          finish(children_[k], status, todo.size() - next + children_.size() - 1);
          children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(k));
          break;
        }
    }
    return outcome();
  }

 private:
  void start(size_t index) {
    const auto& r = plan_.runs[index];
    const auto rd = dir_ / r.name;
    const auto tag = fmt::format("[{}/{}] {}", index + 1, plan_.runs.size(), r.name);
    std::vector<std::string> args{options_.knlp.string(), "run"};
    if (classify_run(rd) == RunState::kResume) {
      tidy_run_dir(rd);
      args.insert(args.end(), {"--resume", rd.string()});
      spdlog::info("  RESUME  {}", tag);
    } else {
      std::filesystem::remove_all(rd);
      std::filesystem::create_directories(rd);
      const Config cfg =
          split_threads(Config::parse(r.config, r.name), parallel_, at::get_num_threads());
      write_file_atomic(rd / "config", cfg.text());
      args.insert(args.end(), {"--config", (rd / "config").string(), "--run-dir", rd.string()});
      spdlog::info("  RUN     {}", tag);
    }
    args.insert(args.end(), {"--quiet", "--no-plot"});
    children_.push_back({spawn(args, rd / "stderr.txt", parallel_ == 1), index, Clock::now()});
  }

  void finish(const Child& c, int wait_status, size_t remaining) {
    const auto& r = plan_.runs[c.index];
    const auto rd = dir_ / r.name;
    const double seconds = std::chrono::duration<double>(Clock::now() - c.start).count();
    const auto tag = fmt::format("[{}/{}] {}", c.index + 1, plan_.runs.size(), r.name);
    if (read_status(rd).state == RunStatus::State::kDone) {
      durations_.push_back(seconds);
      const double mean =
          std::accumulate(durations_.begin(), durations_.end(), 0.0) / durations_.size();
      spdlog::info("  DONE    {} in {}{}", tag, format_duration(seconds),
                   remaining ? fmt::format("; about {} left for {} more",
                                           format_duration(mean * remaining / parallel_), remaining)
                             : "");
      return;
    }
    const RunStatus status = failure_status(rd, wait_status);
    if (status.state == RunStatus::State::kInterrupted)
      spdlog::warn("  STOPPED {}: {}", tag, status.describe());
    else
      spdlog::error("  FAILED  {}: {}", tag, status.describe());
  }

  MatrixOutcome outcome() const {
    MatrixOutcome o;
    o.interrupted = stop_signal != 0;
    for (const auto& r : plan_.runs) {
      const auto state = read_status(dir_ / r.name).state;
      if (state == RunStatus::State::kDone)
        ++o.done;
      else if (state == RunStatus::State::kFailed)
        ++o.failed;
      else
        ++o.left;
    }
    return o;
  }

  std::filesystem::path dir_;
  const Plan& plan_;
  MatrixOptions options_;
  int64_t parallel_;
  std::vector<Child> children_;
  std::vector<double> durations_;
};

}  // namespace

RunState classify_run(const std::filesystem::path& run_dir) {
  const auto state = read_status(run_dir).state;
  if (state == RunStatus::State::kDone) return RunState::kDone;
  if (state == RunStatus::State::kNone) return RunState::kFresh;  // killed before it said so
  return has_checkpoint(run_dir) ? RunState::kResume : RunState::kFresh;
}

MatrixOutcome run_matrix(const std::filesystem::path& dir, const MatrixOptions& options) {
  const Plan plan = load_plan(dir);
  MatrixLock lock(dir, options.lock_wait_s);
  log_to_file(dir / "matrix.log");
  stop_signal = 0;
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_stop;  // no SA_RESTART: waitpid returns EINTR on a signal
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  MatrixOutcome outcome;
  try {
    outcome = Runner(dir, plan, options).run();
  } catch (...) {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    close_log_file();
    throw;
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  close_log_file();
  return outcome;
}

}  // namespace knlp
